"""The session detail page, ``/sessions/{session_id}``: stats, conversation, timeline, charts, log, scores, and
the forms that edit the session through the JSON API (``static/session.js``)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from threadline.api import paths as _paths  # noqa: F401  (registers the 'text' path convertor)
from threadline.api.problems import Problem
from threadline.api.session_paths import path_segment
from threadline.api.state import AppState, app_state
from threadline.dashboard import charts
from threadline.dashboard.pages import PagePrincipal, page_router, render
from threadline.dashboard.session_view import IDLE_GAP_S, TURNS_PER_PAGE, SessionPage, read_session_page
from threadline.dashboard.templating import compact, duration_ms, usd

router = page_router()
MAX_OFFSET = 2**63 - 1


def session_url(session_id: str, offset: int = 0, idle_gap_s: float = IDLE_GAP_S) -> str:
    """The dashboard path of a session (its id as one percent-encoded segment), at the page starting after
    ``offset`` turns, showing idle gaps over ``idle_gap_s`` seconds (parameters left out at their defaults)."""
    query = {"offset": str(offset)} if offset else {}
    if idle_gap_s != IDLE_GAP_S:
        query["idle_gap_s"] = f"{idle_gap_s:g}" if idle_gap_s < 1e6 else str(idle_gap_s)
    return f"/sessions/{path_segment(session_id)}" + (f"?{urlencode(query)}" if query else "")


def _charts(page: SessionPage) -> dict[str, Markup]:
    """The per-turn charts of the page's turns: tokens (input + output), cost (USD) and latency (ms)."""
    turns = [(f"turn {t.trace.turn}", t.trace) for t in page.turns]
    return {
        "tokens": charts.bar_chart([(label, t.input_tokens + t.output_tokens) for label, t in turns],
                                   title="Tokens per turn", fmt=compact),
        "cost": charts.bar_chart([(label, t.cost_usd) for label, t in turns], title="Cost per turn (USD)", fmt=usd,
                                 tone="alt"),
        "latency": charts.bar_chart([(label, t.duration_ms) for label, t in turns], title="Latency per turn",
                                    fmt=duration_ms),
    }


@router.get("/sessions/{session_id:text}")
async def session_page(request: Request, session_id: str, found: PagePrincipal,
                       state: Annotated[AppState, Depends(app_state)],
                       offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="turns to skip")] = 0,
                       idle_gap_s: Annotated[float, Query(ge=0, le=31_536_000)] = IDLE_GAP_S) -> HTMLResponse:
    """The session's page (turns ``offset + 1`` .. ``offset + TURNS_PER_PAGE``), or the 404 page when the
    project of the credentials has no such session."""
    page = await asyncio.to_thread(read_session_page, state.store, found.project_id, session_id, offset=offset,
                                   idle_gap_s=idle_gap_s, idle_timeout_s=state.settings.session_idle_timeout_s)
    if page is None:
        raise Problem(404, f"There is no session {session_id!r} in project {found.project_id!r}: it may have been "
                           "deleted, or it belongs to another project. Find it in the sessions list.")
    total = page.stats.trace_count
    prev_url = session_url(session_id, max(offset - TURNS_PER_PAGE, 0), idle_gap_s) if offset > 0 else None
    next_url = (session_url(session_id, offset + TURNS_PER_PAGE, idle_gap_s) if offset + TURNS_PER_PAGE < total
                else None)
    return render(request, "session.html", {
        "page": page, "s": page.session, "stats": page.stats, "charts": _charts(page), "prev_url": prev_url,
        "next_url": next_url, "self_url": session_url(session_id, 0, idle_gap_s), "idle_gap_s": idle_gap_s})
