"""Retention passes against the real store: whole expired traces leave, the sessions they were in are re-aggregated
from what remains (equal to the from-scratch recomputation), emptied sessions disappear with their scores and
annotation, and a pass cut short after any statement is finished exactly by the next one."""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from threadline.queries.annotations import Annotation, get_annotation, put_annotation
from threadline.queries.scores import add_score, list_scores
from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.retention import cutoff_for, expire_project, run_retention

sys.path.insert(0, str(Path(__file__).parent))
from test_commit import T0_NS, FailAfter, Spec, new_project, rows, session_state, sid
from test_commit_properties import assert_exact

DAY_MS = 86_400_000
NOW = datetime.fromtimestamp(T0_NS / 1e9, UTC) + timedelta(days=10)  # cutoff of a 5-day window: T0 + 5 days


def tid(name: str) -> str:
    """A trace id (32 hex digits) for a readable name."""
    return hashlib.md5(name.encode()).hexdigest()


def turn(trace: str, session: str, day: float, *, span_ms: int = 1000, tokens: int = 10) -> list[Spec]:
    """A root and an LLM child starting ``day`` days after T0 (the child first, as exporters send them)."""
    start, name, trace = int(day * DAY_MS), trace, tid(trace)
    return [Spec(trace, sid(2), sid(1), start + 10, start + span_ms - 10, kind="llm", model="gpt-4o",
                 input_tokens=tokens, output_tokens=tokens, cost=0.01, output=f"answer {name}"),
            Spec(trace, sid(1), "", start, start + span_ms, kind="agent", session=session, input=f"ask {name}")]


def stored_traces(store: Store, project: str) -> set[str]:
    rows_ = store.select("SELECT DISTINCT trace_id FROM {db}.spans FINAL WHERE project_id = {p:String}",
                         {"p": project}, tag="test.traces")
    names = {tid(n): n for n in ("a-old", "a-new", "b-old", "c-edge", "n-old", "t1", "t2")}
    return {names[r["trace_id"]] for r in rows_}


def assert_no_deleted_spans_counted(store: Store, project: str) -> None:
    """Half-way through a pass: no live trace rollup is of a trace whose spans are gone, and no session rollup
    counts a trace whose spans are gone (it may still count one whose spans are about to go)."""
    live = store.select("SELECT trace_id FROM {db}.trace_rollups FINAL WHERE project_id = {p:String}",
                        {"p": project}, tag="test.live_traces")
    names = {tid(n): n for n in ("a-old", "a-new", "b-old", "c-edge", "n-old")}
    stored = stored_traces(store, project)
    assert {names[r["trace_id"]] for r in live} <= stored
    sessions = {"A": ("a-old", "a-new"), "B": ("b-old",), "C": ("c-edge",)}
    for session, row in session_state(store, project).items():
        assert row["trace_count"] <= sum(1 for name in sessions[session] if name in stored), session


