"""Reads of one session beyond its rollup: per-model usage, time to first token, idle gaps, the spans of a page of
turns, the merged log, and every span for export.

Definitions (the only place they are written; totals of the session itself are ``threadline.rollups``'):

* the session's **traces** are its ``trace_rollups FINAL`` rows (:data:`SESSION_TRACE_IDS`); its spans are the
  ``spans FINAL`` rows of those traces, whichever session id each span carries;
* **per-model usage**: per model named by a span, the LLM/embedding spans (``rollups.USAGE_TYPES``) of that model
  (``call_count``) and their tokens and cost, as in the rollups. A trace's reported total (``total_cost_usd`` on
  native ingest) is not split by model, so the models' costs may sum to less than the session's;
* **time to first token** of an LLM span: attribute ``keys.TIME_TO_FIRST_TOKEN_S`` (seconds) if it holds a finite
  non-negative number, else the first event named in ``keys.FIRST_TOKEN_EVENTS`` minus the span start; of a turn, its
  earliest LLM span that reports one;
* an **idle gap** precedes turn n+1 (``after_turn`` = n): its start minus the latest end of turns 1..n, listed when
  greater than the threshold. Turns are numbered from 1 by (start time, trace id), as ``/traces`` numbers them;
* the session's **log** merges span events of its spans (an event named ``exception`` is severity ERROR (17), any
  other INFO (9)) with the OTLP log records (``logs FINAL``) that name the session, or that name none but carry a
  trace id of the session (resolved here, at read time, so arrival order and trace moves do not matter). Those
  session-less records are looked for between the session's first activity minus :data:`LOG_TRACE_MARGIN_NS` and its
  last plus the margin: the ``logs`` sort key puts them in one ``(project, '', timestamp)`` range per project, and the
  time bound keeps the read to that part of it. A log naming a session its trace was deleted from is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline import rollups
from threadline.ingest import keys
from threadline.queries.sessions import SPAN_COLUMNS, Page
from threadline.store.gateway import Row, Store

_NS = "toUnixTimestamp64Nano"
LOG_TRACE_MARGIN_NS = 3600 * 10**9  # 1 h
EXCEPTION_SEVERITY = 17  # OTLP SeverityNumber ERROR
EVENT_SEVERITY = 9  # OTLP SeverityNumber INFO

SESSION_TRACE_IDS = """
SELECT trace_id FROM {db}.trace_rollups FINAL
WHERE project_id = {project_id:String} AND session_id = {session_id:String}
"""

SESSION_SPANS_WHERE = f"project_id = {{project_id:String}} AND trace_id IN ({SESSION_TRACE_IDS})"

# Columns ``_ttft_s``, ``_ft_idx`` and ``ttft_ms`` (ms, NULL when the span reports none) of a spans row; needs the
# parameters of :func:`_ttft_params`. Select from spans of type llm only, and keep ``ttft_ms >= 0``.
TTFT_COLUMNS = f"""
    toFloat64OrNull(arrayFirst(v -> v != '', arrayMap(k -> attributes[k], {{ttft_keys:Array(String)}}))) AS _ttft_s,
    arrayFirstIndex(n -> has({{first_token_events:Array(String)}}, n), events_name) AS _ft_idx,
    if(isFinite(ifNull(_ttft_s, nan)) AND _ttft_s >= 0, _ttft_s * 1000,
       if(_ft_idx > 0, ({_NS}(events_time[_ft_idx]) - {_NS}(start_time)) / 1e6, NULL)) AS ttft_ms
