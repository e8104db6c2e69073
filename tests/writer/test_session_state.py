"""Session rollups computed from members (threadline.writer.session_state) against ClickHouse's own aggregates.

The oracle is the SQL the writer used to re-aggregate a session with (argMin/argMax over ``(start_time, trace_id)``,
``quantileExact``, ``mapUpdate`` in start order), run by the real store over the same ``trace_rollups`` rows.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline import rollups
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.session_state import Member, SessionMembers, aggregate, members_of
from threadline.writer.trace_state import TraceState, rollups_table

sys.path.insert(0, str(Path(__file__).parent))
from test_commit import FailAfter, agent_trace, assert_matches, new_project, rows

ORACLE = """
SELECT
    session_id,
    argMinIf(user_id, (start_time, trace_id), user_id != '') AS user_id,
    toUInt32(count()) AS trace_count,
    sum(span_count) AS span_count, sum(llm_call_count) AS llm_call_count, sum(tool_call_count) AS tool_call_count,
    sum(error_count) AS error_count, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(total_tokens) AS total_tokens, sum(cost_usd) AS total_cost_usd, sum(duration_ms) AS total_duration_ms,
    (toUnixTimestamp64Nano(max(end_time)) - toUnixTimestamp64Nano(min(start_time))) / 1e6 AS wall_duration_ms,
    avg(duration_ms) AS avg_latency_ms,
    quantileExact(0.5)(duration_ms) AS p50_latency_ms,
    quantileExact(0.95)(duration_ms) AS p95_latency_ms,
    toUnixTimestamp64Nano(min(start_time)) AS first_seen_ns, toUnixTimestamp64Nano(max(end_time)) AS last_seen_ns,
    arraySort(groupUniqArrayArray(models)) AS models,
    argMinIf(trace_id, (start_time, trace_id), has_input) AS first_input_trace,
    argMaxIf(trace_id, (start_time, trace_id), has_output) AS last_output_trace,
    argMaxIf(end_state, (end_time, trace_id), end_state != '') AS end_state,
    argMinIf(previous_session_id, (start_time, trace_id), previous_session_id != '') AS previous_session_id,
    arrayFold((acc, m) -> mapUpdate(acc, CAST(m.2, 'Map(String, String)')),
              arraySort(x -> x.1, groupArrayIf((start_time, metadata), notEmpty(metadata))),
              CAST(map(), 'Map(String, String)')) AS metadata,
    arraySort(groupUniqArrayArray(tags)) AS tags
