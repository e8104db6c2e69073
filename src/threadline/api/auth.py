"""The authentication dependency: every data endpoint acts on the project of the request's credentials.

Credentials, in order: ``Authorization: Bearer <key>``, ``x-api-key: <key>``, the dashboard session cookie. Cookie
authenticated writes must come from the server's own origin (CSRF; the cookie is also ``SameSite=Strict``).
Repeated failures from one address are answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from threadline.api.problems import Problem
from threadline.api.state import AppState, app_state
from threadline.auth.authenticator import AuthError, Principal

SESSION_COOKIE = "threadline_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(request: Request) -> str:
    """The peer address of a request (the throttle's key)."""
    return request.client.host if request.client else "unknown"


def presented_key(request: Request) -> str | None:
    """The API key a request carries, if any."""
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip() or None


def check_throttle(state: AppState, address: str) -> None:
    """Raise 429 while ``address`` has too many recent authentication failures."""
    wait = state.throttle.retry_after(address)
    if wait:
        state.metrics.auth_throttled.inc()
        raise Problem(429, f"too many failed authentication attempts from this address; retry in {wait} s",
                      headers={"Retry-After": str(wait)})


def refuse(state: AppState, address: str, error: AuthError) -> Problem:
    """Count a failure and build its 401."""
    state.throttle.record(address)
    state.metrics.auth_failures.labels(error.reason).inc()
    return Problem(401, str(error), headers={"WWW-Authenticate": 'Bearer realm="threadline"'})


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    return urlsplit(source).netloc == request.headers.get("host", "")


async def principal(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Principal:
    """FastAPI dependency: who the request acts as. Raises Problem 401 (no or bad credentials), 403 (a cookie
    authenticated write from another origin), 429 (throttled)."""
    address = client_address(request)
    check_throttle(state, address)
    key = presented_key(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if key is not None:
            return await asyncio.to_thread(state.auth.authenticate_key, key)
        if cookie:
            found = await asyncio.to_thread(state.auth.authenticate_session, cookie)
            if request.method not in SAFE_METHODS and not _same_origin(request):
                raise Problem(403, "a dashboard session may only write from the Threadline origin; send the "
                                   "Origin header, or authenticate with an API key")
            return found
        return await asyncio.to_thread(state.auth.anonymous)
    except AuthError as exc:
        raise refuse(state, address, exc) from None


async def project_id(found: Annotated[Principal, Depends(principal)]) -> str:
    """FastAPI dependency: the project the request acts on (decided by its credentials)."""
    return found.project_id
