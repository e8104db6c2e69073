"""BatchCommitter against the real store: per-trace session membership in any arrival order, exact rollups under
replays, and rollups equal to totals computed independently here, in Python, from the deduplicated spans.

Every expectation below is computed from the test's own span specs (:func:`expect_traces`,
:func:`expect_sessions`), never read back from the writer's SQL. Tests isolate by project id inside the fixture's
database, so one database serves many scenarios (permutations, hypothesis examples).
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow
from threadline.queries.sessions import get_session, get_trace, list_sessions, session_traces
from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

PRICES = PriceTable({})  # no price table: every cost in these tests is the one the span reports
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000
USAGE_KINDS = ("llm", "embedding")
KIND_ATTRIBUTE = {"llm": "LLM", "tool": "TOOL", "chain": "CHAIN", "agent": "AGENT", "embedding": "EMBEDDING",
                  "retriever": "RETRIEVER"}


# --------------------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Spec:
    """One span as the test means it; :meth:`row` turns it into a stored row through the real ``normalize``."""

    trace_id: str
    span_id: str
    parent: str = ""
    start_ms: int = 0
    end_ms: int = 0
    kind: str = "span"  # the span type the row must get: llm, tool, chain, agent, embedding, retriever, span
    session: str = ""  # session id on the span's own attributes
    session_key: str = "session.id"
    resource_session: str = ""  # session id on the span's resource
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    error: bool = False
    input: str = ""
    output: str = ""
    reported_cost: float = 0.0  # native trace-level total (RawSpan.explicit)
    reported_tokens: int = 0

    @property
    def start_ns(self) -> int:
        return T0_NS + self.start_ms * MS

    @property
    def end_ns(self) -> int:
        return T0_NS + self.end_ms * MS

    @property
    def effective_session(self) -> str:
        return self.session or self.resource_session

    def raw(self) -> RawSpan:
        attributes: dict[str, str] = {}
        if self.kind in KIND_ATTRIBUTE:
            attributes["openinference.span.kind"] = KIND_ATTRIBUTE[self.kind]
        if self.session:
            attributes[self.session_key] = self.session
        if self.model:
            attributes["gen_ai.request.model"] = self.model
        if self.input_tokens:
            attributes["gen_ai.usage.input_tokens"] = str(self.input_tokens)
        if self.output_tokens:
            attributes["gen_ai.usage.output_tokens"] = str(self.output_tokens)
        if self.cost:
            attributes["gen_ai.usage.cost"] = repr(self.cost)
        if self.input:
            attributes["input.value"] = self.input
        if self.output:
            attributes["output.value"] = self.output
        resource = {"service.name": "svc"}
        if self.resource_session:
            resource["session.id"] = self.resource_session
        explicit: dict[str, Any] = {}
        if self.reported_cost:
            explicit["reported_cost_usd"] = self.reported_cost
        if self.reported_tokens:
            explicit["reported_tokens"] = self.reported_tokens
        return RawSpan(self.trace_id, self.span_id, self.parent, f"span-{self.span_id}", self.start_ns, self.end_ns,
                       status_code="ERROR" if self.error else "OK", attributes=attributes,
                       resource_attributes=resource, explicit=explicit)

    def row(self, project: str, ingested_at_us: int = 1_767_225_600_000_000) -> SpanRow:
        return normalize(self.raw(), project, PRICES, ingested_at_us)


def rows(specs: Iterable[Spec], project: str, ingested_at_us: int = 1_767_225_600_000_000) -> list[SpanRow]:
    return [s.row(project, ingested_at_us) for s in specs]


def sid(n: int) -> str:
    return f"{n:016x}"


def new_project() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------- independent expectations


def _quantile_exact(values: list[float], level: float) -> float:
    # ClickHouse quantileExact: the element at position floor(level * n) of the sorted values (last when level=1).
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def _approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


@dataclass
class TraceExpect:
    trace_id: str
    session: str
    start_ns: int
    end_ns: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    models: set[str] = field(default_factory=set)
    input: str = ""
    output: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def expect_traces(specs: Iterable[Spec]) -> dict[str, TraceExpect]:
    """Per trace, from the distinct spans (last copy of a span id wins; copies are identical here)."""
    by_trace: dict[str, dict[str, Spec]] = {}
    for spec in specs:
        by_trace.setdefault(spec.trace_id, {})[spec.span_id] = spec
    out = {}
    for trace_id, span_map in by_trace.items():
        spans = list(span_map.values())
        # the root's id wins; else the earliest span's (ties by span id) — DESIGN.md "resolved per trace"
        named = sorted((s for s in spans if s.effective_session),
                       key=lambda s: (s.parent != "", s.start_ns, s.span_id))
        usage = [s for s in spans if s.kind in USAGE_KINDS]
        with_input = sorted((s for s in spans if s.input), key=lambda s: (s.parent != "", s.start_ns, s.span_id))
        with_output = sorted((s for s in spans if s.output), key=lambda s: (s.parent != "", -s.end_ns, s.span_id))
        out[trace_id] = TraceExpect(
            trace_id=trace_id,
            session=named[0].effective_session if named else "",
            start_ns=min(s.start_ns for s in spans),
            end_ns=max(s.end_ns for s in spans),
            span_count=len(spans),
            llm_call_count=sum(s.kind == "llm" for s in spans),
            tool_call_count=sum(s.kind == "tool" for s in spans),
            error_count=sum(s.error for s in spans),
            input_tokens=sum(s.input_tokens for s in usage),
            output_tokens=sum(s.output_tokens for s in usage),
            total_tokens=max(max(s.reported_tokens for s in spans),
                             sum(s.input_tokens + s.output_tokens for s in usage)),
            cost=max(max(s.reported_cost for s in spans), sum(s.cost for s in usage)),
            models={s.model for s in spans if s.model},
            input=with_input[0].input if with_input else "",
            output=with_output[0].output if with_output else "",
        )
    return out


def expect_sessions(traces: dict[str, TraceExpect]) -> dict[str, dict[str, Any]]:
    """Session rollups as :func:`session_state` reads them, from the expected traces."""
    grouped: dict[str, list[TraceExpect]] = {}
    for trace in traces.values():
        if trace.session:
            grouped.setdefault(trace.session, []).append(trace)
    out = {}
    for session, members in grouped.items():
        durations = [t.duration_ms for t in members]
        in_order = sorted(members, key=lambda t: (t.start_ns, t.trace_id))
        inputs = [t.input for t in in_order if t.input]
        outputs = [t.output for t in in_order if t.output]
        out[session] = {
            "trace_count": len(members),
            "span_count": sum(t.span_count for t in members),
            "llm_call_count": sum(t.llm_call_count for t in members),
            "tool_call_count": sum(t.tool_call_count for t in members),
            "error_count": sum(t.error_count for t in members),
            "input_tokens": sum(t.input_tokens for t in members),
            "output_tokens": sum(t.output_tokens for t in members),
            "total_tokens": sum(t.total_tokens for t in members),
            "total_cost_usd": _approx(sum(t.cost for t in members)),
            "total_duration_ms": _approx(sum(durations)),
            "wall_duration_ms": _approx((max(t.end_ns for t in members) - min(t.start_ns for t in members)) / 1e6),
            "avg_latency_ms": _approx(sum(durations) / len(durations)),
            "p50_latency_ms": _approx(_quantile_exact(durations, 0.5)),
            "p95_latency_ms": _approx(_quantile_exact(durations, 0.95)),
            "first_seen_ns": min(t.start_ns for t in members),
            "last_seen_ns": max(t.end_ns for t in members),
            "models": sorted(set().union(*(t.models for t in members))),
            "first_input": inputs[0] if inputs else "",
            "last_output": outputs[-1] if outputs else "",
        }
    return out


# ------------------------------------------------------------------------------------------------ reading back

SESSION_SQL = """
SELECT session_id, trace_count, span_count, llm_call_count, tool_call_count, error_count, input_tokens,
       output_tokens, total_tokens, total_cost_usd, total_duration_ms, wall_duration_ms, avg_latency_ms,
       p50_latency_ms, p95_latency_ms, toUnixTimestamp64Nano(first_seen) AS first_seen_ns,
       toUnixTimestamp64Nano(last_seen) AS last_seen_ns, models, first_input, last_output
