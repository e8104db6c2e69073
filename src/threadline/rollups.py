"""Every trace and session aggregate, defined once, as the SQL that recomputes them from deduplicated rows.

Rollups are recomputed, never incremented: the writer re-reads the touched traces' spans with ``FINAL`` (one row per
span however often it arrived) and replaces their ``trace_rollups`` rows, then re-aggregates the touched sessions from
``trace_rollups FINAL``. A batch applied twice therefore yields the same rows (DESIGN.md, "Rollups are exact under
replays").

Definitions (the API reports these, under these names):

* a trace's **session** is the session id of its root span if it has one, else of its earliest span that has one
  (``named_sessions``, every id its spans name, is where a commit cut short may have left rows of it; the writer
  drops it before inserting);
* **tokens and cost** are summed over LLM and embedding spans only, since OpenInference and OpenLLMetry parents may
  repeat their children's usage; a trace's total is GREATEST(reported by the client, sum over spans);
* **duration_ms** of a trace is its last span end minus its first span start; a session's ``total_duration_ms``
  sums its traces' durations, ``wall_duration_ms`` is last activity minus first activity;
* **latency** statistics (avg, p50, p95) are over the session's trace durations;
* **input/output** of a trace are its root's (else the earliest span input and the latest span output);
  ``first_input`` and ``last_output`` of a session are those of its first and last trace.
"""

from __future__ import annotations

# Span types whose token usage is counted (others may repeat their children's usage).
USAGE_TYPES = ("llm", "embedding")
# Rollup columns reuse span column names as aliases; inside the aggregates the names must mean the span columns.
SETTINGS = {"prefer_column_name_to_alias": 1}

_ROOT_FIRST = "(parent_span_id != '', start_time, span_id)"

TRACE_ROLLUP_SELECT = f"""
SELECT
    project_id,
    argMinIf(session_id, {_ROOT_FIRST}, session_id != '') AS session_id,
    arraySort(groupUniqArrayIf(session_id, session_id != '')) AS named_sessions,
    trace_id,
    if(countIf(trace_name != '') > 0, anyIf(trace_name, trace_name != ''), argMin(name, {_ROOT_FIRST})) AS name,
    argMinIf(user_id, {_ROOT_FIRST}, user_id != '') AS user_id,
    min(start_time) AS start_time,
    max(end_time) AS end_time,
    (toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time))) / 1e6 AS duration_ms,
    toUInt32(count()) AS span_count,
    toUInt32(countIf(span_type = 'llm')) AS llm_call_count,
    toUInt32(countIf(span_type = 'tool')) AS tool_call_count,
    toUInt32(countIf(status_code = 'ERROR')) AS error_count,
    sumIf(input_tokens, span_type IN {USAGE_TYPES}) AS input_tokens,
    sumIf(output_tokens, span_type IN {USAGE_TYPES}) AS output_tokens,
    greatest(max(reported_tokens), sumIf(total_tokens, span_type IN {USAGE_TYPES})) AS total_tokens,
    greatest(max(reported_cost_usd), sumIf(cost_usd, span_type IN {USAGE_TYPES})) AS cost_usd,
    arraySort(groupUniqArrayIf(model, model != '')) AS models,
    argMinIf(input, {_ROOT_FIRST}, input != '') AS input,
    argMinIf(output, (parent_span_id != '', -toUnixTimestamp64Nano(end_time), span_id), output != '') AS output,
    if(countIf(status_code = 'ERROR') > 0, 'ERROR', argMin(status_code, {_ROOT_FIRST})) AS status_code,
    argMaxIf(end_state, (end_time, span_id), end_state != '') AS end_state,
    argMinIf(session_previous_id, {_ROOT_FIRST}, session_previous_id != '') AS previous_session_id,
    argMinIf(metadata, {_ROOT_FIRST}, notEmpty(metadata)) AS metadata,
    arraySort(groupUniqArrayArray(tags)) AS tags
FROM (
    -- A span naming a session its trace was deleted from no longer counts as naming it (DELETE /v1/sessions).
    SELECT * REPLACE (if((project_id, trace_id, session_id) IN (
        SELECT project_id, trace_id, session_id FROM {{db}}.deleted_session_traces
        WHERE (project_id, trace_id) IN {{keys:Array(Tuple(String, String))}}), '', session_id) AS session_id)
    FROM {{db}}.spans FINAL
    WHERE (project_id, trace_id) IN {{keys:Array(Tuple(String, String))}}
)
GROUP BY project_id, trace_id
"""

SESSION_ROLLUP_INSERT = """
INSERT INTO {db}.session_rollups
SELECT
    project_id,
    session_id,
    argMinIf(user_id, (start_time, trace_id), user_id != '') AS user_id,
    toUInt32(count()) AS trace_count,
    sum(span_count) AS span_count,
    sum(llm_call_count) AS llm_call_count,
    sum(tool_call_count) AS tool_call_count,
    sum(error_count) AS error_count,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens,
    sum(cost_usd) AS total_cost_usd,
    sum(duration_ms) AS total_duration_ms,
    (toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time))) / 1e6 AS wall_duration_ms,
    avg(duration_ms) AS avg_latency_ms,
    quantileExact(0.5)(duration_ms) AS p50_latency_ms,
    quantileExact(0.95)(duration_ms) AS p95_latency_ms,
    min(start_time) AS first_seen,
    max(end_time) AS last_seen,
    arraySort(groupUniqArrayArray(models)) AS models,
    argMinIf(input, (start_time, trace_id), input != '') AS first_input,
    argMaxIf(output, (start_time, trace_id), output != '') AS last_output,
    argMaxIf(end_state, (end_time, trace_id), end_state != '') AS end_state,
    argMinIf(previous_session_id, (start_time, trace_id), previous_session_id != '') AS previous_session_id,
    -- later traces' metadata values win over earlier ones for the same key
    arrayFold((acc, m) -> mapUpdate(acc, CAST(m.2, 'Map(String, String)')),
              arraySort(x -> x.1, groupArrayIf((start_time, metadata), notEmpty(metadata))),
              CAST(map(), 'Map(String, String)')) AS metadata,
    arraySort(groupUniqArrayArray(tags)) AS tags,
    {version:UInt64} AS version,
    0 AS is_deleted
FROM {db}.trace_rollups FINAL
WHERE (project_id, session_id) IN {keys:Array(Tuple(String, String))}
GROUP BY project_id, session_id
"""

LIVE_SESSIONS = """
SELECT DISTINCT project_id, session_id FROM {db}.trace_rollups FINAL
WHERE (project_id, session_id) IN {keys:Array(Tuple(String, String))}
"""

CURRENT_LINKS = """
SELECT project_id, trace_id, session_id FROM {db}.trace_sessions FINAL
WHERE (project_id, trace_id) IN {keys:Array(Tuple(String, String))}
"""
