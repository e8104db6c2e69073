"""``GET /v1/sessions/search``: sessions whose id, name, or any turn's input or output contains a text, with the list's
filters, sort and pagination, each hit carrying its matching turns and highlighted snippets."""

from __future__ import annotations

import asyncio
import html
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from threadline.api import present
from threadline.api.auth import read_project
from threadline.api.list_pages import PageRequest, fetch_page
from threadline.api.list_params import (
    FILTERS_HELP,
    MAX_SEARCH,
    CursorParam,
    Limit,
    OffsetParam,
    SortParam,
    only_params,
    parse_sort,
    session_filters,
)
from threadline.api.list_schemas import LIST_ERRORS, SearchHit, SearchMatch, SearchPage
from threadline.api.schemas import Session
from threadline.api.state import AppState, app_state
from threadline.queries.filters import SessionFilters
from threadline.queries.search import SNIPPET_CONTEXT, snippet, turn_numbers
from threadline.store.gateway import Row

router = APIRouter(tags=["sessions"])
DESCRIPTION = (
    "Sessions whose id, name, or the input or output of any turn contains `q` (case-insensitive, literal: quotes, "
    "`%`, `_` and any unicode are matched as typed), with every list filter, sort and pagination of `GET "
    "/v1/sessions` (default: most recent activity first). Each hit is the session with its stats plus its first "
    "matching turns (trace id, turn number, start time) and an HTML-escaped snippet with the match in "
    "`<mark>`…`</mark>`.\n\n" + FILTERS_HELP)


def _fallback(text: str, cut_before: bool, cut_after: bool) -> str:
    # ClickHouse's and Python's case folding can differ on rare characters: show the excerpt, unmarked.
    cut = text[:2 * SNIPPET_CONTEXT]
    return ("…" if cut_before else "") + html.escape(cut) + ("…" if cut_after or len(text) > len(cut) else "")


def turn_match(match: Row, turn: int | None, term: str) -> SearchMatch:
    """One of a hit's ``first_matches`` (start_ns, trace_id, field, excerpt_at, text_length, excerpt; see
    :data:`threadline.queries.search.MATCHES`) as a match with its snippet."""
    start_ns, trace_id, field, excerpt_at, text_length, excerpt = (match[str(i)] for i in range(1, 7))
    cut_before, cut_after = excerpt_at > 1, excerpt_at - 1 + len(excerpt) < text_length
    cut = snippet(excerpt, term, cut_before=cut_before, cut_after=cut_after)
    return SearchMatch(field=field, trace_id=trace_id, turn=turn, start_time=present.iso(start_ns),
                       snippet=cut if cut is not None else _fallback(excerpt, cut_before, cut_after))


def search_hit(session: Session, row: Row, turns: dict[str, int], term: str) -> SearchHit:
    """A session of the page with where it matched: its first matching turns, else its id, else its name."""
    matches = [turn_match(match, turns.get(match["2"]), term) for match in row.get("first_matches") or []]
    if not matches:
        for field, text in (("session_id", session.session_id), ("name", session.name or "")):
            cut = snippet(text, term)
            if cut is not None:
                matches.append(SearchMatch(field=field, snippet=cut))  # type: ignore[arg-type]
                break
    return SearchHit(**session.model_dump(), matched_turns=int(row.get("matched_turns") or 0), matches=matches)


@router.get("/v1/sessions/search", response_model=SearchPage, summary="Search sessions by content",
            responses=LIST_ERRORS, description=DESCRIPTION,
            dependencies=[Depends(only_params("q", "limit", "offset", "cursor", "sort"))])
async def search_sessions(
    request: Request, state: Annotated[AppState, Depends(app_state)], project: Annotated[str, Depends(read_project)],
    filters: Annotated[SessionFilters, Depends(session_filters)],
    q: Annotated[str, Query(min_length=1, max_length=MAX_SEARCH, description="the text to find (1-500 characters), "
                            "matched literally and case-insensitively", examples=["refund"])],
    limit: Limit = 50, offset: OffsetParam = None, cursor: CursorParam = None, sort: SortParam = "-last_seen",
) -> SearchPage:
    """Search sessions (see ``DESCRIPTION``)."""
    got = await fetch_page(request, state, project, filters, PageRequest(limit, offset, cursor, parse_sort(sort)),
                           kind="search", search=q)
    rows = got.page.rows
    traces = [match["2"] for row in rows for match in row.get("first_matches") or []]
    turns = await asyncio.to_thread(turn_numbers, state.store, project, [row["session_id"] for row in rows], traces)
    timeout = state.settings.session_idle_timeout_s
    hits = [search_hit(present.session(row, timeout), row, turns, q) for row in rows]
    return SearchPage(data=hits, pagination=got.pagination, links=got.links)
