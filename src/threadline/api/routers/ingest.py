"""``POST /v1/ingest``: native JSON batches of traces."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from threadline.api.auth import ingest_project
from threadline.api.body import read_body
from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.state import AppState, app_state
from threadline.api.write import write_rows
from threadline.ingest.native import IngestedTrace, IngestResponse, NativeBatch, to_raw_spans
from threadline.ingest.normalize import InvalidSpan, normalize_spans
from threadline.ingest.pricing import PriceTable

router = APIRouter()


@router.post("/v1/ingest", summary="Ingest traces (native JSON)", response_model=IngestResponse,
             responses=problem_responses(401, 403, 413, 415, 429, 503, described={
                 400: "the body is not valid JSON, or not a valid gzip stream",
                 422: "a trace or span is invalid (named in detail and errors); nothing was stored"}),
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": {"type": "array", "items": {"$ref": "#/components/schemas/NativeTrace"}}}}}})
async def post_ingest(request: Request, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(ingest_project)]) -> IngestResponse:
    """Validate a JSON array of traces and commit all their spans, or nothing: any invalid trace or span makes
    the whole request a 422 naming it. Answers with the (generated) ids once committed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Problem(415, f"Content-Type {content_type or '(none)'!r} is not supported; send application/json")
    body = await read_body(request, state.settings.max_body_bytes)
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not valid JSON ({exc})") from None
    try:
        table, ids = await asyncio.to_thread(validate_and_normalize, document, project, state.prices)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    except InvalidSpan as exc:
        raise Problem(422, f"the batch was not stored: {exc}") from None
    await write_rows(state, table)
    state.metrics.spans_ingested.labels("native").inc(table.num_rows)
    return IngestResponse(traces=ids, accepted_spans=table.num_rows)


def validate_and_normalize(document: Any, project: str, prices: PriceTable) -> tuple[pa.Table, list[IngestedTrace]]:
    """Validate a native batch and normalise it: (Arrow table of span rows, ids per trace). Raises
    pydantic.ValidationError or InvalidSpan; CPU-bound, so run it off the event loop."""
    raw_spans, ids = to_raw_spans(NativeBatch.model_validate(document).root)
    ingested_at_us = time.time_ns() // 1000
    table, problems = normalize_spans(raw_spans, project, prices, ingested_at_us)
    if problems:  # a native batch is stored whole or not at all
        raise InvalidSpan(problems[0])
    return table, ids
