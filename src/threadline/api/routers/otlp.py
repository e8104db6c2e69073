"""``POST /v1/traces``: OTLP/HTTP trace ingest (OTLP specification, "OTLP/HTTP")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from threadline.api.auth import ingest_project
from threadline.api.body import read_body
from threadline.api.otlp_export import export_spans
from threadline.api.problems import Problem
from threadline.api.read_schemas import OTLP_ERRORS, otlp_request_body
from threadline.api.state import AppState, app_state
from threadline.api.write import WRITE_REFUSALS, write_problem
from threadline.ingest.otlp import JSON, PROTOBUF, OtlpDecodeError, encode_response

router = APIRouter()


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
                      project: Annotated[str, Depends(ingest_project)]) -> Response:
    """Accept an OTLP ``ExportTraceServiceRequest`` as protobuf or JSON (optionally gzip). Answers once the spans
    are committed; 400 undecodable body, 413 too large, 415 other content types, 503 overloaded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise Problem(415, f"Content-Type {content_type or '(none)'!r} is not supported; OTLP/HTTP accepts "
                           f"{PROTOBUF} or {JSON}")
    body = await read_body(request, state.settings.max_body_bytes)
    try:
        exported = await export_spans(state, body, content_type, project, "otlp")
    except OtlpDecodeError as exc:
        raise Problem(400, f"could not decode the OTLP request: {exc}") from None
    except WRITE_REFUSALS as exc:
        raise write_problem(exc) from None
    return Response(encode_response(exported.rejected, exported.message, content_type), media_type=content_type)
