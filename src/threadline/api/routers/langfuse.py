"""Langfuse SDK compatibility: the endpoints a Langfuse client (``langfuse`` 3+, OpenTelemetry based) calls, so that
``LANGFUSE_HOST=<threadline> LANGFUSE_PUBLIC_KEY=<project> LANGFUSE_SECRET_KEY=<api key>`` is the whole migration.

* ``POST /api/public/otel/v1/traces`` (and ``/logs``): the SDK's span exporter (``langfuse/_client/span_processor.py``
  posts OTLP/HTTP protobuf there with ``Authorization: Basic base64(public key:secret key)``). The very handlers of
  ``/v1/traces`` and ``/v1/logs``, mounted on a second path; :mod:`threadline.api.auth` reads Basic credentials.
* ``GET /api/public/projects``: what ``Langfuse.auth_check()`` and ``get_trace_url()`` ask (the project of the
  credentials, in Langfuse's response shape).
* ``GET /project/{project}/traces/{trace_id}``, the links ``get_trace_url()`` makes: a redirect to the dashboard's
  trace page.

The rest of Langfuse's public API (prompts, datasets, scores through ``/api/public/ingestion``, media uploads) is not
offered: those calls get the API's 404 problem document, which the SDK reports as an error of that call only.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from threadline.api.auth import any_scope_project
from threadline.api.read_schemas import OTLP_ERRORS, otlp_request_body, problem_responses
from threadline.api.routers import logs, otlp
from threadline.api.state import AppState, app_state
from threadline.ingest.otlp import JSON, PROTOBUF

router = APIRouter(tags=["langfuse"])
OTEL_PREFIX = "/api/public/otel"  # the Langfuse SDK appends /v1/traces (LANGFUSE_OTEL_TRACES_EXPORT_PATH aside)

router.add_api_route(
    f"{OTEL_PREFIX}/v1/traces", otlp.post_traces, methods=["POST"],
    summary="Export spans (OTLP/HTTP) at the Langfuse SDK's path",
    description="The handler of `POST /v1/traces` on the path the Langfuse SDK exports to. Authenticate with HTTP "
                "Basic (`project id : API key`, i.e. LANGFUSE_PUBLIC_KEY=<project>, LANGFUSE_SECRET_KEY=<key>) or "
                "Bearer.",
    response_class=Response,
    responses={200: {"content": {PROTOBUF: {}, JSON: {}},
                     "description": "ExportTraceServiceResponse; partial_success lists rejected spans"},
               **OTLP_ERRORS},
    openapi_extra=otlp_request_body("ExportTraceServiceRequest"),
)
router.add_api_route(
    f"{OTEL_PREFIX}/v1/logs", logs.post_logs, methods=["POST"],
    summary="Export log records (OTLP/HTTP) at the Langfuse OTLP path",
    description="The handler of `POST /v1/logs` under the Langfuse OTLP prefix.",
    response_class=Response,
    responses={200: {"content": {PROTOBUF: {}, JSON: {}},
                     "description": "ExportLogsServiceResponse; partial_success counts the rejected records"},
               **OTLP_ERRORS},
    openapi_extra=otlp_request_body("ExportLogsServiceRequest"),
)


class LangfuseOrganization(BaseModel):
    """Langfuse's organization of a project; Threadline has one, ``threadline``."""

    id: str
    name: str


class LangfuseProject(BaseModel):
    """A project in Langfuse's shape (``langfuse.api.Project``)."""

    id: str
    name: str
    organization: LangfuseOrganization
    metadata: dict[str, Any] = Field(default_factory=dict)


class LangfuseProjects(BaseModel):
    """``GET /api/public/projects``: the project of the credentials."""

    data: list[LangfuseProject]


@router.get("/api/public/projects", response_model=LangfuseProjects,
            summary="The project of the credentials (Langfuse SDK auth_check)",
            responses=problem_responses(401, 429, 503))
async def langfuse_projects(project: Annotated[str, Depends(any_scope_project)],
                            state: Annotated[AppState, Depends(app_state)]) -> LangfuseProjects:
    """The one project the credentials act on, as Langfuse's API lists it; ``Langfuse.auth_check()`` is true."""
    found = await asyncio.to_thread(state.projects.get_project, project)
    return LangfuseProjects(data=[LangfuseProject(
        id=project, name=found.name if found else project,
        organization=LangfuseOrganization(id="threadline", name="Threadline"))])


@router.get("/project/{project}/traces/{trace_id}", include_in_schema=False)
async def trace_link(project: str, trace_id: str) -> RedirectResponse:
    """The trace links ``Langfuse.get_trace_url()`` makes: the dashboard page of the trace."""
    return RedirectResponse(f"/traces/{quote(trace_id, safe='')}", status_code=307)
