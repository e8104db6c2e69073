"""``init``: wire an OpenTelemetry tracer provider to a Threadline server; ``flush`` and ``shutdown``."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from threadline_sdk import _state
from threadline_sdk._serialize import Redactor
from threadline_sdk.export import ResilientSpanExporter, otlp_exporter
from threadline_sdk.processor import SessionSpanProcessor

if TYPE_CHECKING:
    from threadline_sdk.client import Client

logger = logging.getLogger("threadline_sdk")

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
ENV_ENDPOINT = "THREADLINE_ENDPOINT"
ENV_API_KEY = "THREADLINE_API_KEY"
ENV_PROJECT = "THREADLINE_PROJECT"
ENV_SERVICE_NAME = "THREADLINE_SERVICE_NAME"
PROJECT_RESOURCE_KEY = "threadline.project"


def resolve_endpoint(endpoint: str | None) -> str:
    """The server's base URL: the argument, else ``THREADLINE_ENDPOINT``, else ``http://127.0.0.1:4318``; a trailing
    ``/`` or ``/v1/traces`` is removed."""
    url = (endpoint or os.environ.get(ENV_ENDPOINT) or DEFAULT_ENDPOINT).strip().rstrip("/")
    return url.removesuffix("/v1/traces").rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """The API key: the argument, else ``THREADLINE_API_KEY``, else none (a local server in development mode)."""
    return api_key or os.environ.get(ENV_API_KEY) or None


class Threadline:
    """What :func:`init` set up: the tracer provider, the exporter and its span processors."""

    def __init__(self, *, endpoint: str, api_key: str | None, project: str | None,
                 tracer_provider: TracerProvider, owns_provider: bool,
                 exporter: ResilientSpanExporter | None, batch_processor: BatchSpanProcessor | None,
                 options: Mapping[str, Any]) -> None:
        self.endpoint = endpoint
        self.api_key = api_key
        self.project = project
        self.tracer_provider = tracer_provider
        self.owns_provider = owns_provider
        self.exporter = exporter
        self.batch_processor = batch_processor
        self.options = dict(options)
        self._closed = False

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Export every ended span now; ``True`` when all were delivered within ``timeout_s``."""
        if self._closed:
            return False
        done = threading.Event()
        result: list[bool] = [False]

        def run() -> None:
            try:
                ok = self.batch_processor.force_flush(int(timeout_s * 1000)) if self.batch_processor else True
                if self.exporter is not None:
                    ok = self.exporter.flush(timeout_s) and ok
                result[0] = bool(ok)
            except Exception:
                logger.warning("threadline: flush failed", exc_info=True)
            finally:
                done.set()

        # force_flush of the batch processor ignores its timeout: bound it from here.
        threading.Thread(target=run, name="threadline-flush", daemon=True).start()
        done.wait(timeout_s)
        return result[0]

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush, then stop this configuration's exporter; the tracer provider itself keeps running."""
        if self._closed:
            return
        self.flush(timeout_s)
        self._closed = True
        try:
            if self.batch_processor is not None:
                self.batch_processor.shutdown()  # type: ignore[no-untyped-call,unused-ignore]
        except Exception:
            logger.debug("threadline: processor shutdown failed", exc_info=True)

    def client(self) -> Client:
        """A read :class:`~threadline_sdk.Client` of the same server and API key."""
        from threadline_sdk.client import Client

        return Client(self.endpoint, self.api_key)


_lock = threading.RLock()
_active: Threadline | None = None
_session_processors: weakref.WeakKeyDictionary[TracerProvider, SessionSpanProcessor] = weakref.WeakKeyDictionary()
_atexit_registered = False


def get_active() -> Threadline | None:
    """The configuration of the last :func:`init` (``None`` before, or after :func:`shutdown`)."""
    return _active


