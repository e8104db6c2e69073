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
* per session, :func:`threadline.writer.session_state.aggregate` computes the rollup from the session's members
  (the narrow, text-free columns of its ``trace_rollups`` rows): those the pass just wrote plus, for an exclusive
  writer, the members it holds of recently written sessions; other sessions' members are read by key range
  (:data:`SESSION_MEMBERS`). The writer then fetches only the two winning texts (:data:`TRACE_TEXT`), usually from
  the batch it just folded.
"""

from __future__ import annotations

# Span types whose token usage is counted (others may repeat their children's usage).
USAGE_TYPES = ("llm", "embedding")

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

# A session's members (threadline.writer.session_state): the narrow columns of its live trace rollups, no text. The
# aggregates over them are computed in Python (threadline.writer.session_state.aggregate), defined there once.
SESSION_MEMBERS = """
SELECT project_id, session_id, trace_id, user_id, toUnixTimestamp64Nano(start_time) AS start_ns,
       toUnixTimestamp64Nano(end_time) AS end_ns, span_count, llm_call_count, tool_call_count, error_count,
       input_tokens, output_tokens, total_tokens, cost_usd, models, has_input, has_output, version, end_state,
       previous_session_id, metadata, tags
FROM {db}.trace_rollups FINAL
WHERE (project_id, session_id) IN {keys:Array(Tuple(String, String))}
"""

PENDING_BATCHES = """
SELECT batch_id, keys FROM {db}.rollup_journal FINAL WHERE done = 0 ORDER BY batch_id
"""
