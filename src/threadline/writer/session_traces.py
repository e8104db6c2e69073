"""The traces of recently written sessions, and a session's rollup aggregated from them in memory.

The embedded store's only writer keeps, per recently written session, the narrow rollup row of each of its traces
(everything :data:`threadline.rollups.SESSION_ROLLUP` reads, no text). A rollup pass then updates the rows of the
traces it wrote and aggregates each touched session from memory (:func:`session_rollups_table`), instead of having
chDB re-read the session's ``trace_rollups`` rows with ``FINAL`` and re-aggregate them: at 1M stored spans that
statement was the writer's second most expensive (13 µs of chDB CPU per span) and grew with the parts it read
(issue 11). Sessions not kept are read once, narrow, from ``trace_rollups`` (:data:`SESSION_TRACES`).

:func:`session_rollups_table` is the in-memory twin of ``SESSION_ROLLUP``, aggregate by aggregate (the property
tests compare both with a from-scratch recomputation): sums and counts add, ``quantileExact`` takes the element at
``int(level * n)`` of the sorted durations (ClickHouse's definition), arg-winners compare the same tuples, and
metadata is folded with ClickHouse's ``mapUpdate`` order (keys only the earlier map has first, then the later map's).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from threadline.writer.trace_state import TraceState

SessionKey = tuple[str, str]  # (project_id, session_id)

# The trace rows of sessions by primary key (the store's live rows: FINAL drops replaced rows and tombstones).
SESSION_TRACES = """
SELECT project_id, session_id, trace_id, user_id, toUnixTimestamp64Nano(start_time) AS start_ns,
       toUnixTimestamp64Nano(end_time) AS end_ns, duration_ms, span_count, llm_call_count, tool_call_count,
       error_count, input_tokens, output_tokens, total_tokens, cost_usd, models, has_input, has_output, version,
       end_state, previous_session_id, metadata, tags
FROM {db}.trace_rollups FINAL
WHERE (project_id, session_id) IN {keys:Array(Tuple(String, String))}
"""

_TS = pa.timestamp("ns", tz="UTC")
# The columns and types of ``SESSION_ROLLUP``'s result, in its order.
SESSION_ROLLUP_SCHEMA = pa.schema([
    ("project_id", pa.string()), ("session_id", pa.string()), ("user_id", pa.string()),
    ("trace_count", pa.uint32()), ("span_count", pa.uint64()), ("llm_call_count", pa.uint64()),
    ("tool_call_count", pa.uint64()), ("error_count", pa.uint64()), ("input_tokens", pa.uint64()),
    ("output_tokens", pa.uint64()), ("total_tokens", pa.uint64()), ("total_cost_usd", pa.float64()),
    ("total_duration_ms", pa.float64()), ("wall_duration_ms", pa.float64()), ("avg_latency_ms", pa.float64()),
    ("p50_latency_ms", pa.float64()), ("p95_latency_ms", pa.float64()), ("first_seen", _TS), ("last_seen", _TS),
    ("models", pa.list_(pa.string())), ("first_input_trace", pa.string()), ("first_input_version", pa.uint64()),
    ("last_output_trace", pa.string()), ("last_output_version", pa.uint64()), ("end_state", pa.string()),
    ("previous_session_id", pa.string()), ("metadata", pa.map_(pa.string(), pa.string())),
    ("tags", pa.list_(pa.string())),
])


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """A trace's ``trace_rollups`` row without its texts: times in ns since the epoch, ``duration_ms`` in ms,
    ``cost_usd`` in USD, tokens as counted by the trace rollup; ``version`` is the row's rollup version."""

    trace_id: str
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
    models: tuple[str, ...]
    has_input: bool
    has_output: bool
    version: int
    end_state: str
    previous_session_id: str
    metadata: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]

    @classmethod
    def of_state(cls, state: TraceState, version: int) -> TraceEntry:
        """The row :func:`threadline.writer.trace_state.rollups_table` writes for ``state`` at ``version`` (its
        texts must be known)."""
        return cls(state.trace_id, state.user_id, state.start_ns, state.end_ns,
                   (state.end_ns - state.start_ns) / 1e6, state.span_count, state.llm_call_count,
                   state.tool_call_count, state.error_count, state.input_tokens, state.output_tokens,
                   max(state.reported_tokens, state.usage_tokens),
                   max(state.reported_cost_usd, state.usage_cost_usd), tuple(sorted(state.models)),
                   bool(state.input), bool(state.output), version, state.end_state, state.previous_session_id,
                   tuple(state.metadata), tuple(sorted(state.tags)))

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> TraceEntry:
        """An entry of a :data:`SESSION_TRACES` result row."""
        return cls(row["trace_id"], row["user_id"], row["start_ns"], row["end_ns"], row["duration_ms"],
                   row["span_count"], row["llm_call_count"], row["tool_call_count"], row["error_count"],
                   row["input_tokens"], row["output_tokens"], row["total_tokens"], row["cost_usd"],
                   tuple(row["models"]), bool(row["has_input"]), bool(row["has_output"]), row["version"],
                   row["end_state"], row["previous_session_id"], tuple(row["metadata"]), tuple(row["tags"]))