"""

_TURNS = f"""
SELECT row_number() OVER (ORDER BY start_time, trace_id) AS turn, trace_id,
       ({_NS}(start_time) - max({_NS}(end_time)) OVER (ORDER BY start_time, trace_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) / 1e6 AS gap_ms
FROM {{db}}.trace_rollups FINAL
WHERE project_id = {{project_id:String}} AND session_id = {{session_id:String}}
"""

TIMELINE_SPAN_COLUMNS = f"""
    trace_id, span_id, parent_span_id, name, kind, span_type, model, status_code, status_message,
    {_NS}(start_time) AS start_ns, duration_ns, input_tokens, output_tokens, total_tokens, cost_usd,
    length(events_name) AS event_count
"""

_EVENT_ENTRIES = f"""
SELECT {_NS}(ev.1) AS time_ns, if(ev.2 = 'exception', 'exception', 'span_event') AS source,
       toUInt8(if(ev.2 = 'exception', {EXCEPTION_SEVERITY}, {EVENT_SEVERITY})) AS severity_number,
       '' AS severity_text, toString(ev.2) AS name,
       if(ev.2 = 'exception', ev.3['exception.message'], '') AS body, trace_id, span_id,
       CAST(ev.3, 'Map(String, String)') AS attributes,
       concat(trace_id, ':', span_id, ':', leftPad(toString(idx), 6, '0')) AS entry_id
FROM {{db}}.spans FINAL
ARRAY JOIN arrayZip(events_time, events_name, events_attributes) AS ev, arrayEnumerate(events_name) AS idx
WHERE {SESSION_SPANS_WHERE}
"""

_LOG_ENTRIES = f"""
SELECT {_NS}(timestamp) AS time_ns, 'log' AS source, severity_number, toString(severity_text) AS severity_text,
       attributes['event.name'] AS name, body, trace_id, span_id, CAST(attributes, 'Map(String, String)') AS attributes,
       log_id AS entry_id
FROM {{db}}.logs FINAL
WHERE project_id = {{project_id:String}} AND (
    (session_id = {{session_id:String}} AND (trace_id = '' OR trace_id NOT IN (
        SELECT trace_id FROM {{db}}.deleted_session_traces
        WHERE project_id = {{project_id:String}} AND session_id = {{session_id:String}})))
    OR (session_id = '' AND trace_id != ''
        AND timestamp BETWEEN fromUnixTimestamp64Nano({{trace_logs_from:Int64}}, 'UTC')
                          AND fromUnixTimestamp64Nano({{trace_logs_to:Int64}}, 'UTC')
        AND trace_id IN ({SESSION_TRACE_IDS})))
  AND timestamp >= fromUnixTimestamp64Nano({{start_ns:Int64}}, 'UTC')
  AND timestamp < fromUnixTimestamp64Nano({{end_ns:Int64}}, 'UTC')
"""

_LOG_FILTER = """
WHERE severity_number >= {min_severity:UInt8} AND time_ns >= {start_ns:Int64} AND time_ns < {end_ns:Int64}
"""


def _ttft_params() -> dict[str, Any]:
    return {"ttft_keys": [k.name for k in keys.TIME_TO_FIRST_TOKEN_S],
            "first_token_events": list(keys.FIRST_TOKEN_EVENTS)}


def _session_params(project_id: str, session_id: str) -> dict[str, Any]:
    return {"project_id": project_id, "session_id": session_id}


def model_usage(store: Store, project_id: str, session_id: str) -> list[Row]:
    """Per model: ``model``, ``call_count``, ``input_tokens``, ``output_tokens``, ``total_tokens``, ``cost_usd``
    (USD); most expensive first, then by name."""
    return store.select(
        f"""SELECT toString(model) AS model,
               countIf(has({{usage:Array(String)}}, span_type)) AS call_count,
               sumIf(input_tokens, has({{usage:Array(String)}}, span_type)) AS input_tokens,
               sumIf(output_tokens, has({{usage:Array(String)}}, span_type)) AS output_tokens,
               sumIf(total_tokens, has({{usage:Array(String)}}, span_type)) AS total_tokens,
               sumIf(cost_usd, has({{usage:Array(String)}}, span_type)) AS cost_usd
        FROM {{db}}.spans FINAL WHERE {SESSION_SPANS_WHERE} AND model != ''
        GROUP BY model ORDER BY cost_usd DESC, model""",
        {**_session_params(project_id, session_id), "usage": list(rollups.USAGE_TYPES)}, tag="session.models")


def time_to_first_token(store: Store, project_id: str, session_id: str) -> Row | None:
    """Over the session's LLM spans reporting a time to first token: ``call_count``, ``avg_ms``, ``p50_ms``,
    ``p95_ms`` (exact quantiles); None when none reports one."""
    row = store.select(
        f"""SELECT count() AS call_count, avg(ttft_ms) AS avg_ms, quantileExact(0.5)(ttft_ms) AS p50_ms,
               quantileExact(0.95)(ttft_ms) AS p95_ms
        FROM (SELECT {TTFT_COLUMNS} FROM {{db}}.spans FINAL WHERE {SESSION_SPANS_WHERE} AND span_type = 'llm')
        WHERE ttft_ms >= 0""",
        {**_session_params(project_id, session_id), **_ttft_params()}, tag="session.ttft")[0]
    return row if row["call_count"] else None


def turn_ttft(store: Store, project_id: str, trace_ids: list[str]) -> dict[str, float]:
    """Time to first token (ms) of each of ``trace_ids`` that reports one: its earliest LLM span's."""
    if not trace_ids:
        return {}
    rows = store.select(
        f"""SELECT trace_id, argMin(ttft_ms, (start_time, span_id)) AS turn_ttft_ms
        FROM (SELECT trace_id, span_id, start_time, {TTFT_COLUMNS} FROM {{db}}.spans FINAL
              WHERE project_id = {{project_id:String}} AND trace_id IN {{trace_ids:Array(String)}}
                AND span_type = 'llm')
        WHERE ttft_ms >= 0 GROUP BY trace_id""",
        {"project_id": project_id, "trace_ids": trace_ids, **_ttft_params()}, tag="session.turn_ttft")
    return {r["trace_id"]: float(r["turn_ttft_ms"]) for r in rows}


def idle_gaps(store: Store, project_id: str, session_id: str, threshold_ms: float, *, first_turn: int = 2,
              last_turn: int | None = None) -> list[Row]:
    """Idle gaps longer than ``threshold_ms`` before turns ``first_turn``..``last_turn`` (all when None), in turn
    order: ``after_turn`` (the turn the gap follows) and ``gap_ms``."""
    return store.select(
        f"""SELECT toUInt64(turn - 1) AS after_turn, gap_ms FROM ({_TURNS})
        WHERE turn >= greatest(2, {{first_turn:UInt64}}) AND turn <= {{last_turn:UInt64}}
          AND gap_ms > {{threshold_ms:Float64}}
        ORDER BY turn""",
        {**_session_params(project_id, session_id), "threshold_ms": threshold_ms, "first_turn": first_turn,
         "last_turn": last_turn if last_turn is not None else 2**63}, tag="session.idle_gaps")


def turn_spans(store: Store, project_id: str, trace_ids: list[str]) -> list[Row]:
    """The spans of ``trace_ids`` for the timeline (no text, attributes or events), by trace then start time."""
    if not trace_ids:
        return []
    return store.select(
        f"""SELECT {TIMELINE_SPAN_COLUMNS} FROM {{db}}.spans FINAL
        WHERE project_id = {{project_id:String}} AND trace_id IN {{trace_ids:Array(String)}}
        ORDER BY trace_id, start_time, span_id""",
        {"project_id": project_id, "trace_ids": trace_ids}, tag="session.timeline_spans")


def export_spans(store: Store, project_id: str, trace_ids: list[str]) -> list[Row]:
    """Every column of the spans of ``trace_ids`` (attributes and events included), by start time."""
    if not trace_ids:
        return []
    return store.select(
        f"""SELECT trace_id, {SPAN_COLUMNS} FROM {{db}}.spans FINAL
        WHERE project_id = {{project_id:String}} AND trace_id IN {{trace_ids:Array(String)}}
        ORDER BY start_time, trace_id, span_id""",
        {"project_id": project_id, "trace_ids": trace_ids}, tag="session.export_spans")


@dataclass(frozen=True)
class LogQuery:
    """Filters of a session's log: entries with ``min_severity`` ≤ severity number (0 lets unspecified records
    through) and ``start_ns`` ≤ time < ``end_ns`` (ns since the epoch); the session's first and last activity (ns)
    bound the search for records that carry only a trace id."""

    first_seen_ns: int
    last_seen_ns: int
    min_severity: int = 0
    start_ns: int = 0
    end_ns: int = 2**63 - 1


LOG_KEY_AFTER = "(time_ns, source, entry_id) > ({after_ns:Int64}, {after_source:String}, {after_entry:String})"


def session_logs(store: Store, project_id: str, session_id: str, query: LogQuery, *, limit: int,
                 offset: int, after: tuple[int, str, str] | None = None) -> Page:
    """A page of the session's log in time order (ties: source, then entry id; the three are unique): rows with
    ``time_ns``, ``source`` (log, span_event, exception), ``severity_number``, ``severity_text``, ``name``,
    ``body``, ``trace_id``, ``span_id``, ``attributes``, ``entry_id``; the number of entries matching; and the
    page's position. ``after`` (the time_ns, source and entry_id of an entry) starts the page after that entry
    instead of at ``offset`` (its position is then counted)."""
    params: dict[str, Any] = {
        **_session_params(project_id, session_id), "min_severity": query.min_severity, "start_ns": query.start_ns,
        "end_ns": query.end_ns, "trace_logs_from": max(query.first_seen_ns - LOG_TRACE_MARGIN_NS, 0),
        "trace_logs_to": min(query.last_seen_ns + LOG_TRACE_MARGIN_NS, 2**63 - 1), "limit": limit,
        "offset": offset}
    merged = f"SELECT * FROM ({_EVENT_ENTRIES} UNION ALL {_LOG_ENTRIES}) {_LOG_FILTER}"
    if after is None:
        counted = "count() AS total, toUInt64({offset:UInt64}) AS position"
        page_filter = ""
    else:
        params.update(after_ns=after[0], after_source=after[1], after_entry=after[2], offset=0)
        counted = f"count() AS total, countIf(NOT {LOG_KEY_AFTER}) AS position"
        page_filter = f"AND {LOG_KEY_AFTER}"
    rows = store.select(f"{merged} {page_filter} ORDER BY time_ns, source, entry_id "
                        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}", params, tag="session.logs")
    counts = store.select(f"SELECT {counted} FROM ({merged})", params, tag="session.logs_count")[0]
    return Page(rows, int(counts["total"]), int(counts["position"]) if after is not None else offset)
