"""``POST /v1/logs``: OTLP/HTTP log ingest (OTLP specification, "OTLP/HTTP"), stored in the ``logs`` table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from threadline.api.auth import ingest_project
from threadline.api.body import read_body
from threadline.api.otlp_export import export_logs
from threadline.api.problems import Problem
from threadline.api.read_schemas import OTLP_ERRORS, otlp_request_body
from threadline.api.state import AppState, app_state
from threadline.ingest.otlp_logs import JSON, PROTOBUF, OtlpDecodeError, encode_logs_response

router = APIRouter(tags=["ingest"])


@router.post(
    "/v1/logs",
    summary="Export log records (OTLP/HTTP)",
    response_class=Response,
    responses={200: {"content": {PROTOBUF: {}, JSON: {}},
                     "description": "ExportLogsServiceResponse in the request's encoding; partial_success counts "
                                    "and names the rejected records"},
               **OTLP_ERRORS},
    openapi_extra=otlp_request_body("ExportLogsServiceRequest"),
)
async def post_logs(request: Request, state: Annotated[AppState, Depends(app_state)],
                    project: Annotated[str, Depends(ingest_project)]) -> Response:
    """Accept an OTLP ``ExportLogsServiceRequest`` as protobuf or JSON (hex ids), optionally gzip. A record's
    session is the first session key (the span key list: ``session.id``, ``gen_ai.conversation.id``...) on its
    attributes, then on its resource; a record with none but a trace id shows in its trace's session.

    Answers once the records are committed. Invalid records (trace id not 16 bytes, span id not 8 bytes, session id
    over 256 characters, no time) are rejected one by one in ``partial_success``; the rest are stored. A replayed
    record is stored once. 400 undecodable body, 413 larger than the body limit, 415 other content types or
    encodings."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise Problem(415, f"Content-Type {content_type or '(none)'!r} is not supported; OTLP/HTTP accepts "
                           f"{PROTOBUF} or {JSON}")
    body = await read_body(request, state.settings.max_body_bytes)
    try:
        exported = await export_logs(state, body, content_type, project)
    except OtlpDecodeError as exc:
        raise Problem(400, f"could not decode the OTLP logs request: {exc}") from None
    return Response(encode_logs_response(exported.rejected, exported.message, content_type),
                    media_type=content_type)
