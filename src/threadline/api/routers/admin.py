"""Admin API (``/v1/admin/...``): projects and API keys, guarded by the admin key of ``THREADLINE_ADMIN_KEY``.

This is also how the CLI changes projects and keys while an embedded server owns the data directory.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from threadline.api.auth import check_throttle, client_address, presented_key, refuse
from threadline.api.problems import Problem
from threadline.api.read_schemas import UNPARSABLE_BODY, problem_responses
from threadline.api.state import AppState, app_state
from threadline.auth.authenticator import AuthError
from threadline.auth.repository import MAX_RETENTION_DAYS, ApiKey, NotFound, Project, ProjectError
from threadline.auth.scopes import Scope


async def admin(request: Request, state: Annotated[AppState, Depends(app_state)]) -> AppState:
    """FastAPI dependency: the request carries the admin key (as a Bearer token or ``x-api-key``). Raises 403 when
    the admin API is disabled, 401 for a wrong key, 429 when throttled."""
    secret = state.settings.admin_key
    expected = secret.get_secret_value() if secret else ""
    if not expected:
        raise Problem(403, "the admin API is disabled; start the server with THREADLINE_ADMIN_KEY set")
    address = client_address(request)
    check_throttle(state, address)
    given = presented_key(request) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise refuse(state, address, AuthError("admin", "the admin key is missing or wrong"))
    return state


router = APIRouter(prefix="/v1/admin", tags=["admin"])
ERRORS = problem_responses(429, 503, described={
    401: "the admin key is missing or wrong",
    403: "the admin API is disabled: the server was started without THREADLINE_ADMIN_KEY"})
CHANGE_ERRORS = {**ERRORS, **problem_responses(described={
    400: f"an invalid project id or expiry, or {UNPARSABLE_BODY}", 404: "no such project or key",
    409: "the project already exists",
    422: "a field is invalid: e.g. a negative retention_days, or a scope other than ingest, read or all"})}
Admin = Annotated[AppState, Depends(admin)]


class ProjectOut(BaseModel):
    """A project; ``retention_days``: days of its data kept (0: forever)."""

    project_id: str
    name: str
    created_at: datetime
    retention_days: int


class ProjectIn(BaseModel):
    """A project to create: ``project_id`` is a slug (lowercase letters, digits, ``-``, ``_``)."""

    project_id: str = Field(min_length=1, max_length=63, examples=["checkout-bot"])
    name: str | None = Field(None, max_length=200)
    retention_days: int = Field(0, ge=0, le=MAX_RETENTION_DAYS, description="days of data kept (0: forever)")


class ProjectPatch(BaseModel):
    """Changes to a project; an absent or null field stays as it is."""

    name: str | None = Field(None, min_length=1, max_length=200)
    retention_days: int | None = Field(None, ge=0, le=MAX_RETENTION_DAYS,
                                       description="days of data kept (0: forever)", examples=[30])


class KeyOut(BaseModel):
    """A stored API key (never its secret)."""

    key_id: str
    project_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    scope: str = Field(description="ingest: send spans and logs only; read: read only; all: everything")
    expires_at: datetime | None = Field(description="when the key stops working (null: never)")
    state: str = Field(description="active, expired or revoked")


class KeyIn(BaseModel):
    """A key to create for a project, with a scope and optionally an expiry: ``expires_in_s`` (seconds from now) or
    ``expires_at`` (a time with its zone), not both."""

    project_id: str = Field(min_length=1, max_length=63)
    name: str | None = Field(None, max_length=200)
    scope: Scope = Field("all", description="ingest: send spans and logs only (safe in a front end); read: read "
                                            "only; all (default): everything, including session edits and scores")
    expires_in_s: int | None = Field(None, ge=1, le=100 * 365 * 86400, description="seconds until it expires")
    expires_at: AwareDatetime | None = Field(None, description="when it expires (RFC 3339 with a zone)")


class CreatedKey(KeyOut):
    """A new key: ``secret`` is shown only in this response."""

    secret: str


def _project(p: Project) -> ProjectOut:
    return ProjectOut(project_id=p.project_id, name=p.name, created_at=p.created_at, retention_days=p.retention_days)


def _key(k: ApiKey) -> KeyOut:
    return KeyOut(key_id=k.key_id, project_id=k.project_id, name=k.name, created_at=k.created_at,
                  last_used_at=k.last_used_at, revoked=k.revoked, scope=k.scope,
                  expires_at=k.expires_at, state=k.state())


def _problem(exc: ProjectError) -> Problem:
    return Problem(404 if isinstance(exc, NotFound) else 409 if "already exists" in str(exc) else 400, str(exc))


@router.get("/projects", response_model=list[ProjectOut], summary="List projects", responses=ERRORS)
async def list_projects(state: Admin) -> list[ProjectOut]:
    """Every live project."""
    return [_project(p) for p in await asyncio.to_thread(state.projects.list_projects)]


@router.post("/projects", response_model=ProjectOut, status_code=201, summary="Create a project",
             responses=CHANGE_ERRORS)
async def create_project(body: ProjectIn, state: Admin) -> ProjectOut:
    """Create a project; 409 when it exists, 400 for an invalid id."""
    try:
        return _project(await asyncio.to_thread(state.projects.create_project, body.project_id, body.name,
                                                retention_days=body.retention_days))
    except ProjectError as exc:
        raise _problem(exc) from None


@router.patch("/projects/{project_id}", response_model=ProjectOut, summary="Change a project's name or retention",
              responses=CHANGE_ERRORS)
async def update_project(project_id: str, body: ProjectPatch, state: Admin) -> ProjectOut:
    """Change the name and/or ``retention_days`` (0: keep forever) of a project; answers the project as it now is.
    404 when unknown, 422 for a negative retention (nothing changed)."""
    try:
        return _project(await asyncio.to_thread(state.projects.update_project, project_id, name=body.name,
                                                retention_days=body.retention_days))
    except ProjectError as exc:
        raise _problem(exc) from None


@router.delete("/projects/{project_id}", status_code=204, summary="Delete a project and its data",
               responses=CHANGE_ERRORS)
async def delete_project(project_id: str, state: Admin) -> Response:
    """Delete a project: its keys are revoked and its spans, rollups and annotations deleted. 404 when unknown."""
    try:
        await asyncio.to_thread(state.projects.delete_project, project_id)
    except ProjectError as exc:
        raise _problem(exc) from None
    state.auth.invalidate()
    state.writer.committer.forget_project(project_id)  # its trace states are gone from the store too
    return Response(status_code=204)


@router.get("/keys", response_model=list[KeyOut], summary="List API keys",
            responses={**ERRORS, **problem_responses(422)})
async def list_keys(state: Admin, project_id: Annotated[str | None, Query(description="only this project's")] = None
                    ) -> list[KeyOut]:
    """Keys, newest first, with their last use (recorded at most once a minute)."""
    return [_key(k) for k in await asyncio.to_thread(state.projects.list_keys, project_id)]


@router.post("/keys", response_model=CreatedKey, status_code=201, summary="Create an API key",
             responses=CHANGE_ERRORS)
async def create_key(body: KeyIn, state: Admin) -> CreatedKey:
    """Create a key for a project; the secret is in this response only. 404 when the project is unknown, 400 for
    an expiry in the past or given twice, 422 for an unknown scope."""
    if body.expires_in_s is not None and body.expires_at is not None:
        raise Problem(400, "give the key's expiry as expires_in_s or as expires_at, not both")
    expires_at = body.expires_at
    if body.expires_in_s is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=body.expires_in_s)
    try:
        key, secret = await asyncio.to_thread(state.projects.create_key, body.project_id, body.name,
                                              scope=body.scope, expires_at=expires_at)
    except ProjectError as exc:
        raise _problem(exc) from None
    state.auth.invalidate()
    return CreatedKey(**_key(key).model_dump(), secret=secret)


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key", responses=CHANGE_ERRORS)
async def revoke_key(key_id: str, state: Admin) -> Response:
    """Revoke a key: refused by this server at once and by every other replica within a second. 404 when
    unknown."""
    try:
        await asyncio.to_thread(state.projects.revoke_key, key_id)
    except ProjectError as exc:
        raise _problem(exc) from None
    state.auth.invalidate()
    return Response(status_code=204)
