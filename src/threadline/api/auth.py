"""The authentication dependency: every data endpoint acts on the project of the request's credentials.

Credentials, in order: ``Authorization: Bearer <key or access token>``, ``x-api-key: <key>``, ``Authorization: Basic``
(RFC 7617; the password is the key and the username its project id, what Langfuse clients send as ``public key:secret
key``), the dashboard session cookie. Cookie authenticated writes must come from the server's own origin (CSRF; the
cookie is also ``SameSite=Strict``). Repeated failures from one address are answered 429 with ``Retry-After``.

Scopes (:mod:`threadline.auth.scopes`) are enforced here and only here: a route takes its project from the dependency
of the scope it needs (:data:`IngestProject`, :data:`ReadProject`, :data:`WriteProject`, the last also plain
:func:`project_id`, so a route that names no scope needs ``all``). A key outside its scope is answered 403 naming the
scope it has and the ones that would do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from threadline.api.problems import Problem
from threadline.api.proxies import client_host, parse_networks
from threadline.api.state import AppState, app_state
from threadline.auth import scopes
from threadline.auth.authenticator import AuthError, Principal

SESSION_COOKIE = "threadline_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(request: Request) -> str:
    """The client address of a request (the throttle's key): the peer's, or the one a trusted reverse proxy names
    in ``Forwarded`` / ``X-Forwarded-For`` (``THREADLINE_TRUSTED_PROXIES``; :mod:`threadline.api.proxies`)."""
    peer = request.client.host if request.client else None
    state: AppState | None = getattr(request.app.state, "threadline", None)
    trusted = parse_networks(state.settings.trusted_proxies) if state is not None else ()
    if not trusted:
        return peer or "unknown"
    headers = request.headers
    return client_host(peer, ", ".join(headers.getlist("forwarded")) or None,
                       ", ".join(headers.getlist("x-forwarded-for")) or None, trusted)


def key_from_headers(authorization: str, x_api_key: str) -> str | None:
    """The API key of an ``Authorization`` value (``Bearer <key>``) or else an ``x-api-key`` value, if any. Shared
    by HTTP headers and gRPC metadata."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return x_api_key.strip() or None


@dataclass(frozen=True)
class BasicCredentials:
    """HTTP Basic credentials (RFC 7617): user id and password, decoded."""

    username: str
    password: str


def basic_from_header(authorization: str) -> BasicCredentials | None:
    """The credentials of an ``Authorization: Basic <base64(username:password)>`` value; None for other schemes.
    Raises AuthError when the value is not base64 of UTF-8 ``username:password``."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    username, colon, password = decoded.partition(":")
    if not colon:
        raise AuthError("malformed", "the Basic credentials are not base64 of 'username:password'; send the project "
                                     "id as the username and an API key as the password")
    return BasicCredentials(username, password)


def presented_key(request: Request) -> str | None:
    """The API key a request carries, if any."""
    return key_from_headers(request.headers.get("authorization", ""), request.headers.get("x-api-key", ""))


def throttle_wait(state: AppState, address: str) -> int:
    """Seconds ``address`` must wait after too many recent authentication failures (0: it may try); a wait is
    counted as a throttled request."""
    wait = state.throttle.retry_after(address)
    if wait:
        state.metrics.auth_throttled.inc()
    return wait


def check_throttle(state: AppState, address: str) -> None:
    """Raise 429 while ``address`` has too many recent authentication failures."""
    wait = throttle_wait(state, address)
    if wait:
        raise Problem(429, f"too many failed authentication attempts from this address; retry in {wait} s",
                      headers={"Retry-After": str(wait)})


def record_failure(state: AppState, address: str, error: AuthError) -> None:
    """Count an authentication failure of ``address`` (the throttle's and /metrics' count)."""
    state.throttle.record(address)
    state.metrics.auth_failures.labels(error.reason).inc()


def refuse(state: AppState, address: str, error: AuthError) -> Problem:
    """Count a failure and build its 401."""
    record_failure(state, address, error)
    return Problem(401, str(error), headers={"WWW-Authenticate": 'Bearer realm="threadline"'})


async def key_principal(state: AppState, address: str, key: str | None) -> Principal:
    """Who a request with API key or access token ``key`` (None: no credentials, which local development mode
    accepts) from ``address`` acts as. Raises AuthError after counting the failure. The caller checks the throttle
    first."""
    try:
        if key is not None:
            return await asyncio.to_thread(state.auth.authenticate_bearer, key)
        return await asyncio.to_thread(state.auth.anonymous)
    except AuthError as exc:
        record_failure(state, address, exc)
        raise


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
            return await asyncio.to_thread(state.auth.authenticate_bearer, key)
        basic = basic_from_header(request.headers.get("authorization", ""))
        if basic is not None:
            return await asyncio.to_thread(state.auth.authenticate_basic, basic.username, basic.password)
        if cookie:
            found = await asyncio.to_thread(state.auth.authenticate_session, cookie)
            if request.method not in SAFE_METHODS and not _same_origin(request):
                raise Problem(403, "a dashboard session may only write from the Threadline origin; send the "
                                   "Origin header, or authenticate with an API key")
            return found
        return await asyncio.to_thread(state.auth.anonymous)
    except AuthError as exc:
        raise refuse(state, address, exc) from None


def require_scope(request: Request, found: Principal, needed: scopes.Scope, *, action: str | None = None) -> None:
    """Raise Problem 403 unless ``found``'s scope allows ``needed``; the sentence names the request."""
    try:
        scopes.require(found.scope, needed, f"{request.method} {request.url.path}", action=action)
    except scopes.ScopeError as exc:
        raise Problem(403, str(exc)) from None


def _scoped(needed: scopes.Scope) -> Callable[..., Awaitable[str]]:
    async def scoped_project(request: Request, found: Annotated[Principal, Depends(principal)]) -> str:
        require_scope(request, found, needed)
        return found.project_id

    scoped_project.__doc__ = (f"FastAPI dependency: the project the request acts on, when its key's scope allows "
                              f"'{needed}'. Raises Problem 401/429 as :func:`principal`, 403 outside the scope.")
    return scoped_project


ingest_project = _scoped(scopes.INGEST)
read_project = _scoped(scopes.READ)
project_id = _scoped(scopes.ALL)  # no scope named: the route needs 'all' (deny by default)


async def any_scope_project(found: Annotated[Principal, Depends(principal)]) -> str:
    """FastAPI dependency: the project of the request's credentials, whatever their scope (for what every client
    may ask, e.g. the Langfuse SDK's auth check)."""
    return found.project_id


IngestProject = Annotated[str, Depends(ingest_project)]  # send spans and logs
ReadProject = Annotated[str, Depends(read_project)]  # read anything
WriteProject = Annotated[str, Depends(project_id)]  # change sessions and scores: scope 'all'
