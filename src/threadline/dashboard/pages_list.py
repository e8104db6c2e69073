"""The sessions list page (``/`` and ``/projects/{project}/sessions``) and the login page (``/login``).

The list reads through the API's own handlers, called in-process with the query parsed by the API's parameter
models (:mod:`threadline.dashboard.list_query`): ``GET /v1/sessions`` (``/v1/sessions/search`` when ``search`` is
set) for the rows, and ``GET /v1/sessions/metrics`` for the summary strip and charts, served as a fragment
(``/fragments/sessions-summary``) that ``sessions.js`` fetches once the list is shown, so the list is usable before
the aggregates over the whole window are done. One definition of every filter, sort, cursor and stat, and the same
two-statement list query that stays fast at a million sessions. A bad query shows the API's sentence in the page,
with the form still filled in, and the API's 4xx status.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threadline.api.list_schemas import SearchPage
from threadline.api.problems import Problem
from threadline.api.routers import project_metrics, session_search
from threadline.api.routers import sessions as sessions_api
from threadline.api.schemas import SessionPage
from threadline.api.state import AppState, app_state
from threadline.dashboard import list_query, list_view
from threadline.dashboard.pages import PagePrincipal, page_router, render, safe_next

router = page_router()
TEMPLATE = "sessions.html"
SUMMARY_PATH = list_view.SUMMARY_PATH


@router.get("/login")
async def login_page(request: Request, state: Annotated[AppState, Depends(app_state)],
                     next: Annotated[str | None, Query(max_length=4096)] = None) -> HTMLResponse:
    """The login form: an API key exchanged for the dashboard cookie by ``POST /v1/auth/login`` (``login.js``),
    then back to ``next`` (a path on this server only)."""
    local = await asyncio.to_thread(state.auth.local_mode)
    return render(request, "login.html", {"next": safe_next(next), "local_mode": local})


async def _rows(request: Request, state: AppState, project: str,
                query: list_query.ListQuery) -> SessionPage | SearchPage:
    page = query.page
    if page.search is not None:
        return await session_search.search_sessions(request, state, project, query.filters, q=page.search,
                                                    limit=page.limit, offset=page.offset, cursor=page.cursor,
                                                    sort=page.sort)
    return await sessions_api.list_sessions(request, state, project, query.filters, limit=page.limit,
                                            offset=page.offset, cursor=page.cursor, sort=page.sort, search=None)


async def _sessions_page(request: Request, state: AppState, project: str) -> Response:
    items = list(request.query_params.multi_items())
    wanted = list_query.canonical(items)
    if wanted != items:  # a submitted filter form: show its canonical deep link
        return RedirectResponse(request.url.path + (f"?{urlencode(wanted)}" if wanted else ""), status_code=303)
    path = request.url.path
    form = list_view.form_values(items)
    context: dict[str, Any] = {
        "project": project, "form": form, "path": path, "ranges": list_query.RANGE_LABELS,
        "end_states": list_view.END_STATES, "otlp_endpoint": str(request.base_url).rstrip("/"),
    }
    try:
        query = await list_query.parse(request, project)
        found = await _rows(request, state, project, query)
    except Problem as exc:
        return render(request, TEMPLATE, context | {"problem": exc}, status=exc.status, headers=exc.headers)
    previous, following = list_view.page_links(path, items, query, found.pagination, found.links)
    context |= {
        "rows": found.data, "searching": query.page.search is not None, "pagination": found.pagination,
        "prev_url": previous, "next_url": following, "caption": list_view.caption(found.pagination, len(found.data)),
        "sorts": list_view.sort_links(path, items, str(query.sort)),
        "summary_url": list_view.summary_url(items),
    }
    return render(request, TEMPLATE, context)


@router.get(SUMMARY_PATH)
async def sessions_summary(request: Request, found: PagePrincipal,
                           state: Annotated[AppState, Depends(app_state)]) -> HTMLResponse:
    """The summary strip and charts of the list's window (an HTML fragment ``sessions.js`` places in the page, so
    the list is usable before these aggregates over the whole window are computed). Takes the list's query (paging
    and search are ignored: the metrics cover every session of the window that matches the filters). A problem
    (e.g. a window longer than the metrics allow) is shown in the fragment, status 200."""
    context: dict[str, Any] = {"summary": None, "problem": None, "searching": "search" in request.query_params,
                               "whole_history": not ({"range", "start_time"} & set(request.query_params))}
    try:
        query = await list_query.parse(request, found.project_id)
        metrics = await project_metrics.project_session_metrics(state, found.project_id, query.filters)
        context["summary"] = list_view.summary(metrics)
    except Problem as exc:
        context["problem"] = exc
    return render(request, "_sessions_summary.html", context)


@router.get("/")
async def sessions_page(request: Request, found: PagePrincipal,
                        state: Annotated[AppState, Depends(app_state)]) -> Response:
    """The sessions list of the request's project; query parameters as ``GET /v1/sessions`` plus ``range``."""
    return await _sessions_page(request, state, found.project_id)


@router.get("/projects/{project}/sessions")
async def project_sessions_page(project: str, request: Request, found: PagePrincipal,
                                state: Annotated[AppState, Depends(app_state)]) -> Response:
    """The sessions list of ``project``, which must be the project of the request's credentials (403 otherwise,
    as for the API's ``project_id``)."""
    if project != found.project_id:
        raise Problem(403, f"you are logged in to project {found.project_id!r}, not {project!r}: log in with a key "
                           f"of {project!r} to see its sessions")
    return await _sessions_page(request, state, project)
