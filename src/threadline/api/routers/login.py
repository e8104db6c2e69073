"""Dashboard login: exchange an API key (scope ``read`` or ``all``) for an HttpOnly, SameSite=Strict session cookie
that acts as the key and ends no later than it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from threadline.api.auth import SESSION_COOKIE, check_throttle, client_address, principal, refuse, require_scope
from threadline.api.read_schemas import UNPARSABLE_BODY, problem_responses
from threadline.api.state import AppState, app_state
from threadline.auth import scopes, tokens
from threadline.auth.authenticator import AuthError, Principal, expiry

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    """The API key to log in with."""

    api_key: str = Field(min_length=1, max_length=200)


class Whoami(BaseModel):
    """Who the request acts as. ``local_mode`` is true while requests without a key act on ``default``; ``scope``
    is the key's (``ingest``, ``read`` or ``all``) and ``expires_at`` its expiry (null: never)."""

    project_id: str
    key_id: str | None
    local_mode: bool
    scope: str = scopes.ALL
    expires_at: datetime | None = None


@router.post("/login", response_model=Whoami, summary="Log the dashboard in with an API key",
             responses=problem_responses(422, 429, 503, described={
                 400: UNPARSABLE_BODY, 401: "the API key is malformed, unknown, revoked or expired",
                 403: "the API key has scope 'ingest', which cannot read (log in with a 'read' or 'all' key)"}))
async def login(body: LoginIn, request: Request, response: Response,
                state: Annotated[AppState, Depends(app_state)]) -> Whoami:
    """Verify the key and set the session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS), valid for
    THREADLINE_SESSION_COOKIE_TTL_S or until the key expires, whichever comes first. 401 for a bad key, 403 for an
    ``ingest`` key."""
    address = client_address(request)
    check_throttle(state, address)
    try:
        found = await asyncio.to_thread(state.auth.authenticate_key, body.api_key)
    except AuthError as exc:
        raise refuse(state, address, exc) from None
    assert found.key_id is not None
    require_scope(request, found, scopes.READ, action="logging in to the dashboard")
    now = int(time.time())
    ends = expiry(found, state.settings.session_cookie_ttl_s, now)
    secret = await asyncio.to_thread(lambda: state.auth.server_secret)
    token = tokens.sign_session(secret, found.key_id, ends)
    response.set_cookie(SESSION_COOKIE, token, max_age=max(1, ends - now), httponly=True, samesite="strict",
                        path="/", secure=request.url.scheme == "https")
    return Whoami(project_id=found.project_id, key_id=found.key_id, local_mode=False, scope=found.scope,
                  expires_at=found.expires_at)


@router.post("/logout", status_code=204, summary="Log the dashboard out")
async def logout(response: Response) -> Response:
    """Clear the session cookie."""
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/whoami", response_model=Whoami, summary="Who the credentials act as",
            responses=problem_responses(401, 429, 503))
async def whoami(found: Annotated[Principal, Depends(principal)],
                 state: Annotated[AppState, Depends(app_state)]) -> Whoami:
    """The project and key of the request's credentials."""
    return Whoami(project_id=found.project_id, key_id=found.key_id, local_mode=found.key_id is None,
                  scope=found.scope, expires_at=found.expires_at)