def ensure_session_processor(provider: TracerProvider) -> SessionSpanProcessor:
    """Add a :class:`SessionSpanProcessor` to ``provider`` unless this SDK already did."""
    with _lock:
        found = _session_processors.get(provider)
        if found is None:
            found = SessionSpanProcessor()
            provider.add_span_processor(found)
            _session_processors[provider] = found
        return found


def init(endpoint: str | None = None, api_key: str | None = None, project: str | None = None,
         service_name: str | None = None, *, tracer_provider: TracerProvider | None = None,
         set_global: bool = True, export: bool = True, exporter: SpanExporter | None = None,
         headers: Mapping[str, str] | None = None, resource_attributes: Mapping[str, Any] | None = None,
         capture_input: bool = True, capture_output: bool = True, max_payload_chars: int = 32_000,
         redact: Redactor | None = None, max_buffered_spans: int = 10_000, export_timeout_s: float = 10.0,
         schedule_delay_ms: int = 500, retry_initial_s: float = 1.0, retry_max_s: float = 30.0,
         exit_flush_timeout_s: float = 5.0) -> Threadline:
    """Send this application's OpenTelemetry spans to Threadline, grouped into sessions. Idempotent.

    Args:
        endpoint: the server's base URL (``THREADLINE_ENDPOINT``, default ``http://127.0.0.1:4318``); spans go to
            ``{endpoint}/v1/traces`` as OTLP/HTTP protobuf (gzip).
        api_key: sent as ``Authorization: Bearer <key>`` (``THREADLINE_API_KEY``). The key decides the project; a
            local server without keys takes spans into project ``default``.
        project: the project these spans are meant for (``THREADLINE_PROJECT``), recorded on the resource as
            ``threadline.project`` when ``init`` creates the provider (the API key decides where they land).
        service_name: the resource's ``service.name`` (``THREADLINE_SERVICE_NAME``, else ``OTEL_SERVICE_NAME``).
        tracer_provider: attach to this SDK ``TracerProvider`` instead of creating one. When omitted and the global
            provider is already an SDK ``TracerProvider`` (an existing OpenTelemetry setup), ``init`` attaches to it;
            otherwise it creates one (and makes it global when ``set_global``).
        export: ``False`` to only add the :class:`SessionSpanProcessor` (spans already reach Threadline another way).
        exporter: a span exporter to use instead of the OTLP/HTTP one (still wrapped in the retry buffer).
        headers: more HTTP headers for the exporter.
        resource_attributes: more resource attributes (only when ``init`` creates the provider).
        capture_input, capture_output: record function arguments and return values in ``observe``.
        max_payload_chars: cap of each recorded input or output (longer text is cut, saying how much).
        redact: called with each JSON-safe input or output before it is recorded; returns what to record.
        max_buffered_spans: spans kept for retry while the server is unreachable; beyond, the oldest are dropped.
        export_timeout_s: time budget of one export request, retries on 429/503 (honouring ``Retry-After``)
            included.
        schedule_delay_ms: how long the batch processor gathers spans before sending.
        retry_initial_s, retry_max_s: backoff of the retry buffer.
        exit_flush_timeout_s: how long the exit-time flush may take.

    Returns the :class:`Threadline` configuration. Calling ``init`` again returns it unchanged (with a warning when
    the arguments differ); call :func:`shutdown` first to change it. Never raises on network problems: nothing is
    sent until spans end.
    """
    global _active
    with _lock:
        options: dict[str, Any] = {
            "endpoint": resolve_endpoint(endpoint), "api_key": resolve_api_key(api_key),
            "project": project or os.environ.get(ENV_PROJECT) or None,
            "service_name": service_name or os.environ.get(ENV_SERVICE_NAME) or None,
            "tracer_provider": tracer_provider, "export": export, "exporter": exporter,
        }
        if _active is not None:
            previous = {k: v for k, v in _active.options.items() if k in options}
            if any(v is not None and previous.get(k) != v for k, v in options.items() if k != "export"):
                logger.warning("threadline: init() was already called; keeping the first configuration (call "
                               "threadline_sdk.shutdown() first to change it)")
            return _active

        _state.capture = _state.CaptureSettings(capture_input=capture_input, capture_output=capture_output,
                                                max_payload_chars=max_payload_chars, redact=redact)
        provider, owns = _provider_for(tracer_provider, options, resource_attributes, set_global)
        ensure_session_processor(provider)
        resilient: ResilientSpanExporter | None = None
        batch: BatchSpanProcessor | None = None
        if export:
            all_headers = dict(headers or {})
            if options["api_key"]:
                all_headers["Authorization"] = f"Bearer {options['api_key']}"
            if exporter is None:
                inner, probe = otlp_exporter(options["endpoint"], headers=all_headers, timeout_s=export_timeout_s)
                resilient = ResilientSpanExporter(inner, probe=probe, max_buffered_spans=max_buffered_spans,
                                                  retry_initial_s=retry_initial_s, retry_max_s=retry_max_s,
                                                  shutdown_timeout_s=exit_flush_timeout_s)
            else:
                resilient = ResilientSpanExporter(exporter, max_buffered_spans=max_buffered_spans,
                                                  retry_initial_s=retry_initial_s, retry_max_s=retry_max_s,
                                                  shutdown_timeout_s=exit_flush_timeout_s)
            batch = BatchSpanProcessor(resilient, schedule_delay_millis=schedule_delay_ms)
            provider.add_span_processor(batch)
        _active = Threadline(endpoint=options["endpoint"], api_key=options["api_key"], project=options["project"],
                             tracer_provider=provider, owns_provider=owns, exporter=resilient, batch_processor=batch,
                             options={**options, "exit_flush_timeout_s": exit_flush_timeout_s})
        _state.set_tracer_provider(provider)
        _register_atexit()
        return _active


