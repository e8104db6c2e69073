"""OTLP export requests, whatever carried them: decode, normalise, commit, count.

Shared by OTLP/HTTP (``POST /v1/traces``, ``POST /v1/logs``) and OTLP/gRPC (``TraceService/Export``,
``LogsService/Export``, :mod:`threadline.grpc`), so both transports store the same rows and answer the same
``partial_success`` (OTLP specification, "Partial Success"). Each transport maps the exceptions to its own answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pyarrow as pa

from threadline.api.state import AppState
from threadline.api.write import commit_rows
from threadline.ingest.normalize import normalize_spans
from threadline.ingest.otlp import decode_request, to_raw_spans
from threadline.ingest.otlp_logs import decode_logs
from threadline.ingest.pricing import PriceTable

MAX_MESSAGES = 5


@dataclass(frozen=True)
class Exported:
    """The outcome of a committed export: items stored, items rejected as invalid, and a message naming the first
    few rejections ('' when none) — the ``partial_success`` of the response."""

    accepted: int
    rejected: int
    message: str


def decode_and_normalize(body: bytes, content_type: str, project: str, prices: PriceTable
                         ) -> tuple[pa.Table, int, str]:
    """Decode an OTLP body and normalise its spans: (Arrow table of span rows, rejected span count, message naming
    the first few rejections). ``content_type``: ``application/x-protobuf`` or ``application/json``. Raises
    OtlpDecodeError. CPU-bound: run it off the event loop."""
    raw_spans = to_raw_spans(decode_request(body, content_type))
    table, problems = normalize_spans(raw_spans, project, prices, time.time_ns() // 1000)
    message = ""
    if problems:
        message = f"{len(problems)} span(s) rejected: " + "; ".join(problems[:MAX_MESSAGES])
        if len(problems) > MAX_MESSAGES:
            message += f"; and {len(problems) - MAX_MESSAGES} more"
    return table, len(problems), message


async def export_spans(state: AppState, body: bytes, content_type: str, project: str, endpoint: str) -> Exported:
    """Decode (off the event loop), normalise and commit the spans of an ``ExportTraceServiceRequest`` body for
    ``project``; returns once they are committed. ``endpoint`` labels the ingest metrics (``otlp``, ``grpc``...).
    Raises OtlpDecodeError (nothing stored), the refusals of :func:`threadline.api.write.commit_rows` and store
    errors."""
    rows, rejected, message = await asyncio.to_thread(decode_and_normalize, body, content_type, project,
                                                      state.prices)
    await commit_rows(state, rows)
    state.metrics.spans_ingested.labels(endpoint).inc(len(rows))
    state.metrics.spans_rejected.labels(endpoint).inc(rejected)
    return Exported(len(rows), rejected, message)


async def export_logs(state: AppState, body: bytes, content_type: str, project: str) -> Exported:
    """Decode (off the event loop) the records of an ``ExportLogsServiceRequest`` body and insert them into the
    ``logs`` table of ``project``; returns once they are stored. Raises OtlpDecodeError (nothing stored) and store
    errors."""
    batch = await asyncio.to_thread(decode_logs, body, content_type, project, time.time_ns() // 1000)
    if batch.table.num_rows:
        await asyncio.to_thread(state.store.insert, "logs", batch.table, tag="logs.insert")
    return Exported(batch.table.num_rows, batch.rejected, batch.message)
