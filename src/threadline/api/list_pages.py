"""One page of the sessions list (or of a search): offset or cursor pagination, the ``pagination`` block and the
``links`` that carry every filter of the request.

Offset pages link to offset pages (``links.next`` = ``offset + limit``); cursor pages link with cursors. Every page
with more rows after it also gives ``pagination.next_cursor``, so a client may switch to keyset paging at any page.
``pagination.offset`` is the page's position in the full result, on cursor pages too (counted, not skipped).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from threadline.api import cursors
from threadline.api.problems import Problem
from threadline.api.schemas import Links, Pagination
from threadline.api.state import AppState
from threadline.queries import end_state
from threadline.queries.filters import SessionFilters
from threadline.queries.sessions import Keyset, ListPage, list_sessions
from threadline.queries.sorting import Sort

PAGING_PARAMS = ("limit", "offset", "cursor")


@dataclass(frozen=True)
class PageRequest:
    """How the client asked to page: ``offset`` (None when not sent) or ``cursor``, ``limit`` rows, ``sort``."""

    limit: int
    offset: int | None
    cursor: str | None
    sort: Sort


@dataclass(frozen=True)
class SessionsPage:
    """A fetched page with its pagination block and links."""

    page: ListPage
    pagination: Pagination
    links: Links


async def cursor_key(state: AppState) -> bytes:
    """The key cursors are signed with (derived from the server secret, read from the store once)."""
    secret = await asyncio.to_thread(lambda: state.auth.server_secret)
    return cursors.signing_key(secret)


def read_cursor(key: bytes, query: str, text: str, sort: Sort) -> Keyset:
    """The keyset a cursor points at. Raises Problem 400 (malformed or altered; issued for another query)."""
    try:
        cursor = cursors.decode(key, query, text)
    except cursors.CursorMismatch:
        raise Problem(400, "the cursor was issued for different filters or another sort order: send it with the "
                           "same filters and sort as the request that returned it, or drop it to start from the "
                           "first page") from None
    except cursors.CursorError:
        raise Problem(400, "the cursor is malformed or was altered: send pagination.next_cursor (or a links.next "
                           "URL) unchanged, or drop it to start from the first page") from None
    if len(cursor.values) != len(sort.key()):
        raise Problem(400, "the cursor is malformed: it does not fit the sort order")
    return Keyset(cursor.values, cursor.before)


def _link(request: Request, **paging: Any) -> str:
    carried = [(name, value) for name, value in request.query_params.multi_items() if name not in PAGING_PARAMS]
    return f"{request.url.path}?{urlencode([*carried, *paging.items()])}"


async def fetch_page(request: Request, state: AppState, project: str, filters: SessionFilters, paging: PageRequest,
                     *, kind: str, search: str | None = None) -> SessionsPage:
    """Fetch a page of ``project``'s sessions for ``filters`` (and the content ``search``, if any) and build its
    pagination and links. ``kind`` (list, search) and ``search`` join the filters in the cursor fingerprint.
    Raises Problem 400 (offset with cursor; bad cursor)."""
    if paging.cursor is not None and paging.offset is not None:
        raise Problem(400, "send offset or cursor, not both: a cursor already says where the page starts")
    key = await cursor_key(state)
    query = cursors.fingerprint(project, kind, filters.canonical(), str(paging.sort), search or "")
    keyset = read_cursor(key, query, paging.cursor, paging.sort) if paging.cursor is not None else None
    offset = paging.offset or 0
    page = await asyncio.to_thread(
        list_sessions, state.store, project, limit=paging.limit, offset=offset, filters=filters, sort=paging.sort,
        keyset=keyset, now_ns=time.time_ns(), idle_timeout_ns=end_state.idle_ns(state.settings.session_idle_timeout_s),
        search=search)
    next_cursor = cursors.encode(key, query, page.keys[-1]) if page.has_more and page.keys else None
    limit = paging.limit
    if keyset is None:
        self_link = _link(request, limit=limit, offset=offset)
        next_link = _link(request, limit=limit, offset=offset + limit) if page.has_more else None
        prev_link = _link(request, limit=limit, offset=max(offset - limit, 0)) if offset > 0 else None
    else:
        self_link = _link(request, limit=limit, cursor=paging.cursor)
        next_link = _link(request, limit=limit, cursor=next_cursor) if next_cursor else None
        prev_link = None
        if page.position > 0:
            prev_link = (_link(request, limit=limit, cursor=cursors.encode(key, query, page.keys[0], before=True))
                         if page.keys else _link(request, limit=limit))
    pagination = Pagination(limit=limit, offset=page.position, total=page.total, has_more=page.has_more,
                            next_cursor=next_cursor)
    return SessionsPage(page, pagination, Links(self=self_link, next=next_link, prev=prev_link))
