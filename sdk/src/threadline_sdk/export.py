"""Export that never breaks the application: the OTLP/HTTP exporter wrapped in a bounded retry buffer."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger("threadline_sdk")

# 4xx answers that will not change on a retry (the OTLP exporter retries 429, 502, 503, 504 itself).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class ResponseProbe:
    """The last HTTP answer the wrapped OTLP exporter got (filled by a ``requests`` response hook)."""

    status: int | None = None
    retry_after_s: float | None = None
    detail: str = ""

    def reset(self) -> None:
        self.status, self.retry_after_s, self.detail = None, None, ""

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            self.status = int(response.status_code)
            value = response.headers.get("retry-after")
            self.retry_after_s = float(value) if value and value.strip().replace(".", "", 1).isdigit() else None
            self.detail = "" if self.status < 400 else str(response.text)[:500]
        except Exception:
            pass
        return response


def otlp_exporter(endpoint: str, *, headers: Mapping[str, str], timeout_s: float,
                  gzip: bool = True) -> tuple[OTLPSpanExporter, ResponseProbe | None]:
    """An ``OTLPSpanExporter`` to ``{endpoint}/v1/traces`` and the probe that sees its HTTP answers (``None`` when the
    installed exporter version does not take a ``requests`` session)."""
    url = f"{endpoint.rstrip('/')}/v1/traces"
    compression = Compression.Gzip if gzip else Compression.NoCompression
    probe = ResponseProbe()
    try:
        import requests  # type: ignore[import-untyped,unused-ignore]  # a dependency of the OTLP/HTTP exporter

        session = requests.Session()
        session.hooks["response"].append(probe.hook)
        return OTLPSpanExporter(endpoint=url, headers=dict(headers), timeout=timeout_s, compression=compression,
                                session=session), probe
    except Exception:
        return OTLPSpanExporter(endpoint=url, headers=dict(headers), timeout=timeout_s,
                                compression=compression), None


class ResilientSpanExporter(SpanExporter):
    """Wraps a span exporter (normally the OTLP/HTTP one, which retries a request itself and honours
    ``Retry-After``) so that a server that stays unreachable costs the application nothing:

    * a batch that cannot be delivered goes to a bounded in-memory buffer, retried in a background thread with
      exponential backoff (``retry_initial_s`` doubling to ``retry_max_s``, and never sooner than the server's
      ``Retry-After``); while the buffer holds spans, new batches join it without touching the network;
    * when the buffer is full the oldest spans are dropped, with a warning;
    * a batch the server refuses for good (a 4xx such as 401 or 413) is dropped with an error log, not retried;
    * ``shutdown`` (at exit) waits at most ``shutdown_timeout_s``; spans still undelivered are reported lost;
    * no exception reaches the caller.
    """

    def __init__(self, exporter: SpanExporter, *, probe: ResponseProbe | None = None,
                 max_buffered_spans: int = 10_000, max_batch_size: int = 512, retry_initial_s: float = 1.0,
                 retry_max_s: float = 30.0, shutdown_timeout_s: float = 5.0) -> None:
        self.exporter = exporter
        self._probe = probe
        self.max_buffered_spans = max(1, max_buffered_spans)
        self._max_batch = max(1, max_batch_size)
        self._retry_initial = max(0.01, retry_initial_s)
        self._retry_max = max(self._retry_initial, retry_max_s)
        self._shutdown_timeout = shutdown_timeout_s
        self._buffer: deque[ReadableSpan] = deque()
        self._lock = threading.Lock()  # buffer and counters
        self._send_lock = threading.Lock()  # one request at a time (the probe reads its answer)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = False
        self._inner_closed = False
        self._backoff = self._retry_initial
        self._next_attempt = 0.0
        self._sending = 0
        self._inflight = 0  # spans taken from the buffer for a retry in progress
        self._warned_full = False
        self.delivered = 0
        """Spans delivered (directly or from the buffer)."""
        self.dropped = 0
        """Spans dropped: buffer overflow, refused by the server, or undelivered at shutdown."""
        self.retries = 0
        """Delivery attempts from the buffer."""

    @property
    def buffered(self) -> int:
        """Spans waiting in the retry buffer (including a batch being retried right now)."""
        return len(self._buffer) + self._inflight

    # SpanExporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopping.is_set():
            return SpanExportResult.FAILURE
        try:
            if self._outage:
                self._enqueue(list(spans))
                return SpanExportResult.SUCCESS
            return self._deliver(list(spans))
        except Exception:
            logger.exception("threadline: span export failed")
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        if self._stopping.is_set():
            return
        deadline = time.monotonic() + self._shutdown_timeout
        self._stopping.set()
        self._wake.set()
        if self._outage:  # stop the wrapped exporter's own retries now: the server is known to be down
            self._shutdown_inner()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._buffer:
            if not self._outage:
                final = threading.Thread(target=self._final_attempt, name="threadline-export-final", daemon=True)
                final.start()
                final.join(max(0.0, deadline - time.monotonic()))
            left = len(self._buffer)
            if left:
                with self._lock:
                    self.dropped += left
                    self._buffer.clear()
                logger.warning("threadline: %d spans could not be delivered before shutdown and are lost", left)
        self._shutdown_inner()

    def _shutdown_inner(self) -> None:
        with self._lock:
            if self._inner_closed:
                return
            self._inner_closed = True
        try:
            self.exporter.shutdown()
        except Exception:
            logger.debug("threadline: exporter shutdown failed", exc_info=True)

    # buffering

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Try to deliver the buffered spans now; ``True`` once the buffer is empty, ``False`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        if self._buffer and not self._stopping.is_set():
            with self._lock:
                self._next_attempt = 0.0
            self._ensure_thread()
            self._wake.set()
        while self._buffer or self._sending:
            if time.monotonic() >= deadline or self._stopping.is_set():
                return not self._buffer
            time.sleep(0.02)
        return True

    def _send(self, batch: list[ReadableSpan]) -> tuple[bool, int | None, float | None, str]:
        """One delivery attempt: (delivered, HTTP status, Retry-After seconds, problem detail)."""
        with self._send_lock:
            if self._probe is not None:
                self._probe.reset()
            try:
                ok = self.exporter.export(batch) is SpanExportResult.SUCCESS
            except Exception as exc:
                logger.debug("threadline: exporter raised", exc_info=True)
                return False, None, None, str(exc)
            probe = self._probe
            if probe is None:
                return ok, None, None, ""
            return ok, probe.status, probe.retry_after_s, probe.detail

    def _deliver(self, batch: list[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self._sending += 1
        try:
            ok, status, retry_after, detail = self._send(batch)
        finally:
            with self._lock:
                self._sending -= 1
        if ok:
            with self._lock:
                self.delivered += len(batch)
            return SpanExportResult.SUCCESS
        if status is not None and 400 <= status < 500 and status not in RETRYABLE_STATUSES:
            self._refused(batch, status, detail)
            return SpanExportResult.FAILURE
        if self._stopping.is_set():
            with self._lock:
                self.dropped += len(batch)
            logger.warning("threadline: %d spans could not be delivered before shutdown and are lost", len(batch))
            return SpanExportResult.FAILURE
        self._enqueue(batch, failed=True, retry_after=retry_after)
        return SpanExportResult.SUCCESS

    def _refused(self, batch: list[ReadableSpan], status: int, detail: str) -> None:
        with self._lock:
            self.dropped += len(batch)
            self._inflight = 0
        logger.error("threadline: the server refused %d spans (HTTP %s): %s", len(batch), status,
                     detail or "no detail")

    def _enqueue(self, batch: list[ReadableSpan], *, failed: bool = False, front: bool = False,
                 retry_after: float | None = None) -> None:
        dropped = 0
        with self._lock:
            if failed and not self._outage:
                self._outage = True
                self._backoff = self._retry_initial
                logger.warning("threadline: cannot reach the server; buffering spans (up to %d) and retrying",
                               self.max_buffered_spans)
            if failed:
                self._next_attempt = time.monotonic() + max(self._backoff, retry_after or 0.0)
            if front:  # a retried batch comes back
                self._buffer.extendleft(reversed(batch))
                self._inflight = 0
            else:
                self._buffer.extend(batch)
            while len(self._buffer) > self.max_buffered_spans:
                self._buffer.popleft()  # the oldest
                dropped += 1
            self.dropped += dropped
            warn = dropped and not self._warned_full
            if dropped:
                self._warned_full = True
        if warn:
            logger.warning("threadline: the server stays unreachable and the buffer of %d spans is full; dropping the "
                           "oldest spans", self.max_buffered_spans)
        self._ensure_thread()
        self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stopping.is_set():
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._retry_loop, name="threadline-export-retry", daemon=True)
                self._thread.start()

    def _retry_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                wait = max(0.0, self._next_attempt - time.monotonic()) if self._buffer else None
            if wait is None or wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            try:
                self._retry_once()
            except Exception:
                logger.exception("threadline: retry of buffered spans failed")
                with self._lock:
                    self._next_attempt = time.monotonic() + self._retry_max

    def _take(self) -> list[ReadableSpan]:
        with self._lock:
            count = min(self._max_batch, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            self._sending += 1
            self._inflight = count
            return batch

    def _retry_once(self) -> None:
        batch = self._take()
        try:
            if not batch:
                return
            self.retries += 1
            ok, status, retry_after, detail = self._send(batch)
            if ok:
                with self._lock:
                    self.delivered += len(batch)
                    self._inflight = 0
                    self._backoff = self._retry_initial
                    self._next_attempt = 0.0
                    recovered = self._outage and not self._buffer
                    if recovered:
                        self._outage = False
                        self._warned_full = False
                if recovered:
                    logger.warning("threadline: the server is reachable again; buffered spans delivered (%d dropped "
                                   "in total)", self.dropped)
            elif status is not None and 400 <= status < 500 and status not in RETRYABLE_STATUSES:
                self._refused(batch, status, detail)
            else:
                with self._lock:
                    self._backoff = min(self._backoff * 2, self._retry_max)
                self._enqueue(batch, failed=True, front=True, retry_after=retry_after)
        finally:
            with self._lock:
                self._sending -= 1
                self._inflight = 0

    def _final_attempt(self) -> None:
        while self._buffer:
            batch = self._take()
            try:
                ok, _status, _retry_after, _detail = self._send(batch)
            finally:
                with self._lock:
                    self._sending -= 1
                    self._inflight = 0
            if not ok:
                with self._lock:
                    self._buffer.extendleft(reversed(batch))
                return
            with self._lock:
                self.delivered += len(batch)
