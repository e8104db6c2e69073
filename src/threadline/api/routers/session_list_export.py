"""``GET /v1/sessions/export``: the filtered sessions list with its stats, streamed as JSON Lines or Parquet."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from threadline.api.auth import read_project
from threadline.api.list_export import jsonl, parquet, session_chunks
from threadline.api.list_params import (
    FILTERS_HELP,
    SearchParam,
    SortParam,
    only_params,
    parse_sort,
    session_filters,
)
from threadline.api.list_schemas import LIST_ERRORS
from threadline.api.schemas import Session
from threadline.api.state import AppState, app_state
from threadline.queries import end_state
from threadline.queries.filters import SessionFilters

router = APIRouter(tags=["sessions"])
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
DESCRIPTION = (
    "Every session matching the filters, with its stats (the fields of the Session schema), in `sort` order, "
    "streamed: `format=jsonl` writes one Session JSON document per line (`application/x-ndjson`), "
    "`format=parquet` a Parquet file (`application/vnd.apache.parquet`; times as timestamp[us, UTC], one row group "
    "per 1000 sessions). Sessions are read 1000 at a time by keyset, so the server's memory does not grow with "
    "the export.\n\n" + FILTERS_HELP)


@router.get("/v1/sessions/export", summary="Export the sessions list", response_class=StreamingResponse,
            description=DESCRIPTION, dependencies=[Depends(only_params("format", "sort", "search"))], responses={
                200: {"description": "the sessions, streamed", "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}, "example": '{"session_id": "chat-A", '
                                             '"trace_count": 2, "total_cost_usd": 0.00729, "...": "..."}\n'},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}},
                **LIST_ERRORS})
async def export_sessions(
    state: Annotated[AppState, Depends(app_state)], project: Annotated[str, Depends(read_project)],
    filters: Annotated[SessionFilters, Depends(session_filters)],
    format: Annotated[Literal["jsonl", "parquet"], Query(description="jsonl (one session per line) or parquet")]
    = "jsonl",
    sort: SortParam = "-last_seen", search: SearchParam = None,
) -> StreamingResponse:
    """Stream the filtered list (see ``DESCRIPTION``)."""
    order = parse_sort(sort)
    timeout = state.settings.session_idle_timeout_s
    chunks = session_chunks(state.store, project, filters, order, now_ns=time.time_ns(), idle_timeout_s=timeout,
                            idle_timeout_ns=end_state.idle_ns(timeout), search=search)
    # Read the first chunk before answering, so that a failing query is still a problem+json error, not a cut stream.
    first = await asyncio.to_thread(next, chunks, None)
    rest: Iterator[list[Session]] = itertools.chain([first] if first else [], chunks)
    body = jsonl(rest) if format == "jsonl" else parquet(rest)
    return StreamingResponse(body, media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="sessions.{format}"'})