def seed(store: Store, committer: BatchCommitter, project: str, *, one_batch: bool = False) -> dict[str, list[Spec]]:
    traces = {
        "a-old": turn("a-old", "A", 1), "a-new": turn("a-new", "A", 7),   # A loses one of its two turns
        "b-old": turn("b-old", "B", 2),                                    # B loses its only turn
        "c-edge": turn("c-edge", "C", 5 - 0.5 / 24, span_ms=DAY_MS // 12),  # starts before the cutoff, ends after
        "n-old": turn("n-old", "", 0.5),                                   # in no session
    }
    batches = [[s for specs in traces.values() for s in specs]] if one_batch else list(traces.values())
    for batch in batches:
        committer.commit(rows(batch, project))
    return traces


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
def test_expired_traces_leave_and_sessions_are_recomputed(store: Store, exclusive: bool) -> None:
    project = new_project()
    committer = BatchCommitter(store, exclusive=exclusive)
    seed(store, committer, project)
    add_score(store, project, "session", "B", name="quality", value=1.0, comment="", source="human")
    add_score(store, project, "session", "A", name="quality", value=0.5, comment="", source="human")
    add_score(store, project, "trace", tid("a-old"), name="quality", value=0.1, comment="", source="code")
    put_annotation(store, project, "B", Annotation(name="refund", tags=["billing"]))

    result = expire_project(store, committer, project, 5, now=NOW)

    assert result.cutoff == NOW - timedelta(days=5)
    assert (result.traces_removed, result.sessions_recomputed, result.sessions_emptied) == (3, 1, 1)
    assert stored_traces(store, project) == {"a-new", "c-edge"}
    sessions = session_state(store, project)
    assert set(sessions) == {"A", "C"}
    assert sessions["A"]["trace_count"] == 1 and sessions["A"]["input_tokens"] == 10
    assert_exact(store, project)
    assert list_scores(store, project, "session", "B") == []
    assert len(list_scores(store, project, "session", "A")) == 1
    assert list_scores(store, project, "trace", tid("a-old")) == []
    assert get_annotation(store, project, "B") is None

    # A late replay of an expired trace's span starts a fresh trace holding only what arrives now.
    committer.commit(rows(turn("a-old", "A", 1)[1:], project))  # its root
    assert session_state(store, project)["A"]["trace_count"] == 2
    assert_exact(store, project)
    # Nothing else is old enough: a second pass removes nothing.
    again = expire_project(store, committer, project, 5, now=NOW)
    assert again.traces_removed == 1  # the replayed span ended before the cutoff too
    assert_exact(store, project)


def test_a_pass_cut_short_after_any_statement_is_finished_by_the_next(store: Store) -> None:
    probe_project = new_project()
    probe = FailAfter(store)
    probe_committer = BatchCommitter(probe, exclusive=True)
    seed(store, probe_committer, probe_project, one_batch=True)
    probe.tags.clear()
    expire_project(probe, probe_committer, probe_project, 5, now=NOW)
    statements = len(probe.tags)
    assert "retention.delete_trace_state" in probe.tags

    for fail_at in range(1, statements + 1):
        project = new_project()
        faulty = FailAfter(store)
        committer = BatchCommitter(faulty, exclusive=True)
        seed(store, committer, project, one_batch=True)
        faulty.calls, faulty.fail_at = 0, fail_at
        with pytest.raises(StoreError):
            expire_project(faulty, committer, project, 5, now=NOW)
        assert_no_deleted_spans_counted(store, project)
        faulty.fail_at = 0
        expire_project(faulty, BatchCommitter(faulty, exclusive=True), project, 5, now=NOW)  # e.g. after a restart
        assert stored_traces(store, project) == {"a-new", "c-edge"}, f"after a failure following " \
                                                                     f"{probe.tags[fail_at - 1]}"
        assert set(session_state(store, project)) == {"A", "C"}
        assert_exact(store, project)


def test_keep_forever_and_other_projects_are_untouched(store: Store) -> None:
    kept, expiring = new_project(), new_project()
    committer = BatchCommitter(store)
    seed(store, committer, kept)
    seed(store, committer, expiring)
    results = run_retention(store, committer, {kept: 0, expiring: 5}, now=NOW)
    assert [r.project_id for r in results] == [expiring]
    assert len(stored_traces(store, kept)) == 5
    assert set(session_state(store, kept)) == {"A", "B", "C"}
    assert_exact(store, kept)


def test_a_window_below_one_day_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        cutoff_for(0)
    with pytest.raises(ValueError):
        cutoff_for(-3)
    assert cutoff_for(1, NOW) == NOW - timedelta(days=1)


def test_project_ids_are_bound_not_formatted(store: Store) -> None:
    """A project id is a bind parameter everywhere (here one that would break formatted SQL)."""
    project = f"x' OR '1'='1-{uuid.uuid4().hex[:6]}"
    committer = BatchCommitter(store)
    committer.commit(rows(turn("t1", "S", 0), project))
    other = new_project()
    committer.commit(rows(turn("t2", "S", 0), other))
    expire_project(store, committer, project, 5, now=NOW)
    assert stored_traces(store, project) == set()
    assert stored_traces(store, other) == {"t2"}


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
def test_a_late_span_inserted_before_the_pass_and_folded_after_is_not_counted(store: Store, exclusive: bool) -> None:
    """The writer inserts a batch outside its rollup lock and folds it later: a late span of an expired trace that
    the pass deletes in between must not be folded into a fresh trace from the batch's own facts."""
    project = new_project()
    committer = BatchCommitter(store, exclusive=exclusive)
    seed(store, committer, project, one_batch=True)
    late = committer.insert(rows(turn("a-old", "A", 1)[:1], project))  # a replayed child, not yet folded
    expire_project(store, committer, project, 5, now=NOW)
    committer.recompute_inserted(late)
    assert stored_traces(store, project) == {"a-new", "c-edge"}
    assert session_state(store, project)["A"]["trace_count"] == 1
    assert_exact(store, project)