class SessionTraces:
    """Least-recently-used map of (project_id, session_id) → {trace_id: :class:`TraceEntry`} of the session's live
    trace rows, bounded by ``max_traces`` entries over all sessions (0 keeps none). Only a store's only writer may
    keep one: it must see every write to ``trace_rollups`` (:meth:`apply`), or drop what a write touched."""

    def __init__(self, max_traces: int = 50_000) -> None:
        self.max_traces = max_traces
        self._sessions: OrderedDict[SessionKey, dict[str, TraceEntry]] = OrderedDict()
        self._count = 0

    def get(self, key: SessionKey) -> dict[str, TraceEntry] | None:
        """The trace rows of a kept session (the live object: :meth:`apply` updates it), or None."""
        found = self._sessions.get(key)
        if found is not None:
            self._sessions.move_to_end(key)
        return found

    def put(self, key: SessionKey, traces: dict[str, TraceEntry]) -> None:
        """Keep every live trace row of a session (as read from the store after the pass's writes)."""
        self.discard([key])
        self._sessions[key] = traces
        self._count += len(traces)
        self._evict()

    def apply(self, left: Iterable[tuple[str, str, str]], states: Sequence[TraceState], version: int) -> None:
        """Update the kept sessions with a pass's ``trace_rollups`` writes: the (project, session, trace) rows
        tombstoned (``left``) and the live rows of ``states`` at ``version``. Sessions not kept stay so."""
        for project, session, trace in left:
            kept = self._sessions.get((project, session))
            if kept is not None and kept.pop(trace, None) is not None:
                self._count -= 1
        for state in states:
            kept = self._sessions.get((state.project_id, state.session_id)) if state.session_id else None
            if kept is not None:
                self._count += state.trace_id not in kept
                kept[state.trace_id] = TraceEntry.of_state(state, version)
        self._evict()

    def discard(self, keys: Iterable[SessionKey]) -> None:
        """Stop keeping these sessions."""
        for key in keys:
            gone = self._sessions.pop(key, None)
            if gone is not None:
                self._count -= len(gone)

    def forget_project(self, project_id: str) -> None:
        """Stop keeping every session of ``project_id``."""
        self.discard([key for key in self._sessions if key[0] == project_id])

    def clear(self) -> None:
        """Keep nothing (after a pass that failed part-way: what it wrote is unknown)."""
        self._sessions.clear()
        self._count = 0

    def _evict(self) -> None:
        while self._count > self.max_traces and self._sessions:
            _, gone = self._sessions.popitem(last=False)
            self._count -= len(gone)

    def __len__(self) -> int:
        return len(self._sessions)


