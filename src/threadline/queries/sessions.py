"""Session reads: the project's sessions list, one session, its turns, and one trace with its spans.

Every statement reads rollups with ``FINAL`` (one row per key even before merges) and filters on ``project_id``
first, the leading column of every sort key. User values are bound as typed parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.queries.scores import QUALITY_BY_SESSION
from threadline.store.gateway import Row, Store

_NS = "toUnixTimestamp64Nano"

SESSION_COLUMNS = f"""
    r.session_id AS session_id, r.project_id AS project_id, a.name AS name,
    if(r.user_id != '', r.user_id, a.user_id) AS user_id,
    r.trace_count AS trace_count, r.span_count AS span_count, r.llm_call_count AS llm_call_count,
    r.tool_call_count AS tool_call_count, r.error_count AS error_count,
    r.input_tokens AS input_tokens, r.output_tokens AS output_tokens, r.total_tokens AS total_tokens,
    r.total_cost_usd AS total_cost_usd, r.total_duration_ms AS total_duration_ms,
    r.wall_duration_ms AS wall_duration_ms, r.avg_latency_ms AS avg_latency_ms,
    r.p50_latency_ms AS p50_latency_ms, r.p95_latency_ms AS p95_latency_ms,
    {_NS}(r.first_seen) AS first_seen_ns, {_NS}(r.last_seen) AS last_seen_ns, r.models AS models,
    r.first_input AS first_input, r.last_output AS last_output, r.end_state AS reported_end_state,
    a.end_state AS annotated_end_state, r.previous_session_id AS previous_session_id,
    mapUpdate(CAST(r.metadata, 'Map(String, String)'), CAST(a.metadata, 'Map(String, String)')) AS metadata,
    arraySort(arrayDistinct(arrayConcat(r.tags, a.tags))) AS tags, a.bookmarked AS bookmarked,
    r.version AS version_ns, {_NS}(a.created_at) AS annotation_created_ns,
    {_NS}(a.updated_at) AS annotation_updated_ns,
    if(q.session_id = '', NULL, q.quality_score) AS quality_score
"""

SESSION_FROM = f"""
FROM {{db}}.session_rollups AS r FINAL
LEFT JOIN (
    SELECT session_id, name, user_id, metadata, tags, bookmarked, end_state, deleted, created_at, updated_at
    FROM {{db}}.session_annotations FINAL WHERE project_id = {{project_id:String}}
) AS a ON a.session_id = r.session_id
LEFT JOIN ({QUALITY_BY_SESSION}) AS q ON q.session_id = r.session_id
WHERE r.project_id = {{project_id:String}} AND a.deleted = 0
"""

TRACE_COLUMNS = f"""
    trace_id, session_id, name, user_id, {_NS}(start_time) AS start_ns, {_NS}(end_time) AS end_ns, duration_ms,
    span_count, llm_call_count, tool_call_count, error_count, input_tokens, output_tokens, total_tokens, cost_usd,
    models, input, output, status_code, metadata, tags
"""

SPAN_COLUMNS = f"""
    span_id, parent_span_id, name, kind, span_type, {_NS}(start_time) AS start_ns, {_NS}(end_time) AS end_ns,
    duration_ns, status_code, status_message, service_name, scope_name, model, input_tokens, output_tokens,
    total_tokens, cost_usd, input, output, session_id, user_id, attributes, resource_attributes,
    arrayMap(t -> {_NS}(t), events_time) AS events_time_ns, events_name, events_attributes
"""


@dataclass(frozen=True)
class Page:
    """A page of rows and the total number of rows matching."""

    rows: list[Row]
    total: int


def list_sessions(store: Store, project_id: str, *, limit: int, offset: int) -> Page:
    """Sessions of ``project_id``, most recent activity first (ties by session id), with their rollups."""
    params: dict[str, Any] = {"project_id": project_id, "limit": limit, "offset": offset}
    rows = store.select(
        f"SELECT {SESSION_COLUMNS} {SESSION_FROM} ORDER BY r.last_seen DESC, r.session_id DESC "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        params, tag="sessions.list")
    total = store.select(f"SELECT count() AS total {SESSION_FROM}", params, tag="sessions.count")[0]["total"]
    return Page(rows, int(total))


def get_session(store: Store, project_id: str, session_id: str) -> Row | None:
    """One session's rollup, or None when the project has no such session."""
    rows = store.select(
        f"SELECT {SESSION_COLUMNS} {SESSION_FROM} AND r.session_id = {{session_id:String}}",
        {"project_id": project_id, "session_id": session_id}, tag="sessions.get")
    return rows[0] if rows else None


def session_traces(store: Store, project_id: str, session_id: str, *, limit: int, offset: int,
                   with_total: bool = True) -> Page:
    """The session's traces (turns) in start order, with their rollups; ``turn`` numbers from 1. Without
    ``with_total`` the page's total is -1 (the caller knows it from the session rollup) and one query is saved."""
    params: dict[str, Any] = {"project_id": project_id, "session_id": session_id, "limit": limit, "offset": offset}
    where = "WHERE project_id = {project_id:String} AND session_id = {session_id:String}"
    rows = store.select(
        f"SELECT {TRACE_COLUMNS} FROM {{db}}.trace_rollups FINAL {where} ORDER BY start_time, trace_id "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}", params, tag="sessions.traces")
    for index, row in enumerate(rows):
        row["turn"] = offset + index + 1
    if not with_total:
        return Page(rows, -1)
    total = store.select(f"SELECT count() AS total FROM {{db}}.trace_rollups FINAL {where}", params,
                         tag="sessions.traces_count")[0]["total"]
    return Page(rows, int(total))


def get_trace(store: Store, project_id: str, trace_id: str) -> tuple[Row, list[Row]] | None:
    """A trace's rollup and all its spans in start order, or None when unknown in the project."""
    params = {"project_id": project_id, "trace_id": trace_id}
    link = store.select(
        "SELECT session_id FROM {db}.trace_sessions FINAL "
        "WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}", params, tag="traces.link")
    if not link:
        return None
    params["session_id"] = link[0]["session_id"]
    rollup = store.select(
        f"SELECT {TRACE_COLUMNS} FROM {{db}}.trace_rollups FINAL WHERE project_id = {{project_id:String}} "
        "AND session_id = {session_id:String} AND trace_id = {trace_id:String}", params, tag="traces.rollup")
    if not rollup:
        return None
    spans = store.select(
        f"SELECT {SPAN_COLUMNS} FROM {{db}}.spans FINAL WHERE project_id = {{project_id:String}} "
        "AND trace_id = {trace_id:String} ORDER BY start_time, span_id", params, tag="traces.spans")
    return rollup[0], spans
