"""Sessions read endpoints: the list (filters, sort, offset and cursor pages), one session, and its traces.

The search, project metrics and list export routes live in their own modules and are included here *before*
``/v1/sessions/{session_id}``, so that ``/v1/sessions/search|metrics|export`` are not taken for session ids.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from threadline.api import paths as _paths  # noqa: F401  (registers the 'text' path convertor)
from threadline.api import present
from threadline.api.auth import read_project
from threadline.api.list_pages import PageRequest, fetch_page
from threadline.api.list_params import (
    FILTERS_HELP,
    CursorParam,
    Limit,
    OffsetParam,
    SearchParam,
    SortParam,
    only_params,
    parse_sort,
    session_filters,
)
from threadline.api.list_schemas import LIST_ERRORS, SESSION_PAGE_EXAMPLE
from threadline.api.problems import Problem
from threadline.api.read_schemas import READ_ERRORS
from threadline.api.routers import project_metrics, session_list_export, session_search
from threadline.api.schemas import SessionDetail, SessionPage, TracePage
from threadline.api.state import AppState, app_state
from threadline.queries import sessions as q
from threadline.queries.filters import SessionFilters

router = APIRouter(tags=["sessions"])
for _fixed in (session_search.router, project_metrics.router, session_list_export.router):
    router.include_router(_fixed)  # before /v1/sessions/{session_id}
TraceLimit = Annotated[int, Query(ge=1, le=1000, description="page size (1-1000)")]
TraceOffset = Annotated[int, Query(ge=0, description="rows to skip")]
DETAIL_TRACES = 1000
LIST_DESCRIPTION = (
    "Sessions of the project with their stats, filtered and sorted (default: most recent activity first).\n\n"
    "Page with `offset` (`pagination.total` counts every match) or with the keyset `cursor` of "
    "`pagination.next_cursor` (stable while new sessions arrive; a deep page costs the same as the first); "
    "`links.next`/`prev` carry every filter. `search=` keeps sessions whose id, name or turns contain a text "
    "(`GET /v1/sessions/search` also says where they matched).\n\n" + FILTERS_HELP)


def _not_found(session_id: str) -> Problem:
    return Problem(404, f"there is no session {session_id!r} in this project")


@router.get("/v1/sessions", response_model=SessionPage, summary="List sessions", responses={
    200: {"content": {"application/json": {"example": SESSION_PAGE_EXAMPLE}}}, **LIST_ERRORS},
    dependencies=[Depends(only_params("limit", "offset", "cursor", "sort", "search"))],
    description=LIST_DESCRIPTION)
async def list_sessions(request: Request, state: Annotated[AppState, Depends(app_state)],
                        project: Annotated[str, Depends(read_project)],
                        filters: Annotated[SessionFilters, Depends(session_filters)], limit: Limit = 50,
                        offset: OffsetParam = None, cursor: CursorParam = None,
                        sort: SortParam = "-last_seen", search: SearchParam = None) -> SessionPage:
    """Sessions of the project with their stats, filtered and sorted (see ``LIST_DESCRIPTION``)."""
    got = await fetch_page(request, state, project, filters, PageRequest(limit, offset, cursor, parse_sort(sort)),
                           kind="list", search=search)
    timeout = state.settings.session_idle_timeout_s
    return SessionPage(data=[present.session(r, timeout) for r in got.page.rows], pagination=got.pagination,
                       links=got.links)


@router.get("/v1/sessions/{session_id:text}", response_model=SessionDetail, summary="Get a session with its turns",
            responses=READ_ERRORS)
async def get_session(session_id: str, state: Annotated[AppState, Depends(app_state)],
                      project: Annotated[str, Depends(read_project)]) -> SessionDetail:
    """The session's stats and its traces (turns) in start order, each with its own rollup (the first 1000;
    page with ``/traces``). 404 when the project has no such session."""
    # The row and the turns are independent reads: run side by side (the store has several connections), a session
    # costs the slower of the two instead of their sum. An unknown id wastes one small turns read.
    row, traces = await asyncio.gather(
        asyncio.to_thread(q.get_session, state.store, project, session_id),
        asyncio.to_thread(q.session_traces, state.store, project, session_id, limit=DETAIL_TRACES, offset=0,
                          with_total=False))
    if row is None:
        raise _not_found(session_id)
    summary = present.session(row, state.settings.session_idle_timeout_s)
    return SessionDetail(**summary.model_dump(), traces=[present.trace(t) for t in traces.rows])


@router.get("/v1/sessions/{session_id:text}/traces", response_model=TracePage, summary="List a session's traces",
            responses=READ_ERRORS)
async def list_session_traces(session_id: str, state: Annotated[AppState, Depends(app_state)],
                              project: Annotated[str, Depends(read_project)], limit: TraceLimit = 50,
                              offset: TraceOffset = 0) -> TracePage:
    """The session's traces (turns) in start order, paginated; ``turn`` numbers from 1."""
    page = await asyncio.to_thread(q.session_traces, state.store, project, session_id, limit=limit, offset=offset)
    if page.total == 0 and await asyncio.to_thread(q.get_session, state.store, project, session_id) is None:
        raise _not_found(session_id)
    pagination, links = present.page_meta(f"{present.session_path(session_id)}/traces", {}, limit=limit,
                                          offset=offset, total=page.total)
    return TracePage(data=[present.trace(r) for r in page.rows], pagination=pagination, links=links)
