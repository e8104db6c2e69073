"""The sessions list page (``/`` and ``/projects/{project}/sessions``) and the login page (``/login``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse

from threadline.api.state import AppState, app_state
from threadline.dashboard.pages import PagePrincipal, page_router, render, safe_next

router = page_router()


@router.get("/login")
async def login_page(request: Request, state: Annotated[AppState, Depends(app_state)],
                     next: Annotated[str | None, Query(max_length=4096)] = None) -> HTMLResponse:
    """The login form: an API key exchanged for the dashboard cookie by ``POST /v1/auth/login`` (login.html's
    script), then back to ``next`` (a path on this server only)."""
    local = await asyncio.to_thread(state.auth.local_mode)
    return render(request, "login.html", {"next": safe_next(next), "local_mode": local})


@router.get("/")
async def sessions_page(request: Request, found: PagePrincipal) -> HTMLResponse:
    """The sessions list of the request's project."""
    return render(request, "sessions.html", {"project": found.project_id})
