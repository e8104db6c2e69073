"""Session paths that reach every session id, whatever it is.

``/v1/sessions/{session_id}`` shares its first segment with the project-level routes ``/v1/sessions/search``,
``/v1/sessions/metrics`` and ``/v1/sessions/export``, which win: a session named ``search`` is not readable there.
So every per-session route is also served under ``/v1/sessions/id/{session_id}`` (``/v1/sessions/id/search``,
``/v1/sessions/id/search/logs``...), where the segment after ``id/`` is always the session id. The plain form keeps
working for every other id (old links stay valid). The two forms overlap in one place: ``/v1/sessions/id/<word>``
could be the sub-resource ``<word>`` of a session named ``id``; it is the session ``<word>`` for the methods the
``id/`` form serves there (GET, PATCH, DELETE), so a session named ``id`` is reached at ``/v1/sessions/id`` and
``/v1/sessions/id/id/...``.

:func:`session_path` picks the form for links (the plain one unless the id is in :data:`RESERVED_IDS`), and
:func:`by_id_router` builds the ``id/`` routes from the plain ones, so both always serve the same operations.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.routing import APIRoute

from threadline.api import paths as _paths  # noqa: F401  (registers the 'text' path convertor)

PLAIN = "/v1/sessions/{session_id:text}"
BY_ID = "/v1/sessions/id/{session_id:text}"
# Fixed segments that take /v1/sessions/<segment> (or, for "id", /v1/sessions/id/<sub-resource>) from a session.
RESERVED_IDS = frozenset({"search", "metrics", "export", "id"})


def path_segment(value: str) -> str:
    """``value`` as one URL path segment: percent-encoded, with ``.`` and ``..`` encoded too (clients resolve them
    as dot segments otherwise, RFC 3986 section 5.2.4)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def session_path(session_id: str) -> str:
    """The API path of a session (its id percent-encoded): ``/v1/sessions/<id>``, or ``/v1/sessions/id/<id>`` for
    an id in :data:`RESERVED_IDS`. Sub-resources append to it (``/traces``, ``/logs``...)."""
    prefix = "/v1/sessions/id/" if session_id in RESERVED_IDS else "/v1/sessions/"
    return prefix + path_segment(session_id)


def by_id_router(*routers: APIRouter) -> APIRouter:
    """A router serving each route of ``routers`` whose path starts with ``/v1/sessions/{session_id:text}`` also
    under ``/v1/sessions/id/{session_id:text}``: same endpoint, parameters, responses and dependencies. Include it
    before ``routers`` (its two-segment paths must win over ``/v1/sessions/{session_id}/<sub-resource>``)."""
    aliases = APIRouter()
    for router in routers:
        for route in router.routes:
            if not (isinstance(route, APIRoute) and (route.path == PLAIN or route.path.startswith(PLAIN + "/"))):
                continue
            described = route.description or ""
            aliases.add_api_route(
                BY_ID + route.path[len(PLAIN):], route.endpoint, response_model=route.response_model,
                status_code=route.status_code, tags=list(route.tags), dependencies=list(route.dependencies),
                summary=f"{route.summary} (any id)" if route.summary else None,
                description=(f"As `{route.path.replace(':text', '')}`, for any session id: also `search`, "
                             "`metrics`, `export` and `id`, which the plain path does not reach.\n\n" + described),
                response_description=route.response_description, responses=dict(route.responses),
                deprecated=route.deprecated, methods=set(route.methods or ()), response_class=route.response_class,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema, name=f"{route.name}_by_id",
                openapi_extra=route.openapi_extra)
    return aliases
