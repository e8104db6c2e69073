"""Property test of the incremental write path against a from-scratch recomputation.

Random interleavings of span batches — replays, children before roots, traces whose session changes as spans
arrive, session deletions, and commits cut short after any of their statements (then replayed, left to the next
commit, or recovered by a restart) — must leave every ``trace_rollups`` and ``session_rollups`` row equal to the
rollups recomputed from scratch, in SQL, over the deduplicated stored spans (the writer's previous definition,
which re-read every span of every touched trace: :data:`ORACLE_TRACES`).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.deletion import run_deletion, start_deletion

sys.path.insert(0, str(Path(__file__).parent))
from test_commit import FailAfter, Spec, new_project, scenarios

_ROOT_FIRST = "(parent_span_id != '', start_time, span_id)"
ORACLE_TRACES = f"""
SELECT
    trace_id,
    argMinIf(session_id, {_ROOT_FIRST}, session_id != '') AS session_id,
    argMinIf(user_id, {_ROOT_FIRST}, user_id != '') AS user_id,
    toUnixTimestamp64Nano(min(start_time)) AS start_ns,
    toUnixTimestamp64Nano(max(end_time)) AS end_ns,
    toUInt32(count()) AS span_count,
    toUInt32(countIf(span_type = 'llm')) AS llm_call_count,
    toUInt32(countIf(span_type = 'tool')) AS tool_call_count,
    toUInt32(countIf(status_code = 'ERROR')) AS error_count,
    sumIf(input_tokens, span_type IN ('llm', 'embedding')) AS input_tokens,
    sumIf(output_tokens, span_type IN ('llm', 'embedding')) AS output_tokens,
    greatest(max(reported_tokens), sumIf(total_tokens, span_type IN ('llm', 'embedding'))) AS total_tokens,
    greatest(max(reported_cost_usd), sumIf(cost_usd, span_type IN ('llm', 'embedding'))) AS cost_usd,
    arraySort(groupUniqArrayIf(model, model != '')) AS models,
    argMinIf(input, {_ROOT_FIRST}, input != '') AS input,
    argMinIf(output, (parent_span_id != '', -toUnixTimestamp64Nano(end_time), span_id), output != '') AS output,
    if(countIf(status_code = 'ERROR') > 0, 'ERROR', argMin(status_code, {_ROOT_FIRST})) AS status_code
FROM (
    SELECT * REPLACE (if((project_id, trace_id, session_id) IN (
        SELECT project_id, trace_id, session_id FROM {{db}}.deleted_session_traces
        WHERE project_id = {{project:String}}), '', session_id) AS session_id)
    FROM {{db}}.spans FINAL WHERE project_id = {{project:String}}
)
GROUP BY trace_id
"""
ORACLE_SESSIONS = f"""
SELECT session_id, toUInt32(count()) AS trace_count, sum(span_count) AS span_count,
       sum(llm_call_count) AS llm_call_count, sum(tool_call_count) AS tool_call_count,
       sum(error_count) AS error_count, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens, sum(cost_usd) AS total_cost_usd,
       sum((end_ns - start_ns) / 1e6) AS total_duration_ms,
       quantileExact(0.5)((end_ns - start_ns) / 1e6) AS p50_latency_ms,
       quantileExact(0.95)((end_ns - start_ns) / 1e6) AS p95_latency_ms,
       min(start_ns) AS first_seen_ns, max(end_ns) AS last_seen_ns,
       arraySort(groupUniqArrayArray(models)) AS models,
       argMinIf(input, (start_ns, trace_id), input != '') AS first_input,
       argMaxIf(output, (start_ns, trace_id), output != '') AS last_output
FROM ({ORACLE_TRACES}) WHERE session_id != '' GROUP BY session_id
"""
STORED_TRACES = """
SELECT trace_id, session_id, user_id, toUnixTimestamp64Nano(start_time) AS start_ns,
       toUnixTimestamp64Nano(end_time) AS end_ns, span_count, llm_call_count, tool_call_count, error_count,
       input_tokens, output_tokens, total_tokens, cost_usd, models, input, output, status_code
