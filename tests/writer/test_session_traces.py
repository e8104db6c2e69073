"""The in-memory session aggregate against ``SESSION_ROLLUP`` run by the store over the same trace rows, and the
bounded map of kept sessions."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from threadline import rollups
from threadline.store.gateway import Store
from threadline.writer.session_traces import (
    SESSION_ROLLUP_SCHEMA,
    SESSION_TRACES,
    SessionTraces,
    TraceEntry,
    session_rollups_table,
)
from threadline.writer.trace_state import TraceState, rollups_table

BASE_NS = 1_767_000_000_000_000_000


def random_state(rng: random.Random, project: str, session: str) -> TraceState:
    """A trace state with the ties and empties the aggregate must order like ClickHouse: shared start times, empty
    users, texts and end states, overlapping metadata keys."""
    offset = rng.choice([0, 1_000, 5_000_000, 10**6 + rng.randrange(10**12)])
    start = BASE_NS + offset
    state = TraceState(project, uuid.uuid4().hex, session_id=session, start_ns=start,
                       end_ns=start + rng.choice([0, 7, rng.randrange(10**10)]))
    state.user_id = rng.choice(["", "", "u1", "u2"])
    state.span_count = rng.randint(1, 9)
    state.llm_call_count, state.tool_call_count, state.error_count = (rng.randint(0, 3) for _ in range(3))
    state.input_tokens, state.output_tokens = rng.randint(0, 900), rng.randint(0, 900)
    state.usage_tokens, state.reported_tokens = rng.randint(0, 2000), rng.choice([0, 1500])
    state.usage_cost_usd, state.reported_cost_usd = rng.random() / 7, rng.choice([0.0, 0.1])
    state.models = set(rng.sample(["gpt-4o", "claude", "llama"], rng.randint(0, 2)))
    state.tags = set(rng.sample(["a", "b", "ç"], rng.randint(0, 2)))
    state.end_state = rng.choice(["", "", "resolved", "escalated"])
    state.previous_session_id = rng.choice(["", "", "s-prev"])
    # SESSION_ROLLUP folds metadata in start-time order and leaves ties unordered: no metadata on a shared start.
    state.metadata = [] if offset <= 5_000_000 else [
        (key, f"{key}{rng.randint(0, 9)}") for key in rng.sample(["k1", "k2", "k3"], rng.randint(0, 3))]
    state.input = rng.choice(["", "question"])
    state.output = rng.choice(["", "answer"])
    return state


def _comparable(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in rows:
        for name in ("total_cost_usd", "total_duration_ms", "avg_latency_ms", "wall_duration_ms"):
            row[name] = pytest.approx(row[name], rel=1e-12)
        out[row["session_id"]] = row
    return out


def test_in_memory_aggregate_equals_session_rollup_sql(store: Store) -> None:
    rng = random.Random(11)
    project = f"p-{uuid.uuid4().hex[:10]}"
    sessions = [f"s-{i}" for i in range(40)]
    states = [random_state(rng, project, rng.choice(sessions)) for _ in range(300)]
    # Two versions: the later rows replace some traces (as a later pass would), the rest stay at the first.
    rewritten = [s for s in states if rng.random() < 0.3]
    store.insert("trace_rollups", rollups_table(states, 10), tag="test.trace_rollups")
    for state in rewritten:
        state.span_count += 1
        state.end_ns += 1_000
    store.insert("trace_rollups", rollups_table(rewritten, 20), tag="test.trace_rollups")
    keys = [(project, s) for s in sorted({s.session_id for s in states})]

    expected = store.select_arrow(rollups.SESSION_ROLLUP, {"keys": keys}, tag="test.session_rollup",
                                  settings=rollups.SETTINGS)
    latest = {id(s): (20 if s in rewritten else 10) for s in states}
    by_session: dict[tuple[str, str], list[TraceEntry]] = {key: [] for key in keys}
    for state in states:
        by_session[(project, state.session_id)].append(TraceEntry.of_state(state, latest[id(state)]))
    from_states = session_rollups_table(list(by_session.items()))
    read: dict[tuple[str, str], list[TraceEntry]] = {key: [] for key in keys}
    for row in store.select(SESSION_TRACES, {"keys": keys}, tag="test.session_traces"):
        read[(row["project_id"], row["session_id"])].append(TraceEntry.of_row(row))
    from_rows = session_rollups_table(list(read.items()))

    assert from_states.schema == SESSION_ROLLUP_SCHEMA
    assert expected.column_names == from_states.column_names
    want = _comparable(expected.to_pylist())
    assert not _diff(_comparable(from_states.to_pylist()), want)
    assert not _diff(_comparable(from_rows.to_pylist()), want)


def test_a_session_without_traces_has_no_row() -> None:
    assert session_rollups_table([(("p", "s"), [])]).num_rows == 0


def _entry(trace: str, version: int = 1) -> TraceEntry:
    state = TraceState("p", trace, session_id="s", start_ns=BASE_NS, end_ns=BASE_NS + 10)
    return TraceEntry.of_state(state, version)


def test_kept_sessions_are_bounded_by_their_traces_least_recently_used_first() -> None:
    kept = SessionTraces(max_traces=4)
    kept.put(("p", "a"), {"t1": _entry("t1"), "t2": _entry("t2")})
    kept.put(("p", "b"), {"t3": _entry("t3")})
    assert kept.get(("p", "a")) is not None  # now the most recently used
    kept.put(("p", "c"), {"t4": _entry("t4"), "t5": _entry("t5")})
    assert kept.get(("p", "b")) is None
    assert kept.get(("p", "a")) is not None and kept.get(("p", "c")) is not None
    kept.forget_project("p")
    assert len(kept) == 0


def test_apply_moves_traces_between_kept_sessions_only() -> None:
    kept = SessionTraces()
    kept.put(("p", "old"), {"t1": _entry("t1"), "t2": _entry("t2")})
    moved = TraceState("p", "t1", session_id="new", start_ns=BASE_NS, end_ns=BASE_NS + 5)
    stays = TraceState("p", "t2", session_id="old", start_ns=BASE_NS, end_ns=BASE_NS + 50)
    kept.apply([("p", "old", "t1")], [moved, stays], version=7)
    old = kept.get(("p", "old"))
    assert old is not None and set(old) == {"t2"} and old["t2"].version == 7 and old["t2"].end_ns == BASE_NS + 50
    assert kept.get(("p", "new")) is None  # not kept: read from the store when touched


def test_a_writer_that_keeps_nothing_keeps_nothing() -> None:
    kept = SessionTraces(max_traces=0)
    kept.put(("p", "a"), {"t1": _entry("t1")})
    assert kept.get(("p", "a")) is None


def _diff(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{s} {k}: {a[s][k]!r} != {b[s][k]!r}" for s in a for k in a[s] if a[s][k] != b[s][k]]