FROM {db}.session_rollups FINAL WHERE project_id = {project:String}
"""

TRACE_SQL = """
SELECT trace_id, session_id, span_count, llm_call_count, tool_call_count, error_count, input_tokens, output_tokens,
       total_tokens, cost_usd, duration_ms, models, input, output
FROM {db}.trace_rollups FINAL WHERE project_id = {project:String}
"""


def session_state(store: Store, project: str) -> dict[str, dict[str, Any]]:
    """session id → its live ``session_rollups`` row (without the id); asserts one row per session."""
    found = store.select(SESSION_SQL, {"project": project}, tag="test.sessions")
    out = {r.pop("session_id"): r for r in found}
    assert len(out) == len(found), f"duplicate live session rows: {found}"
    return out


def trace_state(store: Store, project: str) -> dict[str, dict[str, Any]]:
    """trace id → its live ``trace_rollups`` row; asserts a trace has exactly one live row (no stale copy left
    under a session it no longer belongs to, nor under the no-session group '')."""
    found = store.select(TRACE_SQL, {"project": project}, tag="test.traces")
    out = {r["trace_id"]: r for r in found}
    pairs = sorted((r["trace_id"], r["session_id"]) for r in found)
    assert len(out) == len(found), f"a trace has several live rollup rows: {pairs}"
    return out


def link_state(store: Store, project: str) -> dict[str, str]:
    found = store.select("SELECT trace_id, session_id FROM {db}.trace_sessions FINAL "
                         "WHERE project_id = {project:String}", {"project": project}, tag="test.links")
    return {r["trace_id"]: r["session_id"] for r in found}


def distinct_spans(store: Store, project: str) -> int:
    return int(store.select("SELECT count() AS n FROM {db}.spans FINAL WHERE project_id = {project:String}",
                            {"project": project}, tag="test.spans")[0]["n"])


def assert_matches(store: Store, project: str, specs: Iterable[Spec]) -> None:
    """Everything the writer maintains for ``project`` equals what the specs imply."""
    specs = list(specs)
    traces = expect_traces(specs)
    assert distinct_spans(store, project) == len({(s.trace_id, s.span_id) for s in specs})
    live = trace_state(store, project)
    assert {t: r["session_id"] for t, r in live.items()} == {t: e.session for t, e in traces.items()}
    assert link_state(store, project) == {t: e.session for t, e in traces.items()}
    for trace_id, expected in traces.items():
        row = live[trace_id]
        assert {k: row[k] for k in ("span_count", "llm_call_count", "tool_call_count", "error_count",
                                     "input_tokens", "output_tokens", "total_tokens", "cost_usd", "duration_ms",
                                     "models", "input", "output")} == {
            "span_count": expected.span_count, "llm_call_count": expected.llm_call_count,
            "tool_call_count": expected.tool_call_count, "error_count": expected.error_count,
            "input_tokens": expected.input_tokens, "output_tokens": expected.output_tokens,
            "total_tokens": expected.total_tokens, "cost_usd": _approx(expected.cost),
            "duration_ms": _approx(expected.duration_ms), "models": sorted(expected.models),
            "input": expected.input, "output": expected.output}, f"trace {trace_id}"
    assert session_state(store, project) == expect_sessions(traces)


# ------------------------------------------------------------------------------------------- a typical trace


def agent_trace(trace_id: str, placement: str, session: str = "chat-1", offset_ms: int = 0) -> list[Spec]:
    """root (agent) → llm child, sub-agent → (tool with an error, llm grandchild). ``placement`` says where the
    session id sits: root, grandchild, resource_all (every span's resource), resource_subagent (the sub-agent
    service's resource only), none."""
    o = offset_ms
    specs = [
        Spec(trace_id, sid(1), "", o + 0, o + 4000, "agent", input="What is the weather in Paris?",
             output="It is sunny in Paris."),
        Spec(trace_id, sid(2), sid(1), o + 100, o + 1100, "llm", model="gpt-4o", input_tokens=120, output_tokens=30,
             cost=0.003, input="plan", output="call weather tool"),
        Spec(trace_id, sid(3), sid(1), o + 1200, o + 3600, "agent"),
        Spec(trace_id, sid(4), sid(3), o + 1300, o + 1900, "tool", error=True, input="paris"),
        Spec(trace_id, sid(5), sid(3), o + 2000, o + 3000, "llm", model="claude-3-5-sonnet", input_tokens=80,
             output_tokens=25, cost=0.0015, output="sunny"),
    ]
    if placement == "root":
        specs[0] = replace(specs[0], session=session)
    elif placement == "grandchild":
        specs[4] = replace(specs[4], session=session, session_key="gen_ai.conversation.id")
    elif placement == "resource_all":
        specs = [replace(s, resource_session=session) for s in specs]
    elif placement == "resource_subagent":
        specs = [replace(s, resource_session=session) if s.span_id in (sid(3), sid(4), sid(5)) else s
                 for s in specs]
    else:
        assert placement == "none"
    return specs


PLACEMENTS = ["root", "grandchild", "resource_all", "resource_subagent"]


# ------------------------------------------------------------------------------------------------------ ordering


def test_hand_computed_totals(store: Store) -> None:
    """One trace, totals written out by hand (a check on the expectation helpers themselves)."""
    project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "root")
    BatchCommitter(store).commit(rows(specs, project))
    session = session_state(store, project)["chat-1"]
    assert (session["trace_count"], session["span_count"], session["llm_call_count"], session["tool_call_count"],
            session["error_count"]) == (1, 5, 2, 1, 1)
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (200, 55, 255)
    assert session["total_cost_usd"] == pytest.approx(0.0045)
    assert session["wall_duration_ms"] == pytest.approx(4000.0)
    assert session["models"] == ["claude-3-5-sonnet", "gpt-4o"]
    assert (session["first_input"], session["last_output"]) == ("What is the weather in Paris?",
                                                                "It is sunny in Paris.")
    assert_matches(store, project, specs)


