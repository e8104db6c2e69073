"""What every dashboard page shares: the page router (errors become HTML pages, a missing login a redirect), the
page's principal, and :func:`render`.

A page authenticates exactly as the API does (:func:`threadline.api.auth.principal`: API key, the dashboard cookie,
or local development mode), so a page shows what the same credentials read from ``/v1``. Without credentials (and
outside local mode) a page answers ``303`` to ``/login?next=<the page>``; an expired or revoked cookie likewise. A
:class:`~threadline.api.problems.Problem` raised while building a page (a bad filter, an unknown session) is shown
as an HTML page with the problem's sentence and its status, never as JSON, and never as a 500.

Usage by a page module::

    router = page_router()

    @router.get("/sessions/{session_id:text}")
    async def session_page(request: Request, found: PagePrincipal) -> HTMLResponse:
        return render(request, "session.html", {...})
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from threadline import __version__
from threadline.api.auth import SESSION_COOKIE, presented_key, principal, require_scope
from threadline.api.problems import Problem
from threadline.api.state import AppState, app_state
from threadline.auth import scopes
from threadline.auth.authenticator import Principal
from threadline.dashboard.templating import templates
from threadline.store.errors import StoreError, StoreUnavailable

log = logging.getLogger("threadline.dashboard")
LOGIN_PATH = "/login"


class LoginRequired(Exception):
    """The page needs credentials the request does not carry (answered with a redirect to the login page)."""


def login_url(request: Request) -> str:
    """``/login?next=<path and query of request>`` (the page to return to after logging in)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{LOGIN_PATH}?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this server (``/…`` but not ``//host`` or ``/\\host``), else ``/``: the
    login page never redirects to another site (open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


async def page_principal(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Principal:
    """FastAPI dependency of every page: the request's principal (as for the API), also kept on
    ``request.state.principal`` for the header. Raises :class:`LoginRequired` when the request carries no
    credentials outside local mode (without counting an authentication failure: opening the dashboard before
    logging in is not an attack), Problem 401 for bad ones (also a redirect), 403 for a key whose scope cannot read
    (an ``ingest`` key), 429 when throttled."""
    anonymous = presented_key(request) is None and not request.cookies.get(SESSION_COOKIE)
    if anonymous and not await asyncio.to_thread(state.auth.local_mode):
        raise LoginRequired
    found = await principal(request, state)
    require_scope(request, found, scopes.READ)
    request.state.principal = found
    return found


PagePrincipal = Annotated[Principal, Depends(page_principal)]


# Pages load only what Threadline itself serves, and run no inline script or style: conversation content is
# escaped when rendered, and this is the second wall should some of it ever slip through. Images: our own and data:
# URIs (SVG charts are inline markup, not images).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render ``template`` with ``context`` plus what ``base.html`` needs: ``principal`` (None on pages without
    one, e.g. login), ``version`` (cache-busts static URLs) and ``request``. Every page carries
    :data:`SECURITY_HEADERS` (a strict Content-Security-Policy)."""
    values = {"principal": getattr(request.state, "principal", None), "version": __version__, **(context or {})}
    response: HTMLResponse = templates.TemplateResponse(request, template, values, status_code=status,
                                                        headers={**SECURITY_HEADERS, **(headers or {})})
    return response


def error_page(request: Request, status: int, detail: str, *, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The HTML error page: the status and the sentence that says what to do."""
    return render(request, "error.html", {"status": status, "detail": detail}, status=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request is invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))


class PageRoute(APIRoute):
    """A route whose errors are HTML pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return RedirectResponse(login_url(request), status_code=303)
            except Problem as exc:
                if exc.status == 401:
                    return RedirectResponse(login_url(request), status_code=303)
                return error_page(request, exc.status, exc.detail, headers=exc.headers)
            except RequestValidationError as exc:
                return error_page(request, 422, _validation_detail(exc))
            except StoreUnavailable:
                return error_page(request, 503, "The store is unavailable; reload this page in a moment.",
                                  headers={"Retry-After": "1"})
            except StoreError as exc:
                log.error("store error while rendering %s: %s", request.url.path, exc)
                return error_page(request, 500, "The server failed to run a query; the error is in the server "
                                                "log.")

        return page_handler


def page_router() -> APIRouter:
    """A router for dashboard pages: :class:`PageRoute` routes, HTML responses, left out of the OpenAPI document."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, default_response_class=HTMLResponse)
