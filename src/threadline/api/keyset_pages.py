"""Offset or keyset-cursor paging of one session's lists (``/logs``, ``/timeline``), as the sessions list pages.

A request sends ``offset`` (old clients; the default is the first page) or ``cursor`` (``pagination.next_cursor`` of
an earlier page), never both. The cursor is the signed, opaque kind of :mod:`threadline.api.cursors`, holding the
unique sort key of the last row of its page and bound to the project, endpoint, session and filters it was issued
for: sent with other filters it is refused (400) rather than paging through a different result. Every page with more
rows after it gives ``pagination.next_cursor``; ``links.next`` continues in the page's own kind (offset pages with
offsets, cursor pages with cursors); ``links.prev`` is an offset link (``pagination.offset`` is counted on cursor
pages too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from threadline.api import cursors
from threadline.api.list_pages import PAGING_PARAMS, cursor_key
from threadline.api.problems import Problem
from threadline.api.schemas import Links, Pagination
from threadline.api.state import AppState


@dataclass(frozen=True)
class KeysetRequest:
    """A decoded paging request: ``offset`` (0 when a cursor is sent), the sort key ``after`` which the page starts
    (None: at ``offset``), and what is needed to issue the next cursor."""

    offset: int
    after: tuple[Any, ...] | None
    key: bytes
    query: str


async def open_page(state: AppState, *, offset: int | None, cursor: str | None, types: tuple[type, ...],
                    query: tuple[str, ...]) -> KeysetRequest:
    """Decode the request's paging. ``types`` are the types of the sort key's values (e.g. ``(int, str)``);
    ``query`` names what the cursor is bound to (project, endpoint, session, canonical filters). Raises Problem 400
    (offset with cursor; a cursor malformed, altered, or issued for another query)."""
    key = await cursor_key(state)
    fingerprint = cursors.fingerprint(*query)
    if cursor is None:
        return KeysetRequest(offset or 0, None, key, fingerprint)
    if offset is not None:
        raise Problem(400, "send offset or cursor, not both: a cursor already says where the page starts")
    try:
        decoded = cursors.decode(key, fingerprint, cursor)
    except cursors.CursorMismatch:
        raise Problem(400, "the cursor was issued for another session or different filters: send it with the same "
                           "parameters as the request that returned it, or drop it to start from the first page"
                      ) from None
    except cursors.CursorError:
        raise Problem(400, "the cursor is malformed or was altered: send pagination.next_cursor (or a links.next "
                           "URL) unchanged, or drop it to start from the first page") from None
    values = decoded.values
    if decoded.before or len(values) != len(types) or not all(
            type(value) is kind for value, kind in zip(values, types, strict=True)):
        raise Problem(400, "the cursor is malformed: it is not a cursor of this endpoint")
    return KeysetRequest(0, values, key, fingerprint)


def page_meta(request: Request, path: str, paging: KeysetRequest, *, limit: int, position: int, total: int,
              last_key: tuple[Any, ...] | None, sent_cursor: str | None) -> tuple[Pagination, Links]:
    """The ``pagination`` block and ``links`` to ``path`` (carrying the request's other query parameters) of a page
    of ``limit`` rows at ``position`` of ``total``, whose last row has the sort key ``last_key`` (None: empty)."""
    has_more = last_key is not None and position + limit < total
    next_cursor = cursors.encode(paging.key, paging.query, last_key) if has_more and last_key else None
    carried = [(k, v) for k, v in request.query_params.multi_items() if k not in PAGING_PARAMS]

    def link(**paging_params: Any) -> str:
        return f"{path}?{urlencode([*carried, ('limit', limit), *paging_params.items()])}"

    if paging.after is None:
        self_link = link(offset=position)
        next_link = link(offset=position + limit) if has_more else None
    else:
        self_link = link(cursor=sent_cursor)
        next_link = link(cursor=next_cursor) if next_cursor else None
    prev_link = link(offset=max(position - limit, 0)) if position > 0 else None
    return (Pagination(limit=limit, offset=position, total=total, has_more=has_more, next_cursor=next_cursor),
            Links(self=self_link, next=next_link, prev=prev_link))