def test_children_before_root(store: Store) -> None:
    """Exporters send children first; the id only on the root still pulls them into the session, and the trace's
    row in the no-session group is replaced, not left behind."""
    project = new_project()
    trace_id = uuid.uuid4().hex
    specs = agent_trace(trace_id, "root")
    committer = BatchCommitter(store)

    result = committer.commit(rows(specs[1:], project))
    assert result.spans == 4
    assert {t: r["session_id"] for t, r in trace_state(store, project).items()} == {trace_id: ""}
    assert link_state(store, project) == {trace_id: ""}
    assert session_state(store, project) == {}

    result = committer.commit(rows(specs[:1], project))
    assert result.moved_traces == 1
    assert_matches(store, project, specs)
    stale = store.select("SELECT count() AS n FROM {db}.trace_rollups FINAL WHERE project_id = {p:String} "
                         "AND session_id = ''", {"p": project}, tag="test.stale")
    assert stale[0]["n"] == 0

    # the read path sees the same thing
    session = get_session(store, project, "chat-1")
    assert session is not None
    assert (session["trace_count"], session["span_count"], session["total_tokens"]) == (1, 5, 255)
    turns = session_traces(store, project, "chat-1", limit=10, offset=0)
    assert [(t["trace_id"], t["turn"], t["span_count"]) for t in turns.rows] == [(trace_id, 1, 5)]
    found = get_trace(store, project, trace_id)
    assert found is not None
    rollup, spans = found
    assert rollup["session_id"] == "chat-1"
    assert [s["span_id"] for s in spans] == [sid(n) for n in range(1, 6)]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_arrival_order(store: Store, placement: str) -> None:
    """The trace split across 3 commits, in all 6 orders: after every commit the trace is in exactly the session
    its spans so far name ('' while none does), and at the end the rollups are exact."""
    committer = BatchCommitter(store)
    for order in itertools.permutations(range(3)):
        project = new_project()
        specs = agent_trace(uuid.uuid4().hex, placement)
        groups = [specs[0:1], [specs[1], specs[3]], [specs[2], specs[4]]]
        arrived: list[Spec] = []
        sessions_seen = []
        for index in order:
            committer.commit(rows(groups[index], project))
            arrived += groups[index]
            assert_matches(store, project, arrived)
            sessions_seen.append(expect_traces(arrived)[specs[0].trace_id].session)
        assert sessions_seen[-1] == "chat-1", order
        assert set(sessions_seen) <= {"", "chat-1"}
        assert_matches(store, project, specs)
        page = list_sessions(store, project, limit=10, offset=0)
        assert page.total == 1 and page.rows[0]["session_id"] == "chat-1"


