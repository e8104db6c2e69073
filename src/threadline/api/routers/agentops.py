"""AgentOps SDK compatibility: the API an AgentOps client (``agentops`` 0.4.x) calls besides its OTLP export, so that
``agentops.init(endpoint=<threadline>, exporter_endpoint=<threadline>/v1/traces)`` with a Threadline API key works.

What the SDK calls (read from its source, ``agentops/client``):

* ``POST /v3/auth/token`` ``{"api_key": ...}`` at init -> ``{"token", "project_id", "project_prem_status"}``; the SDK
  then sends ``Authorization: Bearer <token>`` with its OTLP exports (to ``exporter_endpoint``, i.e. ``/v1/traces``)
  and its log uploads. The token is a Threadline access token (:func:`threadline.auth.tokens.sign_access_token`):
  signed with the server secret, acting as the key's project, ending with the key (revocation) or after
  :data:`ACCESS_TOKEN_TTL_S`. A refused key is a 401 problem document that also carries the message as ``error``,
  the member the SDK logs.
* ``POST /v4/logs/upload/`` when a trace's root span ends: the process's printed lines, stored as log records of the
  trace (:mod:`threadline.ingest.agentops_logs`).
* ``POST /v4/objects/upload/`` (only the OpenAI Agents instrumentation, for the audio of speech/transcription spans):
  refused with 404, as Threadline stores no objects; the spans themselves are stored.
* The session links it prints, ``<app_url>/sessions?trace_id=<trace id>``: with ``app_url`` set to Threadline they
  redirect to the dashboard page of that session (an AgentOps trace is the session of the same id).

Not redirectable in the SDK, hence not received: its OpenTelemetry metrics, which it always sends to
``https://otlp.agentops.ai/v1/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from threadline.api.auth import check_throttle, client_address, ingest_project, record_failure
from threadline.api.body import read_body
from threadline.api.problems import Problem, problem_response
from threadline.api.read_schemas import UNPARSABLE_BODY, problem_responses
from threadline.api.state import AppState, app_state
from threadline.auth.authenticator import AuthError
from threadline.ingest.agentops_logs import InvalidUpload, log_upload_batch, trace_id_hex

router = APIRouter(tags=["agentops"])
# AgentOps SDKs fetch a token once, at init, and never refresh it: a long-running agent keeps using it, so it lives
# long; revoking the key ends it at once.
ACCESS_TOKEN_TTL_S = 30 * 24 * 3600
# Threadline has no plans or quotas; any other value makes the SDK print an upgrade notice at every init.
PREMIUM_STATUS = "pro"
# A 128-bit trace id: decimal without leading zeros (up to 39 digits; above 2**128 - 1 is a 400), or 32 hex digits.
TRACE_ID_HEADER = r"^\s*([1-9][0-9]{0,38}|[0-9a-fA-F]{32})\s*$"


class TokenRequest(BaseModel):
    """``POST /v3/auth/token``: the API key to exchange (a Threadline key, ``tl_...``)."""

    api_key: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    """An access token acting as the key's project (send it as ``Authorization: Bearer``), that project, and the
    plan status field AgentOps SDKs read."""

    token: str
    project_id: str
    project_prem_status: str = PREMIUM_STATUS


class LogUploadResponse(BaseModel):
    """How many log records of the upload were stored."""

    status: str = "success"
    records: int


@router.post("/v3/auth/token", response_model=TokenResponse,
             summary="Exchange an API key for an access token (AgentOps SDK init)",
             responses=problem_responses(422, 429, 503, described={
                 400: UNPARSABLE_BODY, 401: "the API key is malformed, unknown, revoked or expired"}))
async def auth_token(body: TokenRequest, request: Request,
                     state: Annotated[AppState, Depends(app_state)]) -> TokenResponse | JSONResponse:
    """Verify ``api_key`` and answer an access token for its project, with its scope, valid 30 days or until the key
    is revoked or expires, whichever comes first.
    In local development mode (loopback bind, no key created) any key gets a token for ``default``."""
    address = client_address(request)
    check_throttle(state, address)
    try:
        token, found = await asyncio.to_thread(state.auth.issue_access_token, body.api_key, ACCESS_TOKEN_TTL_S)
    except AuthError as exc:
        record_failure(state, address, exc)
        return problem_response(401, str(exc), instance=request.url.path, extensions={"error": str(exc)},
                                headers={"WWW-Authenticate": 'Bearer realm="threadline"'})
    return TokenResponse(token=token, project_id=found.project_id)


def _upload_text(body: bytes) -> str:
    """The log text of an upload body: ``{"body": "<text>"}`` (agentops 0.4.19+) or a JSON string (0.4.18 and
    earlier). Raises Problem 400."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict):
        decoded = decoded.get("body")
    if not isinstance(decoded, str):
        raise Problem(400, 'the log upload must be JSON: {"body": "<log text>"} or a JSON string of the log text')
    return decoded


@router.post("/v4/logs/upload/", response_model=LogUploadResponse,
             summary="Store a trace's printed log lines (AgentOps SDK log upload)",
             responses=problem_responses(401, 413, 415, 422, 429, 503, described={
                 400: "the body is not the SDK's JSON, or the Trace-Id header is not a trace id"}),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "description": "the log text: wrapped (agentops 0.4.19+) or a JSON string (0.4.18 and earlier)",
                 "anyOf": [{"type": "object", "required": ["body"], "properties": {"body": {"type": "string"}}},
                           {"type": "string"}]}}}}})
async def upload_logs(request: Request, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(ingest_project)],
                      trace_id: Annotated[str, Header(alias="Trace-Id", pattern=TRACE_ID_HEADER,
                                                      description="the trace id, decimal (as the SDK sends it) "
                                                                  "or 32 hex digits")]) -> LogUploadResponse:
    """Store each line of the uploaded text as a log record of the trace (shown in its session's log); answers once
    they are stored."""
    try:
        trace_hex = trace_id_hex(trace_id)
    except InvalidUpload as exc:
        raise Problem(400, str(exc)) from None
    text = _upload_text(await read_body(request, state.settings.max_body_bytes))
    batch = await asyncio.to_thread(log_upload_batch, text, trace_hex, project, time.time_ns())
    if batch.table.num_rows:
        await asyncio.to_thread(state.store.insert, "logs", batch.table, tag="logs.agentops_upload")
    return LogUploadResponse(records=batch.table.num_rows)


@router.post("/v4/objects/upload/", include_in_schema=False)
async def upload_object(project: Annotated[str, Depends(ingest_project)]) -> None:
    """Refused: Threadline stores no uploaded objects."""
    raise Problem(404, "Threadline does not store AgentOps uploaded objects (the audio of OpenAI Agents speech and "
                       "transcription spans); those spans are stored without it")


@router.get("/sessions", include_in_schema=False)
async def session_link(trace_id: str = "") -> RedirectResponse:
    """The session links the AgentOps SDK prints (``<app_url>/sessions?trace_id=...``): the dashboard page of that
    session, or the sessions list without a trace id."""
    return RedirectResponse(f"/sessions/{quote(trace_id, safe='')}" if trace_id else "/", status_code=307)
