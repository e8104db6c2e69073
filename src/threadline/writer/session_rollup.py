"""A session's rollup from its turns' narrow summaries: the one definition of every session aggregate.

A session is every live ``trace_rollups`` row under its id (:mod:`threadline.rollups`). The writer keeps, per
session it touches, one :class:`TurnSummary` per turn — the trace rollup's numbers without its texts — either from
the rows it just wrote or from a narrow read (``rollups.SESSION_TURNS``), and aggregates them here:

* sums over turns (spans, LLM/tool calls, errors, tokens, cost USD, durations ms);
* ``wall_duration_ms`` = last end - first start; ``avg``/``p50``/``p95_latency_ms`` over turn durations, the
  quantiles exact as ClickHouse's ``quantileExact`` (the element at ``floor(level * n)`` of the sorted durations);
* ``user_id``/``previous_session_id``: of the earliest turn (start, trace id) that has one; ``end_state``: of the
  latest (end, trace id) that has one; ``metadata``: every turn's, later starts winning per key; ``models``/``tags``:
  sorted unions;
* ``first_input``/``last_output``: the texts of the earliest turn with an input and the latest (by start) with an
  output — :func:`aggregate` names those turns; the writer fetches only their texts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from threadline.writer.trace_state import TraceState

_TS = pa.timestamp("ns", tz="UTC")
_MAP = pa.map_(pa.string(), pa.string())


@dataclass(slots=True)
class TurnSummary:
    """One turn of a session as its rollup needs it: times in ns since the epoch, duration in ms, cost in USD,
    ``version`` of the trace rollup row (its texts are that row's)."""

    trace_id: str
    version: int
    user_id: str
    start_ns: int
    end_ns: int
    duration_ms: float
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    models: Sequence[str]
    has_input: bool
    has_output: bool
    end_state: str
    previous_session_id: str
    metadata: Sequence[tuple[str, str]]
    tags: Sequence[str]

    @classmethod
    def of_state(cls, state: TraceState, version: int) -> TurnSummary:
        """The summary of the rollup row ``rollups_table`` writes for ``state`` (texts known)."""
        return cls(state.trace_id, version, state.user_id, state.start_ns, state.end_ns,
                   (state.end_ns - state.start_ns) / 1e6, state.span_count, state.llm_call_count,
                   state.tool_call_count, state.error_count, state.input_tokens, state.output_tokens,
                   max(state.reported_tokens, state.usage_tokens), max(state.reported_cost_usd, state.usage_cost_usd),
                   sorted(state.models), bool(state.input), bool(state.output), state.end_state,
                   state.previous_session_id, list(state.metadata), sorted(state.tags))

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> TurnSummary:
        """The summary of a ``rollups.SESSION_TURNS`` row."""
        metadata = row["metadata"]
        return cls(row["trace_id"], row["version"], row["user_id"], row["start_ns"], row["end_ns"],
                   row["duration_ms"], row["span_count"], row["llm_call_count"], row["tool_call_count"],
                   row["error_count"], row["input_tokens"], row["output_tokens"], row["total_tokens"],
                   row["cost_usd"], row["models"], bool(row["has_input"]), bool(row["has_output"]), row["end_state"],
                   row["previous_session_id"], list(metadata.items()) if isinstance(metadata, dict) else metadata,
                   row["tags"])


@dataclass(frozen=True, slots=True)
class SessionRollup:
    """A session's rollup without its two texts, and which turns (trace id, rollup version) hold them (empty trace
    id: no turn has one)."""

    values: dict[str, Any]
    first_input_from: tuple[str, int]
    last_output_from: tuple[str, int]


def _quantile_exact(ordered: list[float], level: float) -> float:
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def aggregate(project_id: str, session_id: str, turns: Iterable[TurnSummary]) -> SessionRollup:
    """The rollup of a session from its (non-empty) turns. Raises ValueError when there is none."""
    by_start = sorted(turns, key=lambda t: (t.start_ns, t.trace_id))
    if not by_start:
        raise ValueError(f"session {session_id!r} has no turn")
    durations = sorted(t.duration_ms for t in by_start)
    with_input = [t for t in by_start if t.has_input]
    with_output = [t for t in by_start if t.has_output]
    ended = [t for t in by_start if t.end_state]
    metadata: dict[str, str] = {}
    for turn in by_start:
        metadata.update(turn.metadata)
    values = {
        "project_id": project_id,
        "session_id": session_id,
        "user_id": next((t.user_id for t in by_start if t.user_id), ""),
        "trace_count": len(by_start),
        "span_count": sum(t.span_count for t in by_start),
        "llm_call_count": sum(t.llm_call_count for t in by_start),
        "tool_call_count": sum(t.tool_call_count for t in by_start),
        "error_count": sum(t.error_count for t in by_start),
        "input_tokens": sum(t.input_tokens for t in by_start),
        "output_tokens": sum(t.output_tokens for t in by_start),
        "total_tokens": sum(t.total_tokens for t in by_start),
        "total_cost_usd": sum(t.cost_usd for t in by_start),
        "total_duration_ms": sum(durations),
        "wall_duration_ms": (max(t.end_ns for t in by_start) - by_start[0].start_ns) / 1e6,
        "avg_latency_ms": sum(durations) / len(durations),
        "p50_latency_ms": _quantile_exact(durations, 0.5),
        "p95_latency_ms": _quantile_exact(durations, 0.95),
        "first_seen": by_start[0].start_ns,
        "last_seen": max(t.end_ns for t in by_start),
        "models": sorted({m for t in by_start for m in t.models}),
        "end_state": max(ended, key=lambda t: (t.end_ns, t.trace_id)).end_state if ended else "",
        "previous_session_id": next((t.previous_session_id for t in by_start if t.previous_session_id), ""),
        "metadata": list(metadata.items()),
        "tags": sorted({tag for t in by_start for tag in t.tags}),
    }
    first = (with_input[0].trace_id, with_input[0].version) if with_input else ("", 0)
    last = (with_output[-1].trace_id, with_output[-1].version) if with_output else ("", 0)
    return SessionRollup(values, first, last)


def sessions_table(rollups: Sequence[SessionRollup], texts: Sequence[tuple[str, str]], version: int) -> pa.Table:
    """The live ``session_rollups`` rows of ``rollups`` with their (first_input, last_output) ``texts``."""
    data: dict[str, Any] = {name: [r.values[name] for r in rollups] for name in rollups[0].values} if rollups else {}
    for name in ("trace_count",):
        data[name] = pa.array(data[name], pa.uint32())
    for name in ("span_count", "llm_call_count", "tool_call_count", "error_count", "input_tokens", "output_tokens",
                 "total_tokens"):
        data[name] = pa.array(data[name], pa.uint64())
    for name in ("first_seen", "last_seen"):
        data[name] = pa.array(data[name], pa.int64()).cast(_TS)
    data["models"] = pa.array(data["models"], pa.list_(pa.string()))
    data["tags"] = pa.array(data["tags"], pa.list_(pa.string()))
    data["metadata"] = pa.array(data["metadata"], _MAP)
    data["first_input"] = [t[0] for t in texts]
    data["last_output"] = [t[1] for t in texts]
    data["version"] = pa.array([version] * len(rollups), pa.uint64())
    data["is_deleted"] = pa.array([0] * len(rollups), pa.uint8())
    return pa.table(data)
