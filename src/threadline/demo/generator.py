"""Seeded demo data sent through the real OTLP/HTTP path with the OpenTelemetry SDK.

Three apps (one ``TracerProvider`` each, so each has its own ``service.name``) produce a mix of sessions:
``support-bot`` (multi-turn customer support chats), ``rag-qa`` (knowledge-base Q&A) and ``research-agent``
(tool-using agent runs). Each turn is one trace. Session ids sit where real exporters put them: ``session.id`` on
every span (OpenInference context), ``session.id`` on the root span only, or ``gen_ai.conversation.id`` on a single
LLM span (OTel GenAI conventions). Same seed → same sessions, ids and texts; only timestamps follow ``now_ns``.

Each session is first built in memory (``threadline.demo.sessions``) as span trees with times relative to the
session start, then replayed through the SDK with absolute ``start_time``/``end_time``, so nothing sleeps.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Status, StatusCode
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threadline.demo.sessions import APPS, SpanSpec, build_session, plan_sessions

QUEUE_SIZE, BATCH_SIZE = 2048, 512  # BatchSpanProcessor: spans queued / spans per OTLP request


@dataclass(frozen=True)
class DemoSummary:
    """What was generated and delivered: counts of sessions, traces (one per turn) and spans."""

    sessions: int
    traces: int
    spans: int


class DemoExportError(RuntimeError):
    """The endpoint could not be reached, or rejected or did not answer a batch; generation stopped early."""

    def __init__(self, message: str, exported_spans: int = 0, failed_spans: int = 0) -> None:
        super().__init__(message)
        self.exported_spans = exported_spans
        self.failed_spans = failed_spans


def _check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at ``url`` (the exporter would retry a refused connection for 30 s)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s).close()
    except OSError as exc:
        message = f"cannot connect to {parts.scheme}://{parts.netloc} ({exc}); is the server running?"
        raise DemoExportError(message) from exc


class _SeededIdGenerator(IdGenerator):
    """Trace and span ids drawn from a seeded RNG, so a seed always yields the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


class _CountingExporter(SpanExporter):
    """Wraps the OTLP exporter to count accepted and failed spans; once aborted it fails batches without sending."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.exported = self.failed = 0
        self.aborted = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.FAILURE if self.aborted else self._inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _emit(tracer: trace.Tracer, span: SpanSpec, base: int, parent: Context) -> int:
    """Replay ``span`` and its subtree through the SDK at absolute time ``base`` + relative ns; returns span count."""
    otel = tracer.start_span(span.name, context=parent, kind=span.kind, attributes=span.attrs,
                             start_time=base + span.start)
    context = trace.set_span_in_context(otel, Context())
    count = 1 + sum(_emit(tracer, child, base, context) for child in span.children)
    if span.error is not None:
        otel.record_exception(span.error, timestamp=base + span.end)
        otel.set_status(Status(StatusCode.ERROR, f"{type(span.error).__name__}: {span.error}"))
    otel.end(end_time=base + span.end)
    return count


def generate_and_send(endpoint: str, sessions: int = 500, seed: int = 7, headers: dict[str, str] | None = None,
                      progress: bool = True, now_ns: int | None = None) -> DemoSummary:
    """Generate seeded, realistic sessions and send them through the real OTLP/HTTP path to ``endpoint``.

    ``endpoint`` is a base URL like ``http://127.0.0.1:4318``; spans are POSTed as OTLP protobuf to
    ``{endpoint}/v1/traces`` with ``headers`` (e.g. ``{"Authorization": "Bearer <key>"}``). ``sessions`` sessions of
    1-30 turns each (one trace per turn) are spread over the 30 days before ``now_ns`` (ns since the epoch, default
    now); ``seed`` fixes every id and text. ``progress`` shows a progress bar over sessions on the terminal.
    Returns the counts created and accepted. Raises :class:`DemoExportError` at once when nothing accepts TCP
    connections at the endpoint, and (after stopping early) when it rejects a batch or keeps failing through the
    exporter's retries (which honour ``Retry-After``, up to 30 s per batch).
    """
    if sessions < 0:
        raise ValueError("sessions must be >= 0")
    now = time.time_ns() if now_ns is None else now_ns
    rng = random.Random(seed)
    id_generator = _SeededIdGenerator(random.Random(seed * 7919 + 1))
    url = f"{endpoint.rstrip('/')}/v1/traces"
    _check_reachable(url)
    plans = plan_sessions(rng, sessions)
    pipes: dict[str, tuple[TracerProvider, _CountingExporter, trace.Tracer]] = {}
    for app in APPS:
        resource = Resource.create({"service.name": app.service, "service.version": "2.14.0",
                                    "deployment.environment.name": "demo"})
        provider = TracerProvider(resource=resource, id_generator=id_generator, sampler=ALWAYS_ON)
        exporter = _CountingExporter(OTLPSpanExporter(endpoint=url, headers=headers, timeout=30))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=QUEUE_SIZE,
                                                       max_export_batch_size=BATCH_SIZE))
        pipes[app.key] = (provider, exporter, provider.get_tracer("threadline.demo", "0.1.0"))
    since_flush = dict.fromkeys(pipes, 0)
    n_traces = n_spans = n_sessions = 0
    completed = False
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[spans]} spans"), TimeElapsedColumn())
    try:
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("Sending demo sessions", total=sessions, spans=0)
            for plan in plans:
                if any(exporter.failed for _, exporter, _ in pipes.values()):
                    break
                provider, _, tracer = pipes[plan.app.key]
                turns = build_session(rng, plan)
                base = now - plan.end_offset - turns[-1].end
                emitted = sum(_emit(tracer, root, base, Context()) for root in turns)
                n_sessions, n_traces, n_spans = n_sessions + 1, n_traces + len(turns), n_spans + emitted
                since_flush[plan.app.key] += emitted
                if since_flush[plan.app.key] >= QUEUE_SIZE // 2:  # flush before the queue could fill and drop spans
                    since_flush[plan.app.key] = 0
                    provider.force_flush()
                bar.update(task, advance=1, spans=n_spans)
        completed = True
    finally:  # deliver what is queued, unless a batch already failed or we are unwinding from an exception
        abort = not completed or any(exporter.failed for _, exporter, _ in pipes.values())
        for provider, exporter, _ in pipes.values():
            exporter.aborted = abort
            provider.force_flush()
            provider.shutdown()
    exported = sum(exporter.exported for _, exporter, _ in pipes.values())
    failed = sum(exporter.failed for _, exporter, _ in pipes.values())
    if failed:
        raise DemoExportError(f"exporting demo spans to {url} failed: {failed} spans not accepted ({exported} "
                              "accepted); is the server healthy and the API key valid?", exported, failed)
    return DemoSummary(sessions=n_sessions, traces=n_traces, spans=n_spans)