def _quantile_exact(sorted_values: Sequence[float], level: float) -> float:
    # ClickHouse's QuantileExact: the element at int(level * n) of the sorted values (the last one for level >= 1).
    n = len(sorted_values)
    return sorted_values[int(level * n) if level < 1 else n - 1]


def _map_update(into: dict[str, str], later: Sequence[tuple[str, str]]) -> dict[str, str]:
    # mapUpdate(a, b): a's keys that b lacks, in a's order, then b's entries in b's order.
    update = dict(later)
    merged = {key: value for key, value in into.items() if key not in update}
    merged.update(update)
    return merged


def session_rollups_table(sessions: Sequence[tuple[SessionKey, Iterable[TraceEntry]]]) -> pa.Table:
    """The rows ``SESSION_ROLLUP`` would return for ``sessions`` ((project_id, session_id) with the session's live
    trace rows), as an Arrow table of :data:`SESSION_ROLLUP_SCHEMA`. A session without traces has no row."""
    columns: dict[str, list[Any]] = {name: [] for name in SESSION_ROLLUP_SCHEMA.names}
    for (project, session), entries in sessions:
        # Sorted by (start, trace id): the order of every arg-min/max tie-break and of the metadata fold.
        traces = sorted(entries, key=lambda e: (e.start_ns, e.trace_id))
        if not traces:
            continue
        durations = sorted(e.duration_ms for e in traces)
        first_seen = min(e.start_ns for e in traces)
        last_seen = max(e.end_ns for e in traces)
        first_input = next((e for e in traces if e.has_input), None)
        last_output = next((e for e in reversed(traces) if e.has_output), None)
        ended = [e for e in traces if e.end_state]
        metadata: dict[str, str] = {}
        for entry in traces:
            if entry.metadata:
                metadata = _map_update(metadata, entry.metadata)
        total_duration = sum(e.duration_ms for e in traces)
        values = {
            "project_id": project, "session_id": session,
            "user_id": next((e.user_id for e in traces if e.user_id), ""),
            "trace_count": len(traces),
            "span_count": sum(e.span_count for e in traces),
            "llm_call_count": sum(e.llm_call_count for e in traces),
            "tool_call_count": sum(e.tool_call_count for e in traces),
            "error_count": sum(e.error_count for e in traces),
            "input_tokens": sum(e.input_tokens for e in traces),
            "output_tokens": sum(e.output_tokens for e in traces),
            "total_tokens": sum(e.total_tokens for e in traces),
            "total_cost_usd": sum(e.cost_usd for e in traces),
            "total_duration_ms": total_duration,
            "wall_duration_ms": (last_seen - first_seen) / 1e6,
            "avg_latency_ms": total_duration / len(traces),
            "p50_latency_ms": _quantile_exact(durations, 0.5),
            "p95_latency_ms": _quantile_exact(durations, 0.95),
            "first_seen": first_seen, "last_seen": last_seen,
            "models": sorted({model for e in traces for model in e.models}),
            "first_input_trace": first_input.trace_id if first_input else "",
            "first_input_version": first_input.version if first_input else 0,
            "last_output_trace": last_output.trace_id if last_output else "",
            "last_output_version": last_output.version if last_output else 0,
            "end_state": max(ended, key=lambda e: (e.end_ns, e.trace_id)).end_state if ended else "",
            "previous_session_id": next((e.previous_session_id for e in traces if e.previous_session_id), ""),
            "metadata": list(metadata.items()),
            "tags": sorted({tag for e in traces for tag in e.tags}),
        }
        for name, value in values.items():
            columns[name].append(value)
    return pa.table({name: pa.array(columns[name], field.type) if field.type != _TS else
                     pa.array(columns[name], pa.int64()).cast(_TS)
                     for name, field in zip(SESSION_ROLLUP_SCHEMA.names, SESSION_ROLLUP_SCHEMA, strict=True)},
                    schema=SESSION_ROLLUP_SCHEMA)
