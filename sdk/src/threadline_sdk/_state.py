"""Process-wide SDK state shared by the modules: capture settings and the tracer to use."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanContext

from threadline_sdk._serialize import Redactor

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

SCOPE_NAME = "threadline_sdk"
VERSION = "0.1.0"


@dataclass
class CaptureSettings:
    """How ``observe`` and the manual API record inputs and outputs (set by ``init``)."""

    capture_input: bool = True
    capture_output: bool = True
    max_payload_chars: int = 32_000
    redact: Redactor | None = None


capture = CaptureSettings()

_provider_lock = threading.Lock()
_provider: TracerProvider | None = None


def set_tracer_provider(provider: TracerProvider | None) -> None:
    """The provider the SDK's own spans go to (``None``: the global one)."""
    global _provider
    with _provider_lock:
        _provider = provider


def get_tracer() -> otel_trace.Tracer:
    """The tracer of the SDK's own spans: from the provider ``init`` configured, else the global provider."""
    provider = _provider
    if provider is not None:
        return provider.get_tracer(SCOPE_NAME, VERSION)
    return otel_trace.get_tracer(SCOPE_NAME, VERSION)


class LastSpans:
    """For each recent session id, the span of that session that ended last in this process (its context and end time),
    so ``SessionScope.end`` can attach the end state to the session's last trace instead of starting a new one."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._spans: OrderedDict[str, tuple[SpanContext, int]] = OrderedDict()

    def record(self, session_id: str, context: SpanContext, end_ns: int) -> None:
        with self._lock:
            known = self._spans.get(session_id)
            if known is None or end_ns >= known[1]:
                self._spans[session_id] = (context, end_ns)
            self._spans.move_to_end(session_id)
            while len(self._spans) > self._capacity:
                self._spans.popitem(last=False)

    def get(self, session_id: str) -> tuple[SpanContext, int] | None:
        with self._lock:
            return self._spans.get(session_id)


last_spans = LastSpans()
