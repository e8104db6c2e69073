"""``POST /v1/ingest``: native JSON batches of traces."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from threadline.api.body import read_body
from threadline.api.problems import Problem
from threadline.api.state import AppState, app_state, project_id
from threadline.api.write import write_rows
from threadline.ingest.native import IngestResponse, NativeBatch, to_raw_spans
from threadline.ingest.normalize import InvalidSpan, normalize

router = APIRouter()


@router.post("/v1/ingest", summary="Ingest traces (native JSON)", response_model=IngestResponse,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "schema": {"type": "array", "items": {"$ref": "#/components/schemas/NativeTrace"}}}}}})
async def post_ingest(request: Request, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(project_id)]) -> IngestResponse:
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
        batch = NativeBatch.model_validate(document).root
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    raw_spans, ids = to_raw_spans(batch)
    ingested_at_us = time.time_ns() // 1000
    try:
        rows = [normalize(raw, project, state.prices, ingested_at_us) for raw in raw_spans]
    except InvalidSpan as exc:
        raise Problem(422, f"the batch was not stored: {exc}") from None
    await write_rows(state, rows)
    return IngestResponse(traces=ids, accepted_spans=len(rows))