FROM {db}.trace_rollups FINAL WHERE project_id = {project:String}
"""
STORED_SESSIONS = """
SELECT session_id, trace_count, span_count, llm_call_count, tool_call_count, error_count, input_tokens,
       output_tokens, total_tokens, total_cost_usd, total_duration_ms, p50_latency_ms, p95_latency_ms,
       toUnixTimestamp64Nano(first_seen) AS first_seen_ns, toUnixTimestamp64Nano(last_seen) AS last_seen_ns,
       models, first_input, last_output
FROM {db}.session_rollups FINAL WHERE project_id = {project:String}
"""
ALIASES = {"prefer_column_name_to_alias": 1}  # aggregates name their span columns, not the aliases
FLOATS = ("cost_usd", "total_cost_usd", "total_duration_ms", "p50_latency_ms", "p95_latency_ms")


def _keyed(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    out = {r.pop(key): r for r in rows}
    assert len(out) == len(rows), f"several live rows for one {key}"
    for row in out.values():
        for name in FLOATS:
            if name in row:
                row[name] = pytest.approx(row[name], rel=1e-9, abs=1e-9)
    return out


def assert_exact(store: Store, project: str) -> None:
    """Every live trace and session rollup of ``project`` equals the from-scratch recomputation."""
    params = {"project": project}
    expected_traces = _keyed(store.select(ORACLE_TRACES, params, tag="test.oracle_traces", settings=ALIASES),
                             "trace_id")
    stored_traces = _keyed(store.select(STORED_TRACES, params, tag="test.stored_traces"), "trace_id")
    assert stored_traces == expected_traces
    expected_sessions = _keyed(store.select(ORACLE_SESSIONS, params, tag="test.oracle_sessions",
                                   settings=ALIASES), "session_id")
    stored_sessions = _keyed(store.select(STORED_SESSIONS, params, tag="test.stored_sessions"), "session_id")
    assert stored_sessions == expected_sessions


# No shrinking: it takes minutes per failure here; a failure prints its seed to replay with --hypothesis-seed.
@settings(max_examples=20, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
@given(specs=scenarios(), data=st.data())
def test_interleavings_with_crashes_and_deletions_are_exact(store: Store, exclusive: bool, specs: list[Spec],
                                                            data: st.DataObject) -> None:
    """``exclusive``: the embedded store's only writer, which keeps the states it wrote and a filter of known
    traces; shared: a writer beside others (queue workers), which reads every state."""
    project = new_project()
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    everything = [spec.row(project) for spec in specs]
    everything += [spec.row(project, ingested_at_us=1_767_400_000_000_000 + i)
                   for i, spec in enumerate(specs) if rng.random() < 0.3]  # client replays, re-normalised later
    rng.shuffle(everything)
    cuts = sorted(rng.sample(range(1, len(everything)), k=min(len(everything) - 1, rng.randint(0, 4))))
    batches = [everything[a:b] for a, b in zip([0, *cuts], [*cuts, len(everything)], strict=True)]

    faulty = FailAfter(store)
    committer = BatchCommitter(faulty, exclusive=exclusive)
    unfinished: list[list[dict[str, Any]]] = []
    for batch in batches:
        step = rng.random()
        if step < 0.3:
            # cut short after one of its statements (the span insert, a rollup write, the journal...)
            faulty.calls, faulty.fail_at = 0, rng.randint(1, 9)
            try:
                committer.commit(batch)
            except StoreError:
                unfinished.append(batch)
            faulty.fail_at = 0
        else:
            committer.commit(batch)
        if step > 0.85:
            live = store.select("SELECT DISTINCT session_id FROM {db}.session_rollups FINAL "
                                "WHERE project_id = {project:String}", {"project": project}, tag="test.live")
            if live:
                session = rng.choice(sorted(r["session_id"] for r in live))
                job = start_deletion(store, project, session)
                assert run_deletion(store, committer, job).status == "done"
        if unfinished and rng.random() < 0.4:
            committer.commit(unfinished.pop(rng.randrange(len(unfinished))))  # the client's retry
    ending = rng.choice(["restart", "next_commit", "replay_all"])
    if ending == "restart":
        BatchCommitter(store, exclusive=exclusive).recover()  # a new process: the journal's pending batches are rebuilt
    elif ending == "next_commit":
        # this process's next commit rebuilds what its failures touched
        committer.commit(rng.choice(batches), token=f"another-{project}")
    else:
        for batch in unfinished:
            committer.commit(batch)
    assert_exact(store, project)