def test_no_session_trace_is_in_no_session(store: Store) -> None:
    project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "none")
    BatchCommitter(store).commit(rows(specs, project))
    assert_matches(store, project, specs)
    assert session_state(store, project) == {}
    assert list_sessions(store, project, limit=10, offset=0).total == 0


# ---------------------------------------------------------------------------------------------- conflicting ids


@pytest.mark.parametrize("order", ["root_first", "child_first", "same_batch"])
def test_root_session_wins(store: Store, order: str) -> None:
    project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "root", session="A")
    specs[4] = replace(specs[4], session="B")  # the llm grandchild names another session
    committer = BatchCommitter(store)
    root, rest = specs[:1], specs[1:]
    if order == "root_first":
        committer.commit(rows(root, project))
        committer.commit(rows(rest, project))
    elif order == "child_first":
        committer.commit(rows(rest, project))
        assert set(session_state(store, project)) == {"B"}  # B claims it until the root arrives
        assert session_state(store, project)["B"]["trace_count"] == 1
        committer.commit(rows(root, project))
    else:
        committer.commit(rows(specs, project))
    assert_matches(store, project, specs)
    assert set(session_state(store, project)) == {"A"}  # B is gone: a tombstone, not an empty row
    assert get_session(store, project, "B") is None
    assert get_session(store, project, "A") is not None
    assert list_sessions(store, project, limit=10, offset=0).total == 1


def test_session_that_loses_a_trace_keeps_its_others(store: Store) -> None:
    """B holds trace 1 and, until its root arrives, trace 2; then B is recomputed without trace 2."""
    project = new_project()
    one = agent_trace(uuid.uuid4().hex, "root", session="B")
    two = agent_trace(uuid.uuid4().hex, "root", session="A", offset_ms=10_000)
    two[1] = replace(two[1], session="B")
    committer = BatchCommitter(store)
    committer.commit(rows(one + two[1:], project))
    assert session_state(store, project)["B"]["trace_count"] == 2
    committer.commit(rows(two[:1], project))
    assert_matches(store, project, one + two)
    state = session_state(store, project)
    assert (state["A"]["trace_count"], state["B"]["trace_count"]) == (1, 1)


def test_emptied_session_comes_back_with_a_new_trace(store: Store) -> None:
    project = new_project()
    first = agent_trace(uuid.uuid4().hex, "root", session="A")
    first[4] = replace(first[4], session="B")
    later = agent_trace(uuid.uuid4().hex, "root", session="B", offset_ms=20_000)
    committer = BatchCommitter(store)
    committer.commit(rows(first[1:], project))
    committer.commit(rows(first[:1], project))
    assert set(session_state(store, project)) == {"A"}  # B was tombstoned
    committer.commit(rows(later, project))
    assert_matches(store, project, first + later)
    assert session_state(store, project)["B"]["trace_count"] == 1


def test_same_session_id_in_two_projects_is_two_sessions(store: Store) -> None:
    p1, p2 = new_project(), new_project()
    in_p1 = agent_trace(uuid.uuid4().hex, "root", session="shared")
    in_p2 = agent_trace(uuid.uuid4().hex, "root", session="shared", offset_ms=5_000)[:3]
    BatchCommitter(store).commit(rows(in_p1, p1) + rows(in_p2, p2))
    assert_matches(store, p1, in_p1)
    assert_matches(store, p2, in_p2)
    assert session_state(store, p1)["shared"]["span_count"] == 5
    assert session_state(store, p2)["shared"]["span_count"] == 3


def test_a_pass_rewrites_only_the_sessions_it_touched(store: Store) -> None:
    """The pass asks for its sessions by project ids and session ids: with p1's "s2" stored and a batch touching
    p1's "s1" and p2's "s2", p1's "s2" is read as well but not rewritten, and every rollup stays exact."""
    p1, p2 = new_project(), new_project()
    stored = agent_trace(uuid.uuid4().hex, "root", session="s2")
    committer = BatchCommitter(store)
    committer.commit(rows(stored, p1))
    version = "SELECT version FROM {db}.session_rollups FINAL WHERE project_id = {p:String} AND session_id = 's2'"
    before = store.select(version, {"p": p1}, tag="test.version")
    in_p1 = agent_trace(uuid.uuid4().hex, "root", session="s1", offset_ms=5_000)
    in_p2 = agent_trace(uuid.uuid4().hex, "root", session="s2", offset_ms=5_000)
    committer.commit(rows(in_p1, p1) + rows(in_p2, p2))
    assert store.select(version, {"p": p1}, tag="test.version") == before
    assert_matches(store, p1, stored + in_p1)
    assert_matches(store, p2, in_p2)
    assert set(session_state(store, p1)) == {"s1", "s2"} and set(session_state(store, p2)) == {"s2"}