def _provider_for(given: TracerProvider | None, options: Mapping[str, Any],
                  resource_attributes: Mapping[str, Any] | None, set_global: bool) -> tuple[TracerProvider, bool]:
    if given is not None:
        return given, False
    current = otel_trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current, False
    attributes: dict[str, Any] = dict(resource_attributes or {})
    if options["service_name"]:
        attributes["service.name"] = options["service_name"]
    if options["project"]:
        attributes[PROJECT_RESOURCE_KEY] = options["project"]
    provider = TracerProvider(resource=Resource.create(attributes))
    if set_global:
        otel_trace.set_tracer_provider(provider)
        if otel_trace.get_tracer_provider() is not provider:  # someone else won the race
            logger.warning("threadline: a global tracer provider was already set; Threadline uses its own")
    return provider, True


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_flush_at_exit)
        _atexit_registered = True


def _flush_at_exit() -> None:
    active = _active
    if active is None:
        return
    delivered = active.flush(float(active.options.get("exit_flush_timeout_s", 5.0)))
    if not delivered and active.exporter is not None:
        active.exporter.shutdown()  # give up now rather than hold the exit up with retries


def flush(timeout_s: float = 30.0) -> bool:
    """Export every span that has ended, now (e.g. before a serverless function returns). ``True`` when all were
    delivered within ``timeout_s``; ``False`` also when :func:`init` was not called. Never raises."""
    active = _active
    return active.flush(timeout_s) if active is not None else False


def shutdown(timeout_s: float = 10.0) -> None:
    """Flush and stop what :func:`init` set up, so that :func:`init` can be called again with another configuration.
    The provider keeps its :class:`SessionSpanProcessor`; capture settings return to their defaults. Never raises."""
    global _active
    with _lock:
        active, _active = _active, None
        _state.set_tracer_provider(None)
        _state.capture = _state.CaptureSettings()
    if active is not None:
        try:
            active.shutdown(timeout_s)
        except Exception:
            logger.warning("threadline: shutdown failed", exc_info=True)
