"""Every trace and session aggregate, defined once, and the SQL the writer reads them with.

Definitions (the API reports these, under these names):

* a trace's **session** is the session id of its root span if it has one, else of its earliest span that has one;
  a session the trace was deleted from (``deleted_session_traces``) no longer counts;
* **tokens and cost** are summed over LLM and embedding spans only (:data:`USAGE_TYPES`), since OpenInference and
  OpenLLMetry parents may repeat their children's usage; a trace's total is GREATEST(reported by the client, sum
  over spans);
* **duration_ms** of a trace is its last span end minus its first span start; a session's ``total_duration_ms``
  sums its traces' durations, ``wall_duration_ms`` is last activity minus first activity;
* **latency** statistics (avg, p50, p95) are over the session's trace durations (exact quantiles);
* **input/output** of a trace are its root's (else the earliest span input and the latest span output);
  ``first_input`` and ``last_output`` of a session are those of its first and last trace that has one.

Where each is computed, exactly, with work bounded by the batch (DESIGN.md, "A commit's cost is proportional to its
batch"):

* per trace, :mod:`threadline.writer.trace_state` folds a batch's spans into the trace's stored merge state; a
  batch that repeats a stored span rebuilds the trace from :data:`SPAN_FACTS` (its deduplicated spans, ``FINAL``)
  with the same fold;
* per session, :data:`SESSION_ROLLUP` re-aggregates the session's ``trace_rollups`` rows without their text (one
  narrow key range per session), and the writer then fetches only the two winning texts (:data:`TRACE_TEXT`),
  usually from the batch it just folded.
"""

from __future__ import annotations

# Span types whose token usage is counted (others may repeat their children's usage).
USAGE_TYPES = ("llm", "embedding")
# Rollup columns reuse span column names as aliases; inside the aggregates the names must mean the span columns.
SETTINGS = {"prefer_column_name_to_alias": 1}
# The writer's session re-aggregation runs on one thread: ~12% less CPU than on two, for ~25% more wall time (2,500
# sessions of a 1M-span store: 163 against 184 ms of CPU). The embedded store's two cores are busy under ingest.
SESSION_ROLLUP_SETTINGS = {**SETTINGS, "max_threads": 1}

SPAN_FACTS = """
SELECT project_id, trace_id, span_id, parent_span_id, session_id, user_id, session_previous_id, name, trace_name,
       span_type, toUnixTimestamp64Nano(start_time) AS start_ns, toUnixTimestamp64Nano(end_time) AS end_ns,
       status_code, input_tokens, output_tokens, total_tokens, cost_usd, reported_cost_usd, reported_tokens,
       end_state, model, metadata, tags, input, output, toUnixTimestamp64Micro(ingested_at) AS ingested_us
FROM {db}.spans FINAL
WHERE (project_id, trace_id) IN {keys:Array(Tuple(String, String))}
"""

EXCLUDED_SESSIONS = """
SELECT project_id, trace_id, groupUniqArray(session_id) AS sessions FROM {db}.deleted_session_traces
WHERE (project_id, trace_id) IN {keys:Array(Tuple(String, String))}
GROUP BY project_id, trace_id
"""

TRACE_STATES = """
SELECT * EXCEPT (start_time, end_time), toUnixTimestamp64Nano(start_time) AS start_ns,
       toUnixTimestamp64Nano(end_time) AS end_ns
FROM {db}.trace_state FINAL
WHERE (project_id, trace_id) IN {keys:Array(Tuple(String, String))}
"""

# One winning text per trace: ``{column}`` is ``input`` or ``output`` (a constant of the writer, never user input),
# so only that column's granules are read.
TRACE_TEXT = """
SELECT project_id, trace_id, {column} AS text FROM {{db}}.trace_rollups FINAL
WHERE (project_id, session_id, trace_id) IN {{keys:Array(Tuple(String, String, String))}}
"""

# The sessions named in {sessions} of the projects in {projects}: a superset of the (project, session) pairs wanted
# when two of those projects share a session id (the caller drops the others). Two lists of strings, not one of
# tuples: binding and matching 2,500 tuples cost ~10% of the statement.
SESSION_ROLLUP = """
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
    -- the traces whose texts are the session's first input and last output, and their rollup versions
    argMinIf(trace_id, (start_time, trace_id), has_input) AS first_input_trace,
    argMinIf(version, (start_time, trace_id), has_input) AS first_input_version,
    argMaxIf(trace_id, (start_time, trace_id), has_output) AS last_output_trace,
    argMaxIf(version, (start_time, trace_id), has_output) AS last_output_version,
    argMaxIf(end_state, (end_time, trace_id), end_state != '') AS end_state,
    argMinIf(previous_session_id, (start_time, trace_id), previous_session_id != '') AS previous_session_id,
    -- later traces' metadata values win over earlier ones for the same key
    arrayFold((acc, m) -> mapUpdate(acc, CAST(m.2, 'Map(String, String)')),
              arraySort(x -> x.1, groupArrayIf((start_time, metadata), notEmpty(metadata))),
              CAST(map(), 'Map(String, String)')) AS metadata,
    arraySort(groupUniqArrayArray(tags)) AS tags
FROM {db}.trace_rollups FINAL
WHERE project_id IN {projects:Array(String)} AND session_id IN {sessions:Array(String)}
GROUP BY project_id, session_id
"""

PENDING_BATCHES = """
SELECT batch_id, keys FROM {db}.rollup_journal FINAL WHERE done = 0 ORDER BY batch_id
"""