def test_same_trace_id_in_two_projects_moves_independently(store: Store) -> None:
    """Projects never mix: one trace id, used in two projects, leaves a different session in each, in one
    commit."""
    p1, p2 = new_project(), new_project()
    trace_id = uuid.uuid4().hex
    in_p1 = agent_trace(trace_id, "root", session="A")
    in_p2 = agent_trace(trace_id, "root", session="A")
    in_p1[4] = replace(in_p1[4], session="B")  # p1: the trace first sits in B
    committer = BatchCommitter(store)
    committer.commit(rows(in_p1[1:], p1) + rows(in_p2[1:], p2))  # p2: the trace first sits in no session
    assert link_state(store, p1) == {trace_id: "B"}
    assert link_state(store, p2) == {trace_id: ""}
    committer.commit(rows(in_p1[:1], p1) + rows(in_p2[:1], p2))  # both roots: both traces move to A
    assert_matches(store, p1, in_p1)
    assert_matches(store, p2, in_p2)
    assert set(session_state(store, p1)) == {"A"}


# ------------------------------------------------------------------------------------------------------- replays


def test_replays_change_nothing(store: Store) -> None:
    project = new_project()
    one = agent_trace(uuid.uuid4().hex, "root")
    two = agent_trace(uuid.uuid4().hex, "grandchild", offset_ms=10_000)
    batch = rows(one + two, project)
    committer = BatchCommitter(store)
    committer.commit(batch)
    expected = session_state(store, project)
    assert_matches(store, project, one + two)

    committer.commit(batch)  # the writer re-writes the same batch (same token)
    raw = store.select("SELECT count() AS n FROM {db}.spans WHERE project_id = {p:String}", {"p": project},
                       tag="test.raw")[0]["n"]
    assert raw == 10  # the deduplication token skipped the second insert
    assert session_state(store, project) == expected

    committer.commit(batch, token="client-replay")  # same rows in a new batch: a client replay
    committer.commit(rows(one[::-1] + two[:2], project, ingested_at_us=1_767_300_000_000_000))  # re-normalised
    BatchCommitter(store).commit(batch)  # another writer (e.g. after a restart) re-writes it
    assert distinct_spans(store, project) == 10
    assert session_state(store, project) == expected
    assert_matches(store, project, one + two)


def test_a_span_repeated_within_one_batch_is_stored_twice_and_counted_once(store: Store) -> None:
    # The writer inserts without ClickHouse's insert-time collapsing (commit.WRITE_SETTINGS): a span sent twice in
    # one batch (a client retry landing in the same group commit) stays as two rows of the part until a merge, and
    # every rollup and read counts it once.
    project = new_project()
    trace = agent_trace(uuid.uuid4().hex, "root")
    batch = rows(trace, project)
    BatchCommitter(store).commit(batch + rows(trace[:2], project, ingested_at_us=1_767_300_000_000_000))
    stored = store.select("SELECT count() AS n FROM {db}.spans WHERE project_id = {p:String}", {"p": project},
                          tag="test.raw")[0]["n"]
    assert stored == len(trace) + 2
    assert distinct_spans(store, project) == len(trace)
    assert_matches(store, project, trace)


def test_trace_rollups_get_their_text_index_at_merge_and_search_finds_turns_either_way(store: Store) -> None:
    # commit.TRACE_ROLLUP_WRITE_SETTINGS: the writer's parts of trace_rollups have no text index until a merge
    # builds it; content search reads such a part in full and finds the same turns.
    if store.cluster is not None:
        pytest.skip("reads one server's system.parts; on a cluster the parts are the shards' local tables")
    project = new_project()
    # SYSTEM statements take no SETTINGS clause: straight to the transport.
    store.transport.command(f"SYSTEM STOP MERGES {store.database}.trace_rollups", {}, {})
    committer = BatchCommitter(store)
    for turn, word in enumerate(("aardvark", "okapi")):
        committer.commit(rows([Spec(uuid.uuid4().hex, sid(turn + 1), start_ms=turn * 1000, end_ms=turn * 1000 + 5,
                                    session="s-1", input=f"tell me about the {word}", output="sure")], project))

    def index_bytes() -> list[int]:
        return [r["b"] for r in store.select(
            "SELECT secondary_indices_compressed_bytes AS b FROM system.parts WHERE database = {d:String} "
            "AND table = 'trace_rollups' AND active", {"d": store.database}, tag="test.parts")]

    def found(word: str) -> list[str]:
        return [r["session_id"] for r in list_sessions(store, project, limit=5, search=word, cache=None).rows]

    assert index_bytes() == [0, 0]
    assert found("okapi") == ["s-1"] and found("aardv") == ["s-1"] and found("zebra") == []
    store.transport.command(f"SYSTEM START MERGES {store.database}.trace_rollups", {}, {})
    store.command("OPTIMIZE TABLE {db}.trace_rollups FINAL", tag="test.optimize")
    assert [b > 0 for b in index_bytes()] == [True]
    assert found("okapi") == ["s-1"] and found("aardv") == ["s-1"] and found("zebra") == []


