"""The retry buffer around the exporter: outages are buffered and retried, overflow and refusals are dropped with a
log, nothing raises; ``init`` sends the API key."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import ClassVar

import pytest
import threadline_sdk as tl
from conftest import free_port
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sdk_helpers import wait_for
from threadline_sdk.export import ResilientSpanExporter, ResponseProbe


class FlakyExporter(SpanExporter):
    """Fails (as a given HTTP status, or by raising) until told to work."""

    def __init__(self, probe: ResponseProbe | None = None) -> None:
        self.up = False
        self.status: int | None = None  # what the probe reports on failure
        self.retry_after: float | None = None
        self.raise_error = False
        self.probe = probe
        self.received: list[str] = []
        self.attempts: list[float] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.attempts.append(time.monotonic())
        if self.raise_error:
            raise RuntimeError("exporter bug")
        if self.probe is not None:
            self.probe.status = 200 if self.up else self.status
            self.probe.retry_after_s = None if self.up else self.retry_after
        if not self.up:
            return SpanExportResult.FAILURE
        self.received.extend(s.name for s in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def make_spans(names: Sequence[str]) -> list[ReadableSpan]:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    spans = []
    for name in names:
        span = tracer.start_span(name)
        span.end()
        spans.append(span)
    return spans  # type: ignore[return-value]


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyExporter, ResilientSpanExporter]]:
    probe = ResponseProbe()
    inner = FlakyExporter(probe)
    outer = ResilientSpanExporter(inner, probe=probe, max_buffered_spans=5, retry_initial_s=0.05, retry_max_s=0.2)
    yield inner, outer
    outer.shutdown()


def test_outage_is_buffered_then_delivered_in_order(flaky: tuple[FlakyExporter, ResilientSpanExporter],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    inner, outer = flaky
    with caplog.at_level(logging.WARNING, logger="threadline_sdk"):
        assert outer.export(make_spans(["a", "b"])) is SpanExportResult.SUCCESS  # accepted into the buffer
        tries = len(inner.attempts)
        assert outer.export(make_spans(["c"])) is SpanExportResult.SUCCESS
        assert outer.buffered == 3
        time.sleep(0.3)
        assert len(inner.attempts) > tries  # retried in the background
        assert not outer.flush(0.2)
        inner.up = True
        assert outer.flush(5)
    assert inner.received == ["a", "b", "c"]
    assert (outer.buffered, outer.dropped, outer.delivered) == (0, 0, 3)
    assert "cannot reach the server" in caplog.text and "reachable again" in caplog.text


def test_full_buffer_drops_the_oldest_with_a_warning(flaky: tuple[FlakyExporter, ResilientSpanExporter],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    inner, outer = flaky
    with caplog.at_level(logging.WARNING, logger="threadline_sdk"):
        for i in range(8):
            outer.export(make_spans([f"s{i}"]))
    assert outer.buffered == 5 and outer.dropped == 3
    assert "buffer of 5 spans is full" in caplog.text
    inner.up = True
    assert outer.flush(5)
    assert inner.received == ["s3", "s4", "s5", "s6", "s7"]


def test_refused_batches_are_not_retried(flaky: tuple[FlakyExporter, ResilientSpanExporter],
                                         caplog: pytest.LogCaptureFixture) -> None:
    inner, outer = flaky
    inner.status = 401
    with caplog.at_level(logging.ERROR, logger="threadline_sdk"):
        assert outer.export(make_spans(["x"])) is SpanExportResult.FAILURE
    assert outer.buffered == 0 and outer.dropped == 1
    assert "refused 1 spans (HTTP 401)" in caplog.text


def test_retry_after_is_honoured(flaky: tuple[FlakyExporter, ResilientSpanExporter]) -> None:
    inner, outer = flaky
    inner.status, inner.retry_after = 503, 0.6
    start = time.monotonic()
    outer.export(make_spans(["x"]))
    wait_for(lambda: len(inner.attempts) >= 2, timeout_s=5, interval_s=0.02)
    assert inner.attempts[1] - start >= 0.55  # not at the 0.05 s backoff


def test_exporter_errors_never_raise() -> None:
    inner = FlakyExporter()
    inner.raise_error = True
    outer = ResilientSpanExporter(inner, retry_initial_s=0.05)
    assert outer.export(make_spans(["x"])) is SpanExportResult.SUCCESS  # buffered for retry
    outer.shutdown()
    assert outer.dropped == 1  # undelivered at shutdown, said in a warning
    assert outer.export(make_spans(["y"])) is SpanExportResult.FAILURE  # after shutdown


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_init_sends_otlp_with_the_bearer_key_and_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("THREADLINE_ENDPOINT", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("THREADLINE_API_KEY", "tl_test_key")
    tl.shutdown()
    provider = TracerProvider()
    try:
        active = tl.init(tracer_provider=provider, service_name="svc")
        assert active.endpoint == f"http://127.0.0.1:{port}" and active.api_key == "tl_test_key"
        with tl.session("s"), tl.span("one"):
            pass
        assert tl.flush(10)
        (headers,) = _Recorder.seen
        assert headers["authorization"] == "Bearer tl_test_key"
        assert headers["content-type"] == "application/x-protobuf"
        assert active.exporter is not None and active.exporter.delivered == 1
    finally:
        tl.shutdown()
        provider.shutdown()
        server.shutdown()
