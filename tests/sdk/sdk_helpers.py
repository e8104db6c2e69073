"""Helpers of the SDK tests: an in-memory OpenTelemetry setup wired through ``threadline_sdk.init``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import threadline_sdk as tl
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

T = TypeVar("T")


@dataclass
class Recorder:
    """A tracer provider whose ended spans are kept in memory (plus the SDK's SessionSpanProcessor)."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in self.spans()]}"
        return found[0]


@contextmanager
def recording(**init_options: Any) -> Iterator[Recorder]:
    """``threadline_sdk.init`` attached to a fresh provider that records spans in memory; undone afterwards."""
    tl.shutdown()
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tl.init(tracer_provider=provider, export=False, **init_options)
    try:
        yield Recorder(provider, exporter)
    finally:
        tl.shutdown()
        provider.shutdown()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def session_of(span: ReadableSpan) -> str | None:
    value = attrs(span).get("session.id")
    return value if isinstance(value, str) else None


def hex_trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def json_attr(span: ReadableSpan, key: str) -> Any:
    value = attrs(span)[key]
    assert isinstance(value, str)
    return json.loads(value)


def wait_for(probe: Callable[[], T | None], timeout_s: float = 30.0, interval_s: float = 0.2) -> T:
    """Call ``probe`` until it returns a truthy value; that value (AssertionError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # e.g. 404 before the spans are in
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s; last: {last!r}")
