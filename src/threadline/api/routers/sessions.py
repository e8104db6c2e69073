"""Sessions endpoints: the list, one session, and its traces."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from threadline.api import paths as _paths  # noqa: F401  (registers the 'text' path convertor)
from threadline.api import present
from threadline.api.auth import project_id
from threadline.api.problems import Problem
from threadline.api.schemas import SessionDetail, SessionPage, TracePage
from threadline.api.state import AppState, app_state
from threadline.queries import sessions as q

router = APIRouter(tags=["sessions"])
Limit = Annotated[int, Query(ge=1, le=1000, description="page size (1-1000)")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]
DETAIL_TRACES = 1000


def _not_found(session_id: str) -> Problem:
    return Problem(404, f"there is no session {session_id!r} in this project")


@router.get("/v1/sessions", response_model=SessionPage, summary="List sessions")
async def list_sessions(state: Annotated[AppState, Depends(app_state)], project: Annotated[str, Depends(project_id)],
                        limit: Limit = 50, offset: Offset = 0) -> SessionPage:
    """Sessions of the project with their stats, most recent activity first."""
    page = await asyncio.to_thread(q.list_sessions, state.store, project, limit=limit, offset=offset)
    pagination, links = present.page_meta("/v1/sessions", {}, limit=limit, offset=offset, total=page.total)
    timeout = state.settings.session_idle_timeout_s
    return SessionPage(data=[present.session(r, timeout) for r in page.rows], pagination=pagination, links=links)


@router.get("/v1/sessions/{session_id:text}", response_model=SessionDetail, summary="Get a session with its turns")
async def get_session(session_id: str, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(project_id)]) -> SessionDetail:
    """The session's stats and its traces (turns) in start order, each with its own rollup (the first 1000;
    page with ``/traces``). 404 when the project has no such session."""
    row = await asyncio.to_thread(q.get_session, state.store, project, session_id)
    if row is None:
        raise _not_found(session_id)
    traces = await asyncio.to_thread(q.session_traces, state.store, project, session_id, limit=DETAIL_TRACES,
                                     offset=0, with_total=False)
    summary = present.session(row, state.settings.session_idle_timeout_s)
    return SessionDetail(**summary.model_dump(), traces=[present.trace(t) for t in traces.rows])


@router.get("/v1/sessions/{session_id:text}/traces", response_model=TracePage, summary="List a session's traces")
async def list_session_traces(session_id: str, state: Annotated[AppState, Depends(app_state)],
                              project: Annotated[str, Depends(project_id)], limit: Limit = 50,
                              offset: Offset = 0) -> TracePage:
    """The session's traces (turns) in start order, paginated; ``turn`` numbers from 1."""
    page = await asyncio.to_thread(q.session_traces, state.store, project, session_id, limit=limit, offset=offset)
    if page.total == 0 and await asyncio.to_thread(q.get_session, state.store, project, session_id) is None:
        raise _not_found(session_id)
    pagination, links = present.page_meta(f"{present.session_path(session_id)}/traces", {}, limit=limit,
                                          offset=offset, total=page.total)
    return TracePage(data=[present.trace(r) for r in page.rows], pagination=pagination, links=links)