def test_replay_of_a_batch_mixed_with_new_spans(store: Store) -> None:
    project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "root")
    committer = BatchCommitter(store)
    committer.commit(rows(specs[:3], project))
    committer.commit(rows(specs[1:], project))  # spans 2, 3 again plus 4, 5
    committer.commit(rows(specs[:3], project))  # the first batch again
    assert distinct_spans(store, project) == 5
    assert_matches(store, project, specs)


class FailAfter(Store):
    """The real store, made to fail right after its ``fail_at``-th statement has run, as a crash between the
    writer's statements would (the statement took effect, the commit did not finish)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.transport, store.database, retries=0)
        self.calls = 0
        self.fail_at = 0
        self.tags: list[str] = []

    def _run(self, tag: str, fn: Any, *args: Any) -> Any:
        result = super()._run(tag, fn, *args)
        self.calls += 1
        self.tags.append(tag)
        if self.calls == self.fail_at:
            raise StoreError(f"injected failure after {tag}", tag=tag)
        return result


def test_interrupted_commit_then_replay_is_exact(store: Store) -> None:
    """A commit that stops after any of its statements, then is committed again, leaves exact rollups: the trace
    in its new session only, and the session it left gone (DESIGN.md durability contract: a retry is safe)."""
    probe = FailAfter(store)
    probe_project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "root", session="A")
    specs[4] = replace(specs[4], session="B")
    probing = BatchCommitter(probe)  # one committer, as below: its first version reads the stored ones, once
    probing.commit(rows(specs[1:], probe_project))
    probe.tags.clear()
    probing.commit(rows(specs[:1], probe_project))
    statements = len(probe.tags)
    assert "writer.session_tombstones" in probe.tags  # the commit that moves the trace out of B

    for fail_at in range(1, statements + 1):
        project = new_project()
        faulty = FailAfter(store)
        committer = BatchCommitter(faulty)
        committer.commit(rows(specs[1:], project))  # the trace sits in B
        faulty.calls, faulty.fail_at = 0, fail_at
        with pytest.raises(StoreError):
            committer.commit(rows(specs[:1], project))  # the root (A) arrives; the commit is cut short
        faulty.fail_at = 0
        committer.commit(rows(specs[:1], project))  # the queue redelivers the batch
        assert_matches(store, project, specs)
        assert set(session_state(store, project)) == {"A"}, f"after a failure following {faulty.tags[fail_at - 1]}"


@pytest.mark.parametrize("before", ["first_commit", "after_a_no_session_commit"])
def test_interrupted_commit_then_another_batch_is_exact(store: Store, before: str) -> None:
    """The batch that puts the trace into B (a child's id) is cut short; before its redelivery, another batch of
    the same trace (the root, naming A) commits. Then the first batch is redelivered. B must not keep counting the
    trace, and no copy of it may stay in the no-session group."""
    specs = agent_trace(uuid.uuid4().hex, "root", session="A")
    specs[4] = replace(specs[4], session="B")
    plain, named_b, root = [specs[1]], [specs[2], specs[3], specs[4]], [specs[0]]
    probe = FailAfter(store)
    committer = BatchCommitter(probe)
    probe_project = new_project()
    if before == "after_a_no_session_commit":
        committer.commit(rows(plain, probe_project))
    probe.tags.clear()
    committer.commit(rows(named_b, probe_project))
    statements = len(probe.tags)

    for fail_at in range(1, statements + 1):
        project = new_project()
        faulty = FailAfter(store)
        committer = BatchCommitter(faulty)
        if before == "after_a_no_session_commit":
            committer.commit(rows(plain, project))
        faulty.calls, faulty.fail_at = 0, fail_at
        with pytest.raises(StoreError):
            committer.commit(rows(named_b, project))
        failed_after = faulty.tags[-1]
        faulty.fail_at = 0
        committer.commit(rows(root, project))  # another request's batch
        committer.commit(rows(named_b, project))  # the redelivery
        if before == "first_commit":
            committer.commit(rows(plain, project))
        assert set(session_state(store, project)) == {"A"}, f"after a failure following {failed_after}"
        assert_matches(store, project, specs)


# ---------------------------------------------------------------------------------------------------- multi-turn


MODELS = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro", "gpt-4o-mini", "llama-3.1-70b"]
DURATIONS_MS = [1000, 3000, 2000, 5000, 4000]


def turn(index: int, session: str) -> list[Spec]:
    trace_id = f"{index + 1:032x}"
    start = index * 60_000
    duration = DURATIONS_MS[index]
    return [
        Spec(trace_id, sid(1), "", start, start + duration, "chain", session=session if index != 2 else "",
             input=f"user turn {index + 1}", output=f"assistant turn {index + 1}"),
        Spec(trace_id, sid(2), sid(1), start + 10, start + duration - 10, "llm", model=MODELS[index],
             input_tokens=100 * (index + 1), output_tokens=10 * (index + 1), cost=0.001 * (index + 1),
             input=f"prompt {index + 1}", output=f"completion {index + 1}",
             session=session if index == 2 else ""),  # turn 3 carries the id on its llm span only
        Spec(trace_id, sid(3), sid(1), start + 5, start + 8, "tool", error=index == 3),
    ]


def test_multi_turn_session(store: Store) -> None:
    project = new_project()
    turns = [turn(i, "conversation-42") for i in range(5)]
    committer = BatchCommitter(store)
    for index in (3, 0, 4, 1, 2):  # turns arrive out of order, each in its own commit
        committer.commit(rows(turns[index], project))
    specs = [s for t in turns for s in t]
    assert_matches(store, project, specs)

    session = session_state(store, project)["conversation-42"]
    assert session["trace_count"] == 5
    assert session["span_count"] == 15
    assert session["llm_call_count"] == 5
    assert session["tool_call_count"] == 5
    assert session["error_count"] == 1
    assert session["input_tokens"] == 1500 and session["output_tokens"] == 150 and session["total_tokens"] == 1650
    assert session["total_cost_usd"] == pytest.approx(0.015)
    assert session["avg_latency_ms"] == pytest.approx(3000.0)
    assert session["p50_latency_ms"] == pytest.approx(3000.0)
    assert session["p95_latency_ms"] == pytest.approx(5000.0)
    assert session["total_duration_ms"] == pytest.approx(15000.0)
    assert session["wall_duration_ms"] == pytest.approx(4 * 60_000 + 4000.0)
    assert session["first_input"] == "user turn 1"
    assert session["last_output"] == "assistant turn 5"
    assert session["models"] == sorted(MODELS)

    page = session_traces(store, project, "conversation-42", limit=10, offset=0)
    assert [(r["turn"], r["input"], r["output"]) for r in page.rows] == [
        (i + 1, f"user turn {i + 1}", f"assistant turn {i + 1}") for i in range(5)]
    api_view = get_session(store, project, "conversation-42")
    assert api_view is not None
    assert (api_view["trace_count"], api_view["first_input"], api_view["last_output"]) == (
        5, "user turn 1", "assistant turn 5")


@pytest.mark.parametrize("winner_text_bytes", [1 << 20, 0], ids=["kept", "not kept"])
def test_session_first_input_is_kept_apart_from_recent_texts(store: Store, winner_text_bytes: int) -> None:
    """A session's first input is its first trace's, written long before its later turns: with no room for recent
    texts, the committer still has it (no re-read of trace_rollups) when it keeps winners' texts, and reads it back
    when it does not; the rollup is the same either way."""
    project = new_project()
    turns = [turn(i, "conversation-7") for i in range(4)]
    counting = FailAfter(store)  # fail_at 0: never fails, records every statement's tag
    committer = BatchCommitter(counting, text_cache_bytes=0, winner_text_bytes=winner_text_bytes)
    for index in range(4):
        committer.commit(rows(turns[index], project))
    reads = counting.tags.count("writer.trace_inputs")
    assert reads == (0 if winner_text_bytes else 3)
    session = session_state(store, project)["conversation-7"]
    assert (session["first_input"], session["last_output"]) == ("user turn 1", "assistant turn 4")
    assert_matches(store, project, [s for t in turns for s in t])


def test_reported_trace_totals_take_the_greater(store: Store) -> None:
    """GREATEST(reported, span sum) per trace, never both added; the session sums the traces' totals."""
    project = new_project()
    t1, t2, t3 = (f"{n:032x}" for n in (0xA1, 0xA2, 0xA3))
    specs = [
        # reported > spans: the reported total counts
        Spec(t1, sid(1), "", 0, 1000, "chain", session="s", reported_cost=1.25, reported_tokens=5000),
        Spec(t1, sid(2), sid(1), 10, 900, "llm", model="gpt-4o", input_tokens=100, output_tokens=20, cost=0.01),
        # reported < spans: the span sum counts
        Spec(t2, sid(1), "", 2000, 3000, "chain", session="s", reported_cost=0.0001, reported_tokens=10),
        Spec(t2, sid(2), sid(1), 2010, 2500, "llm", model="gpt-4o", input_tokens=300, output_tokens=200,
             cost=0.04),
        Spec(t2, sid(3), sid(1), 2510, 2900, "llm", model="gpt-4o", input_tokens=30, output_tokens=20, cost=0.01),
        # reported only, no span usage
        Spec(t3, sid(1), "", 4000, 5000, "chain", session="s", reported_cost=0.5, reported_tokens=700),
    ]
    committer = BatchCommitter(store)
    committer.commit(rows(specs[1:2] + specs[3:], project))  # children (and t3) first
    committer.commit(rows(specs[0:1] + specs[2:3], project))
    committer.commit(rows(specs, project), token="replay")
    traces = trace_state(store, project)
    assert traces[t1]["cost_usd"] == pytest.approx(1.25) and traces[t1]["total_tokens"] == 5000
    assert traces[t2]["cost_usd"] == pytest.approx(0.05) and traces[t2]["total_tokens"] == 550
    assert traces[t3]["cost_usd"] == pytest.approx(0.5) and traces[t3]["total_tokens"] == 700
    session = session_state(store, project)["s"]
    assert session["total_cost_usd"] == pytest.approx(1.8)
    assert session["total_tokens"] == 6250
    assert (session["input_tokens"], session["output_tokens"]) == (430, 240)  # span usage only
    assert_matches(store, project, specs)


# ------------------------------------------------------------------------------------------------ token counting


def test_parents_repeating_child_usage_are_not_double_counted(store: Store) -> None:
    """OpenInference CHAIN / AGENT parents repeat their children's token counts; only llm and embedding spans
    count."""
    project = new_project()
    trace_id = uuid.uuid4().hex
    specs = [
        Spec(trace_id, sid(1), "", 0, 2000, "agent", session="s", input_tokens=150, output_tokens=40),
        Spec(trace_id, sid(2), sid(1), 10, 1900, "chain", input_tokens=150, output_tokens=40),
        Spec(trace_id, sid(3), sid(2), 20, 900, "llm", model="gpt-4o", input_tokens=100, output_tokens=40,
             cost=0.002),
        Spec(trace_id, sid(4), sid(2), 950, 1000, "embedding", model="text-embedding-3-small", input_tokens=50,
             cost=0.00001),
        Spec(trace_id, sid(5), sid(2), 1100, 1200, "retriever"),
    ]
    BatchCommitter(store).commit(rows(specs, project))
    stored = {r["span_id"]: r["span_type"] for r in store.select(
        "SELECT span_id, span_type FROM {db}.spans FINAL WHERE project_id = {p:String}", {"p": project},
        tag="test.types")}
    assert stored == {sid(1): "agent", sid(2): "chain", sid(3): "llm", sid(4): "embedding", sid(5): "retriever"}
    session = session_state(store, project)["s"]
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (150, 40, 190)
    assert session["total_cost_usd"] == pytest.approx(0.00201)
    assert session["llm_call_count"] == 1
    assert_matches(store, project, specs)


# ------------------------------------------------------------------------------------------------ property test

SESSION_POOL = ["s-a", "s-b", "s-c"]


@st.composite
def scenarios(draw: st.DrawFn) -> list[Spec]:
    specs: list[Spec] = []
    for t in range(draw(st.integers(1, 4))):
        trace_id = f"{t + 1:032x}"
        trace_session = draw(st.sampled_from(["", *SESSION_POOL]))
        base = t * 5_000 + draw(st.integers(0, 3_000))  # traces may overlap in time
        has_root = draw(st.booleans()) or draw(st.booleans())  # a root is missing now and then
        for s in range(draw(st.integers(1, 5))):
            root_parent = "" if has_root else sid(0xFF)  # 0xFF: a parent that never arrives
            parent = root_parent if s == 0 else sid(draw(st.integers(1, s)))
            kind = draw(st.sampled_from(["llm", "llm", "tool", "chain", "embedding", "span"]))
            start = base + draw(st.integers(0, 2_000))
            end = start + draw(st.integers(0, 3_000))
            where = draw(st.sampled_from(["none", "none", "span", "resource", "other"]))
            session = resource = ""
            if where == "span":
                session = trace_session
            elif where == "resource":
                resource = trace_session
            elif where == "other":  # a conflicting id
                session = draw(st.sampled_from(SESSION_POOL))
            usage = kind in ("llm", "embedding", "chain")
            specs.append(Spec(
                trace_id, sid(s + 1), parent, start, end, kind, session=session, resource_session=resource,
                model=draw(st.sampled_from(["m-1", "m-2", "m-3"])) if kind in USAGE_KINDS else "",
                input_tokens=draw(st.integers(0, 1_000)) if usage else 0,
                output_tokens=draw(st.integers(0, 500)) if kind in ("llm", "chain") else 0,
                cost=draw(st.integers(0, 500)) / 10_000 if kind in USAGE_KINDS else 0.0,
                error=draw(st.integers(0, 4)) == 0,
                input=draw(st.sampled_from(["", "", f"in-{t}-{s}"])),
                output=draw(st.sampled_from(["", "", f"out-{t}-{s}"])),
                reported_cost=draw(st.sampled_from([0.0, 0.0, 0.0, 0.05, 0.3])) if s == 0 else 0.0,
                reported_tokens=draw(st.sampled_from([0, 0, 0, 100, 3_000])) if s == 0 else 0,
            ))
    return specs


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=scenarios(), data=st.data())
def test_random_batches_and_replays_give_exact_rollups(store: Store, specs: list[Spec], data: st.DataObject) -> None:
    project = new_project()
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    batch_rows = [(spec, spec.row(project)) for spec in specs]
    replayed = [(spec, spec.row(project, ingested_at_us=1_767_400_000_000_000 + i))
                for i, spec in enumerate(specs) if rng.random() < 0.3]  # client replays, re-normalised later
    everything = batch_rows + replayed
    rng.shuffle(everything)
    cuts = sorted(rng.sample(range(1, len(everything)), k=min(len(everything) - 1, rng.randint(0, 3))))
    batches = [[row for _, row in everything[a:b]] for a, b in zip([0, *cuts], [*cuts, len(everything)],
                                                                  strict=True)]
    committer = BatchCommitter(store)
    for batch in batches:
        committer.commit(batch)
    if rng.random() < 0.5:
        committer.commit(rng.choice(batches))  # the writer re-writes a batch (same token)
    assert_matches(store, project, specs)