FROM {db}.trace_rollups FINAL
WHERE project_id = {project:String} AND session_id != ''
GROUP BY session_id
"""
FLOATS = ("total_cost_usd", "total_duration_ms", "wall_duration_ms", "avg_latency_ms", "p50_latency_ms",
          "p95_latency_ms")
T0_NS = 1_767_225_600_000_000_000
WORDS = st.sampled_from(["", "", "a", "b", "c"])


@st.composite
def traces(draw: st.DrawFn) -> list[TraceState]:
    """Up to 12 traces over 3 sessions (and no session), with every field a session aggregate reads; starts are
    distinct (the SQL's metadata order ties on start alone), durations often equal."""
    count = draw(st.integers(1, 12))
    starts = draw(st.lists(st.integers(0, 10_000), min_size=count, max_size=count, unique=True))
    out = []
    for index, start_ms in enumerate(starts):
        start = T0_NS + start_ms * 1_000_000 + draw(st.integers(0, 999))
        state = TraceState(
            "p", f"{index:032x}", session_id=draw(st.sampled_from(["", "s-1", "s-2", "s-3"])),
            user_id=draw(WORDS), start_ns=start, end_ns=start + draw(st.sampled_from([0, 5, 1_000_000, 7_300_001])),
            span_count=draw(st.integers(1, 9)), llm_call_count=draw(st.integers(0, 3)),
            tool_call_count=draw(st.integers(0, 3)), error_count=draw(st.integers(0, 2)),
            input_tokens=draw(st.integers(0, 999)), output_tokens=draw(st.integers(0, 999)),
            usage_tokens=draw(st.integers(0, 2_000)), usage_cost_usd=draw(st.integers(0, 999)) / 7_000,
            models=set(draw(st.lists(st.sampled_from(["m-1", "m-2"]), max_size=2))),
            tags=set(draw(st.lists(st.sampled_from(["t-1", "t-2", "t-3"]), max_size=2))),
            end_state=draw(WORDS), previous_session_id=draw(WORDS),
            metadata=sorted(draw(st.dictionaries(st.sampled_from(["k1", "k2"]), WORDS.filter(bool), max_size=2))
                            .items()),
            input=draw(WORDS), output=draw(WORDS))
        out.append(state)
    return out


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    for name in FLOATS:
        row[name] = pytest.approx(row[name], rel=1e-9, abs=1e-9)
    row["metadata"] = dict(row["metadata"])
    return row


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(states=traces())
def test_aggregate_equals_clickhouse(store: Store, states: list[TraceState]) -> None:
    """Every field of :func:`aggregate` over the members read back equals ClickHouse's aggregate of the rows."""
    project = f"p-{uuid.uuid4().hex[:8]}"
    for state in states:
        state.project_id = project
    store.insert("trace_rollups", rollups_table(states, 7), tag="test.trace_rollups")
    sessions = sorted({s.session_id for s in states if s.session_id})
    read = members_of(store.select_arrow(rollups.SESSION_MEMBERS, {"keys": [(project, s) for s in sessions]},
                                         tag="test.members"))
    written = members_of(rollups_table(states, 7))
    assert read == written  # the rows the writer inserts give the members a read gives
    expected = {r.pop("session_id"): _comparable(r) for r in store.select(ORACLE, {"project": project},
                                                                           tag="test.oracle")}
    got = {}
    for (_, session), members in read.items():
        rollup = aggregate(members.values())
        assert rollup is not None
        row = rollup._asdict()
        row["first_input_trace"], row["last_output_trace"] = row.pop("first_input")[0], row.pop("last_output")[0]
        row["metadata"] = dict(row["metadata"])
        got[session] = row
    assert got == expected


def test_aggregate_of_nothing_is_none() -> None:
    assert aggregate([]) is None


def _member(trace: str) -> Member:
    return Member(trace, "", 0, 1, 1, 0, 0, 0, 0, 0, 0, 0.0, (), False, False, 1, "", "", (), ())


def test_held_sessions_are_bounded_by_members_least_recent_first() -> None:
    held = SessionMembers(max_members=5)
    held.put(("p", "a"), {t: _member(t) for t in "xy"})
    held.put(("p", "b"), {t: _member(t) for t in "xyz"})
    assert held.get(("p", "a")) is not None  # a is now the most recent
    held.put(("q", "c"), {"x": _member("x")})
    assert held.get(("p", "b")) is None and len(held) == 2
    copy = held.get(("p", "a"))
    assert copy is not None
    copy.pop("x")
    assert set(held.get(("p", "a")) or {}) == {"x", "y"}  # a caller's changes are its own until it puts them
    held.put(("p", "a"), {})
    assert held.get(("p", "a")) is None
    held.drop_project("q")
    assert len(held) == 0


def test_exclusive_writer_reads_no_member_of_held_or_new_sessions(store: Store) -> None:
    """A session's later turns, and a brand-new session, are rolled up without reading members; the result is the
    exact rollup."""
    project = new_project()
    probe = FailAfter(store)
    committer = BatchCommitter(probe, exclusive=True)
    first = agent_trace(uuid.uuid4().hex, "root", session="chat-1")
    second = agent_trace(uuid.uuid4().hex, "root", session="chat-1", offset_ms=60_000)
    committer.commit(rows(first, project))
    probe.tags.clear()
    committer.commit(rows(second, project))
    other = agent_trace(uuid.uuid4().hex, "root", session="chat-2", offset_ms=90_000)
    committer.commit(rows(other, project))
    assert "writer.session_members" not in probe.tags
    assert_matches(store, project, first + second + other)


def test_shared_writer_reads_members_every_pass(store: Store) -> None:
    """A writer beside others cannot know another one did not change a session: it reads the members."""
    project = new_project()
    probe = FailAfter(store)
    committer = BatchCommitter(probe)
    specs = agent_trace(uuid.uuid4().hex, "root", session="chat-1")
    committer.commit(rows(specs, project))
    assert "writer.session_members" in probe.tags
    assert_matches(store, project, specs)
