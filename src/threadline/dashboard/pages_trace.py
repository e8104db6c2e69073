"""The trace detail page, ``/traces/{trace_id}``: the trace's span tree with bars on its time axis, and each span's
status, attributes, texts and events; a link back to its session."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from threadline.api.problems import Problem
from threadline.api.state import AppState, app_state
from threadline.dashboard.pages import PagePrincipal, page_router, render
from threadline.dashboard.trace_view import read_trace_page

router = page_router()


@router.get("/traces/{trace_id}")
async def trace_page(request: Request, trace_id: str, found: PagePrincipal,
                     state: Annotated[AppState, Depends(app_state)]) -> HTMLResponse:
    """The trace's page, or the 404 page when the project of the credentials has no such trace."""
    page = await asyncio.to_thread(read_trace_page, state.store, found.project_id, trace_id)
    if page is None:
        raise Problem(404, f"There is no trace {trace_id!r} in project {found.project_id!r}. Open a session and "
                           "follow a turn's trace link instead.")
    return render(request, "trace.html", {"page": page, "t": page.trace})
