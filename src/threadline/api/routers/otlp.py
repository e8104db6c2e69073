"""``POST /v1/traces``: OTLP/HTTP trace ingest (OTLP specification, "OTLP/HTTP")."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import pyarrow as pa
from fastapi import APIRouter, Depends, Request, Response

from threadline.api.auth import project_id
from threadline.api.body import read_body
from threadline.api.problems import Problem
from threadline.api.read_schemas import OTLP_ERRORS, otlp_request_body
from threadline.api.state import AppState, app_state
from threadline.api.write import write_rows
from threadline.ingest.normalize import InvalidSpan, normalize
from threadline.ingest.otlp import JSON, PROTOBUF, OtlpDecodeError, decode_request, encode_response, to_raw_spans
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import SpanRow, rows_to_arrow

router = APIRouter()
MAX_MESSAGES = 5


def decode_and_normalize(body: bytes, content_type: str, project: str, prices: PriceTable
                         ) -> tuple[pa.Table, int, str]:
    """Decode an OTLP body and normalise its spans: (Arrow table of span rows, rejected span count, message naming
    the first few rejections). Raises OtlpDecodeError. CPU-bound: run it off the event loop."""
    raw_spans = to_raw_spans(decode_request(body, content_type))
    ingested_at_us = time.time_ns() // 1000
    rows: list[SpanRow] = []
    problems: list[str] = []
    for raw in raw_spans:
        try:
            rows.append(normalize(raw, project, prices, ingested_at_us))
        except InvalidSpan as exc:
            problems.append(str(exc))
    message = ""
    if problems:
        message = f"{len(problems)} span(s) rejected: " + "; ".join(problems[:MAX_MESSAGES])
        if len(problems) > MAX_MESSAGES:
            message += f"; and {len(problems) - MAX_MESSAGES} more"
    return rows_to_arrow(rows), len(problems), message


@router.post(
    "/v1/traces",
    summary="Export spans (OTLP/HTTP)",
    response_class=Response,
    responses={200: {"content": {PROTOBUF: {}, JSON: {}},
                     "description": "ExportTraceServiceResponse; partial_success lists rejected spans"},
               **OTLP_ERRORS},
    openapi_extra=otlp_request_body("ExportTraceServiceRequest"),
)
async def post_traces(request: Request, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(project_id)]) -> Response:
    """Accept an OTLP ``ExportTraceServiceRequest`` as protobuf or JSON (optionally gzip). Answers once the spans
    are committed; 400 undecodable body, 413 too large, 415 other content types, 503 overloaded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise Problem(415, f"Content-Type {content_type or '(none)'!r} is not supported; OTLP/HTTP accepts "
                           f"{PROTOBUF} or {JSON}")
    body = await read_body(request, state.settings.max_body_bytes)
    try:
        rows, rejected, message = await asyncio.to_thread(decode_and_normalize, body, content_type, project,
                                                          state.prices)
    except OtlpDecodeError as exc:
        raise Problem(400, f"could not decode the OTLP request: {exc}") from None
    await write_rows(state, rows)
    state.metrics.spans_ingested.labels("otlp").inc(len(rows))
    state.metrics.spans_rejected.labels("otlp").inc(rejected)
    return Response(encode_response(rejected, message, content_type), media_type=content_type)
