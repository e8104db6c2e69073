"""Session writes: create ahead of traffic, edit user-owned fields, delete (in the background), and jobs."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from threadline.api import present
from threadline.api.auth import ReadProject, WriteProject
from threadline.api.problems import Problem
from threadline.api.read_schemas import UNPARSABLE_BODY, problem_responses
from threadline.api.schemas import Session
from threadline.api.state import AppState, app_state
from threadline.api.write_schemas import JobOut, SessionCreate, SessionPatch
from threadline.queries import sessions as q
from threadline.queries.annotations import Annotation, get_annotation, put_annotation, put_placeholder_rollup
from threadline.queries.jobs import Job, get_job
from threadline.writer.deletion import run_deletion, start_deletion

router = APIRouter(tags=["sessions"])
State = Annotated[AppState, Depends(app_state)]
ERRORS = problem_responses(401, 403, 404, 429, 503, described={422: "invalid parameter"})
BODY_ERRORS = {**ERRORS, **problem_responses(described={400: UNPARSABLE_BODY, 422: "invalid body or parameter"})}


def job_out(job: Job) -> JobOut:
    """A job as the API model."""
    return JobOut(job_id=job.job_id, kind=job.kind, target_id=job.target_id, status=job.status, total=job.total,
                  done=job.done, error=job.error or None, created_at=present.iso(job.created_at_ms * 1_000_000),
                  updated_at=present.iso(job.updated_at_us * 1000), links={"self": f"/v1/jobs/{job.job_id}"})


async def _session(state: AppState, project: str, session_id: str) -> Session:
    row = await asyncio.to_thread(q.get_session, state.store, project, session_id)
    if row is None:
        raise Problem(404, f"there is no session {session_id!r} in this project")
    return present.session(row, state.settings.session_idle_timeout_s)


@router.post("/v1/sessions", response_model=Session, status_code=201, summary="Create a session",
             responses={**BODY_ERRORS, **problem_responses(described={409: "the session exists"})})
async def create_session(body: SessionCreate, state: State, project: WriteProject) -> Session:
    """Create a session ahead of its traffic, with its name, user, metadata, tags (and explicit end state).
    409 when a session with this id exists in the project."""
    if await asyncio.to_thread(q.get_session, state.store, project, body.session_id) is not None:
        raise Problem(409, f"session {body.session_id!r} already exists; change it with PATCH")

    def create() -> None:
        put_annotation(state.store, project, body.session_id, Annotation(
            name=body.name or "", user_id=body.user_id or "", metadata=dict(body.metadata or {}),
            tags=list(body.tags or []), end_state=body.end_state or ""))
        put_placeholder_rollup(state.store, project, body.session_id, body.user_id or "",
                               state.writer.committer.next_version())

    await asyncio.to_thread(create)
    return await _session(state, project, body.session_id)


@router.patch("/v1/sessions/{session_id:text}", response_model=Session, summary="Edit a session",
              responses=BODY_ERRORS)
async def patch_session(session_id: str, body: SessionPatch, state: State, project: WriteProject) -> Session:
    """Change the session's name, metadata, tags, bookmark or explicit end state. 404 when unknown."""
    await _session(state, project, session_id)
    fields = body.model_fields_set

    def update() -> None:
        current = get_annotation(state.store, project, session_id) or Annotation()
        if "name" in fields:
            current.name = body.name or ""
        if "metadata" in fields:
            current.metadata = dict(body.metadata or {})
        if "tags" in fields:
            current.tags = list(body.tags or [])
        if "bookmarked" in fields:
            current.bookmarked = bool(body.bookmarked)
        if "end_state" in fields:
            current.end_state = body.end_state or ""
        put_annotation(state.store, project, session_id, current)

    await asyncio.to_thread(update)
    return await _session(state, project, session_id)


@router.delete("/v1/sessions/{session_id:text}", response_model=JobOut, status_code=202, summary="Delete a session",
               responses=ERRORS)
async def delete_session(session_id: str, state: State, project: WriteProject, response: Response) -> JobOut:
    """Delete the session: it disappears at once; its traces are unlinked in the background (poll
    ``links.self``) and stay queryable under ``/v1/traces``; a later trace with the same id starts a fresh session.
    404 when unknown."""
    await _session(state, project, session_id)
    job = await asyncio.to_thread(start_deletion, state.store, project, session_id)
    state.spawn(asyncio.to_thread(run_deletion, state.store, state.writer.committer, job))
    response.headers["Location"] = f"/v1/jobs/{job.job_id}"
    return job_out(job)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, summary="Get a background job", tags=["jobs"],
            responses=problem_responses(401, 422, 429, 503, described={404: "no such job in the project"}))
async def read_job(job_id: str, state: State, project: ReadProject, response: Response) -> JobOut:
    """A job's status and progress (e.g. a session deletion). 404 when unknown in the project."""
    job = await asyncio.to_thread(get_job, state.store, project, job_id)
    if job is None:
        raise Problem(404, f"there is no job {job_id!r} in this project")
    if job.status in ("pending", "running"):
        response.headers["Retry-After"] = str(max(1, math.ceil((job.total - job.done) / 20_000)))
    return job_out(job)
