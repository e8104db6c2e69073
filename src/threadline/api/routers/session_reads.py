"""One session's reads: ``/v1/sessions/{session_id}/stats|timeline|logs|metrics|export``.

Each answers 404 (problem+json) when the project of the credentials has no such session, and reads only that
project's rows. Definitions of the computed fields are in :mod:`threadline.rollups` (session totals) and
:mod:`threadline.queries.session_reads` (per-model usage, time to first token, idle gaps, the merged log).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from threadline.api import keyset_pages, present, present_reads
from threadline.api import paths as _paths  # noqa: F401  (registers the 'text' path convertor)
from threadline.api.auth import read_project
from threadline.api.problems import Problem
from threadline.api.read_schemas import (
    PROBLEM_RESPONSES,
    READ_ERRORS,
    LogPage,
    SessionExport,
    SessionMetrics,
    SessionStats,
    SessionTimeline,
)
from threadline.api.state import AppState, app_state
from threadline.ingest.otlp_logs import SEVERITY_LEVELS
from threadline.queries import scores as score_queries
from threadline.queries import session_reads as reads
from threadline.queries import sessions as q
from threadline.store.gateway import Row, Store

router = APIRouter(tags=["sessions"])
SessionId = Annotated[str, Path(description="the session's external id, as the application chose it (percent-encode "
                                           "'/' and other reserved characters)", examples=["chat-123"])]
State = Annotated[AppState, Depends(app_state)]
Project = Annotated[str, Depends(read_project)]
IdleGapS = Annotated[float, Query(ge=0, le=31_536_000, description="idle gap threshold in seconds: gaps between "
                                                                   "consecutive turns longer than this are listed")]
MAX_NS = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_NS, description="turns (or entries) to skip")]
PageOffset = Annotated[int | None, Query(ge=0, le=MAX_NS, description="turns (or entries) to skip (offset paging; "
                                                                      "not with cursor)")]
PageCursor = Annotated[str | None, Query(
    min_length=1, max_length=4096, description="opaque keyset cursor: pagination.next_cursor (or the cursor in "
    "links.next) of an earlier page of this list, sent with the same filters; not with offset")]
Severity = Literal["trace", "debug", "info", "warn", "error", "fatal"]
EXPORT_TRACES_CHUNK = 1000
EXPORT_SPANS_CHUNK = 200  # traces per spans read
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


async def _session(state: AppState, project: str, session_id: str) -> Row:
    row = await asyncio.to_thread(q.get_session, state.store, project, session_id)
    if row is None:
        raise Problem(404, f"there is no session {session_id!r} in this project")
    return row


def _clamp(ns: int) -> int:
    """ns since the epoch within what DateTime64(9) holds (1970 to 2262)."""
    return min(max(ns, 0), MAX_NS)


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:  # a time without offset is UTC
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


@router.get("/v1/sessions/{session_id:text}/stats", response_model=SessionStats, responses=READ_ERRORS,
            summary="Get a session's computed stats")
async def session_stats(session_id: SessionId, state: State, project: Project, idle_gap_s: IdleGapS = 300.0
                        ) -> SessionStats:
    """Every computed field of the session: turns, spans, LLM and tool calls, errors, tokens (input, output,
    total), cost (USD), summed and wall duration (ms), turn latency avg/p50/p95 (ms), time to first token when
    reported, per-model calls, tokens and cost, first input, last output, end state, quality score, and the idle
    gaps between turns longer than ``idle_gap_s`` seconds."""
    row = await _session(state, project, session_id)

    def read() -> tuple[list[Row], Row | None, list[Row]]:
        store = state.store
        return (reads.model_usage(store, project, session_id), reads.time_to_first_token(store, project, session_id),
                reads.idle_gaps(store, project, session_id, idle_gap_s * 1000))

    models, ttft, gaps = await asyncio.to_thread(read)
    return present_reads.stats(row, models, ttft, gaps, idle_gap_s=idle_gap_s,
                               idle_timeout_s=state.settings.session_idle_timeout_s)


@router.get("/v1/sessions/{session_id:text}/timeline", response_model=SessionTimeline,
            responses={400: PROBLEM_RESPONSES[400], **READ_ERRORS},
            summary="Get a session's turns with their span trees on one time axis")
async def session_timeline(session_id: SessionId, request: Request, state: State, project: Project,
                           limit: Annotated[int, Query(ge=1, le=1000, description="turns per page (1-1000)")] = 50,
                           offset: PageOffset = None, cursor: PageCursor = None, idle_gap_s: IdleGapS = 300.0
                           ) -> SessionTimeline:
    """A page of the session's turns in order (start time, then trace id), each with its spans depth first
    (``depth``, ``parent_span_id``) and every start as an offset in ms from the session's start; turns after an idle
    gap longer than ``idle_gap_s`` seconds carry ``idle_gap_before_ms``, and the page's gaps are listed in
    ``idle_gaps``. Page with ``offset`` or with the ``cursor`` of ``pagination.next_cursor`` (400 when it is
    malformed or was issued for another session)."""
    row = await _session(state, project, session_id)
    origin = int(row["first_seen_ns"])
    paging = await keyset_pages.open_page(state, offset=offset, cursor=cursor, types=(int, str),
                                          query=(project, "timeline", session_id))

    def read() -> tuple[q.Page, list[Row], list[Row]]:
        page = q.session_traces(state.store, project, session_id, limit=limit, offset=paging.offset,
                                after=paging.after)  # (int, str): checked by open_page
        ids = [t["trace_id"] for t in page.rows]
        spans = reads.turn_spans(state.store, project, ids)
        gaps = reads.idle_gaps(state.store, project, session_id, idle_gap_s * 1000, first_turn=page.position + 1,
                               last_turn=page.position + len(page.rows)) if page.rows else []
        return page, spans, gaps

    page, spans, gaps = await asyncio.to_thread(read)
    by_trace: dict[str, list[Row]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    gap_before = {g["after_turn"] + 1: g["gap_ms"] for g in gaps}
    turns = [present_reads.timeline_turn(t, by_trace.get(t["trace_id"], []), origin, gap_before.get(t["turn"]))
             for t in page.rows]
    last = page.rows[-1] if page.rows else None
    pagination, links = keyset_pages.page_meta(
        request, f"{present.session_path(session_id)}/timeline", paging, limit=limit, position=page.position,
        total=page.total, last_key=(int(last["start_ns"]), last["trace_id"]) if last else None, sent_cursor=cursor)
    return SessionTimeline(session_id=session_id, session_start=present.iso(origin), idle_gap_threshold_s=idle_gap_s,
                           turns=turns, idle_gaps=[present_reads.idle_gap(g) for g in gaps],
                           pagination=pagination, links=links)


@router.get("/v1/sessions/{session_id:text}/logs", response_model=LogPage,
            responses={400: PROBLEM_RESPONSES[400], **READ_ERRORS}, summary="Get a session's log")
async def session_logs(
    session_id: SessionId, request: Request, state: State, project: Project,
    severity: Annotated[Severity | None, Query(
        description="minimum severity (OTLP levels); span exceptions are error, other span events info; records "
                    "without a severity are left out when this is set")] = None,
    start_time: Annotated[datetime | None, Query(
        description="entries at or after this time (ISO 8601, or epoch seconds); UTC when no offset is given")
    ] = None,
    end_time: Annotated[datetime | None, Query(
        description="entries before this time (ISO 8601, or epoch seconds); UTC when no offset is given")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="entries per page (1-1000)")] = 100,
    offset: PageOffset = None, cursor: PageCursor = None,
) -> LogPage:
    """Span events and exceptions of the session's spans, and the OTLP log records of the session (``POST
    /v1/logs``: records naming the session, or naming none but carrying a trace id of the session), merged in time
    order (then source, then entry id). Page with ``offset`` or with the ``cursor`` of ``pagination.next_cursor``,
    sent with the same filters. 400 when ``start_time`` is not before ``end_time``, or the cursor is malformed or
    was issued for other filters or another session."""
    start_ns = _ns(start_time) if start_time else 0
    end_ns = _ns(end_time) if end_time else MAX_NS
    if start_time and end_time and start_ns >= end_ns:
        raise Problem(400, "start_time must be before end_time")
    row = await _session(state, project, session_id)
    query = reads.LogQuery(first_seen_ns=int(row["first_seen_ns"]), last_seen_ns=int(row["last_seen_ns"]),
                           min_severity=SEVERITY_LEVELS[severity] if severity else 0, start_ns=_clamp(start_ns),
                           end_ns=_clamp(end_ns))
    paging = await keyset_pages.open_page(state, offset=offset, cursor=cursor, types=(int, str, str), query=(
        project, "logs", session_id, str(query.min_severity), str(query.start_ns), str(query.end_ns)))
    page = await asyncio.to_thread(reads.session_logs, state.store, project, session_id, query, limit=limit,
                                   offset=paging.offset, after=paging.after)
    last = page.rows[-1] if page.rows else None
    pagination, links = keyset_pages.page_meta(
        request, f"{present.session_path(session_id)}/logs", paging, limit=limit, position=page.position,
        total=page.total, last_key=(int(last["time_ns"]), last["source"], last["entry_id"]) if last else None,
        sent_cursor=cursor)
    return LogPage(data=[present_reads.log_entry(r) for r in page.rows], pagination=pagination, links=links)


@router.get("/v1/sessions/{session_id:text}/metrics", response_model=SessionMetrics, responses=READ_ERRORS,
            summary="Get a session's per-turn series and per-model breakdown")
async def session_metrics(session_id: SessionId, state: State, project: Project,
                          limit: Annotated[int, Query(ge=1, le=1000, description="turns per page (1-1000)")] = 1000,
                          offset: Offset = 0) -> SessionMetrics:
    """Per turn (a page of turns, in order): tokens (input, output, total), cost (USD), latency (ms), errors, LLM
    and tool calls, time to first token (ms, when reported); and per model over the whole session: calls, tokens,
    cost."""
    row = await _session(state, project, session_id)
    origin = int(row["first_seen_ns"])

    def read() -> tuple[q.Page, dict[str, float], list[Row]]:
        page = q.session_traces(state.store, project, session_id, limit=limit, offset=offset)
        ttft = reads.turn_ttft(state.store, project, [t["trace_id"] for t in page.rows])
        return page, ttft, reads.model_usage(state.store, project, session_id)

    page, ttft, models = await asyncio.to_thread(read)
    pagination, links = present.page_meta(f"{present.session_path(session_id)}/metrics", {}, limit=limit,
                                          offset=offset, total=page.total)
    return SessionMetrics(
        session_id=session_id,
        turns=[present_reads.turn_metrics(t, origin, ttft.get(t["trace_id"])) for t in page.rows],
        models=[present_reads.model_usage(m) for m in models], pagination=pagination, links=links)


def _disposition(session_id: str) -> str:
    safe = _UNSAFE_FILENAME.sub("_", session_id)[:100].strip("._") or "session"
    encoded = quote(f"session-{session_id}.json", safe="")
    return f"attachment; filename=\"session-{safe}.json\"; filename*=UTF-8''{encoded}"


async def _export_document(store: Store, project: str, session_id: str, summary: str) -> AsyncIterator[bytes]:
    """The export document in pieces: summary, turns (read in chunks), spans (read by chunks of traces), scores."""
    exported_at = present.iso(time.time_ns())
    yield (f'{{"format":"threadline.session.v1","exported_at":{json.dumps(exported_at)},"summary":{summary},'
           '"turns":[').encode()
    trace_ids: list[str] = []
    offset = 0
    while True:
        page = await asyncio.to_thread(q.session_traces, store, project, session_id, limit=EXPORT_TRACES_CHUNK,
                                       offset=offset, with_total=False)
        if page.rows:
            yield ((b"," if trace_ids else b"")
                   + b",".join(present.trace(t).model_dump_json().encode() for t in page.rows))
        trace_ids += [t["trace_id"] for t in page.rows]
        if len(page.rows) < EXPORT_TRACES_CHUNK:
            break
        offset += EXPORT_TRACES_CHUNK
    yield b'],"spans":['
    turn_of = {trace_id: index for index, trace_id in enumerate(trace_ids)}
    wrote = False
    for at in range(0, len(trace_ids), EXPORT_SPANS_CHUNK):
        rows = await asyncio.to_thread(reads.export_spans, store, project, trace_ids[at:at + EXPORT_SPANS_CHUNK])
        rows.sort(key=lambda s: (turn_of[s["trace_id"]], s["start_ns"], s["span_id"]))
        if rows:
            yield ((b"," if wrote else b"")
                   + b",".join(present_reads.export_span(s).model_dump_json().encode() for s in rows))
            wrote = True
    found = await asyncio.to_thread(score_queries.list_scores, store, project, "session", session_id)
    scores = b",".join(present_reads.export_score(s).model_dump_json().encode() for s in found)
    yield b'],"scores":[' + scores + b"]}"


@router.get("/v1/sessions/{session_id:text}/export", response_class=StreamingResponse,
            responses={200: {"model": SessionExport, "description": "the session as one JSON document, sent as an "
                                                                      "attachment (Content-Disposition)"},
                       **READ_ERRORS},
            summary="Export a session as one JSON document")
async def export_session(session_id: SessionId, state: State, project: Project) -> StreamingResponse:
    """The whole session: ``summary`` (the session model), ``turns`` (every trace rollup in turn order), ``spans``
    (every span with attributes and events, by turn then start time) and ``scores``. Streamed, so a large
    session is not held in memory; a failure after the first byte ends the document early (invalid JSON)."""
    row = await _session(state, project, session_id)
    summary = present.session(row, state.settings.session_idle_timeout_s).model_dump_json()
    return StreamingResponse(_export_document(state.store, project, session_id, summary),
                             media_type="application/json",
                             headers={"Content-Disposition": _disposition(session_id)})
