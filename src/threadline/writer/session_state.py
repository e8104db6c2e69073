"""A session's rollup, computed from its members: the narrow columns of its traces' ``trace_rollups`` rows.

Every session aggregate of :mod:`threadline.rollups` is defined here, once (:func:`aggregate`), over a session's
:class:`Member` rows. The writer gets those rows either from the ``trace_rollups`` rows it writes in a pass (the
traces that changed) plus the members it already holds for the session (:class:`SessionMembers`, an exclusive
writer's cache of complete member sets), or by reading them (:data:`threadline.rollups.SESSION_MEMBERS`, narrow
columns by primary key range). A pass whose sessions are all held reads nothing: its cost is its batch, not the
session's length in parts and granules (the read grew from 11 to 25 µs per span over the first 300k stored spans).

A member set is complete when it was read whole after the pass's own rows were written, or derived from a complete
set by the pass's changes (a trace's new row replaces its old one; a trace that left is removed). The exclusive writer
is the only writer of its store, so no row changes behind it; anything that writes rollups outside a pass (retention,
a project's deletion, a failed pass) drops the sessions it touched from the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

import pyarrow as pa

Key = tuple[str, str]
_TS = pa.timestamp("ns", tz="UTC")
_MAP = pa.map_(pa.string(), pa.string())
MEMBER_COLUMNS = ("project_id", "session_id", "trace_id", "user_id", "start_ns", "end_ns", "span_count",
                  "llm_call_count", "tool_call_count", "error_count", "input_tokens", "output_tokens", "total_tokens",
                  "cost_usd", "models", "has_input", "has_output", "version", "end_state", "previous_session_id",
                  "metadata", "tags")
"""Columns of a member table: those of ``trace_rollups`` a session aggregate reads, times as ns integers."""


class Member(NamedTuple):
    """One trace of a session, as the session aggregates see it (its live ``trace_rollups`` row without texts):
    ``start_ns``/``end_ns`` ns since the epoch, tokens, ``cost_usd`` in USD, ``version`` the row's rollup version
    (its texts are the row's at that version), ``has_input``/``has_output`` whether its texts are non-empty."""

    trace_id: str
    user_id: str
    start_ns: int
    end_ns: int
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


def members_of(table: pa.Table) -> dict[Key, dict[str, Member]]:
    """The members in ``table`` (live ``trace_rollups`` rows: :data:`MEMBER_COLUMNS`, or the rows the writer
    inserts, whose times are ``start_time``/``end_time`` timestamps), grouped by (project_id, session_id), keyed by
    trace id. Rows of no session (empty session id) are skipped."""
    names = set(table.column_names)
    start = "start_ns" if "start_ns" in names else "start_time"
    end = "end_ns" if "end_ns" in names else "end_time"

    def values(name: str) -> list[Any]:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        listed: list[Any] = column.to_pylist()
        return listed

    projects, sessions = values("project_id"), values("session_id")
    columns = [values(name) for name in ("trace_id", "user_id")] + [values(start), values(end)] + [
        values(name) for name in MEMBER_COLUMNS[6:]]
    model_at, meta_at, tags_at, input_at, output_at = (Member._fields.index(name) for name in (
        "models", "metadata", "tags", "has_input", "has_output"))
    grouped: dict[Key, dict[str, Member]] = {}
    for index, row in enumerate(zip(*columns, strict=True)):
        session = sessions[index]
        if not session:
            continue
        fields = list(row)
        fields[model_at] = tuple(fields[model_at])
        meta = fields[meta_at]
        fields[meta_at] = tuple(meta.items() if isinstance(meta, dict) else meta)
        fields[tags_at] = tuple(fields[tags_at])
        fields[input_at], fields[output_at] = bool(fields[input_at]), bool(fields[output_at])
        member = Member(*fields)
        grouped.setdefault((projects[index], session), {})[member.trace_id] = member
    return grouped


class SessionRollup(NamedTuple):
    """A session's rollup without its texts: the ``session_rollups`` columns (durations in ms, cost in USD, times
    in ns since the epoch) plus the traces (and their rollup versions) whose texts are its first input and last
    output ("" and 0: none)."""

    user_id: str
    trace_count: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost_usd: float
    total_duration_ms: float
    wall_duration_ms: float
    avg_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    first_seen_ns: int
    last_seen_ns: int
    models: list[str]
    end_state: str
    previous_session_id: str
    metadata: list[tuple[str, str]]
    tags: list[str]
    first_input: tuple[str, int]
    last_output: tuple[str, int]


def _quantile_exact(ordered: Sequence[float], level: float) -> float:
    """ClickHouse's ``quantileExact(level)``: the element at index ``floor(level * n)`` of the sorted values (the
    upper median for an even count), not an interpolation."""
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def aggregate(members: Iterable[Member]) -> SessionRollup | None:
    """The session rollup of ``members`` (None when there are none), by the definitions of :mod:`threadline.rollups`:
    sums over traces; latency avg and exact p50/p95 over trace durations (``end - start``, ms); first seen and last
    seen the earliest start and latest end; user, previous session, first input: of the earliest trace (by start,
    then trace id) that has one; last output: of the latest such trace; end state: of the trace that ends last;
    metadata: every trace's, later starts winning a key; models and tags: sorted unions."""
    rows = sorted(members, key=_BY_START)
    if not rows:
        return None
    # Column by column (C-level sums, unions and searches): this runs for every session of every pass.
    (traces, users, starts, ends, spans, llm_calls, tool_calls, errors, input_tokens, output_tokens, total_tokens,
     costs, models, has_input, has_output, versions, end_states, previous, metadatas, tags) = zip(*rows, strict=True)
    durations = [(end - start) / 1e6 for start, end in zip(starts, ends, strict=True)]
    total_duration = sum(durations)
    durations.sort()
    first_seen, last_seen = starts[0], max(ends)
    first_input = ("", 0)
    if True in has_input:
        at = has_input.index(True)
        first_input = (traces[at], versions[at])
    last_output = ("", 0)
    if True in has_output:
        at = len(rows) - 1 - has_output[::-1].index(True)
        last_output = (traces[at], versions[at])
    end_state = ""
    if any(end_states):
        end_state = max((m for m in rows if m.end_state), key=_BY_END).end_state
    metadata: dict[str, str] = {}
    for pairs in metadatas:
        if pairs:
            metadata.update(pairs)
    return SessionRollup(
        user_id=next(filter(None, users), ""), trace_count=len(rows), span_count=sum(spans),
        llm_call_count=sum(llm_calls), tool_call_count=sum(tool_calls), error_count=sum(errors),
        input_tokens=sum(input_tokens), output_tokens=sum(output_tokens), total_tokens=sum(total_tokens),
        total_cost_usd=sum(costs), total_duration_ms=total_duration,
        wall_duration_ms=(last_seen - first_seen) / 1e6, avg_latency_ms=total_duration / len(rows),
        p50_latency_ms=_quantile_exact(durations, 0.5), p95_latency_ms=_quantile_exact(durations, 0.95),
        first_seen_ns=first_seen, last_seen_ns=last_seen, models=sorted(set().union(*models)),
        end_state=end_state, previous_session_id=next(filter(None, previous), ""), metadata=list(metadata.items()),
        tags=sorted(set().union(*tags)), first_input=first_input, last_output=last_output)


_BY_START = itemgetter(2, 0)  # (start_ns, trace_id)
_BY_END = itemgetter(3, 0)  # (end_ns, trace_id)


def rollups_table(keys: Sequence[Key], rollups: Sequence[SessionRollup], first_inputs: Sequence[str],
                  last_outputs: Sequence[str], version: int) -> pa.Table:
    """The live ``session_rollups`` rows of sessions ``keys`` ((project_id, session_id)), with their texts, at
    ``version``."""
    def column(name: str, kind: pa.DataType) -> pa.Array:
        return pa.array([getattr(r, name) for r in rollups], kind)

    count = len(keys)
    return pa.table({
        "project_id": [p for p, _ in keys],
        "session_id": [s for _, s in keys],
        "user_id": column("user_id", pa.string()),
        "trace_count": column("trace_count", pa.uint32()),
        **{name: column(name, pa.uint64()) for name in (
            "span_count", "llm_call_count", "tool_call_count", "error_count", "input_tokens", "output_tokens",
            "total_tokens")},
        **{name: column(name, pa.float64()) for name in (
            "total_cost_usd", "total_duration_ms", "wall_duration_ms", "avg_latency_ms", "p50_latency_ms",
            "p95_latency_ms")},
        "first_seen": column("first_seen_ns", pa.int64()).cast(_TS),
        "last_seen": column("last_seen_ns", pa.int64()).cast(_TS),
        "models": column("models", pa.list_(pa.string())),
        "first_input": pa.array(first_inputs, pa.string()),
        "last_output": pa.array(last_outputs, pa.string()),
        "end_state": column("end_state", pa.string()),
        "previous_session_id": column("previous_session_id", pa.string()),
        "metadata": column("metadata", _MAP),
        "tags": column("tags", pa.list_(pa.string())),
        "version": pa.array([version] * count, pa.uint64()),
        "is_deleted": pa.array([0] * count, pa.uint8()),
    })


class SessionMembers:
    """Complete member sets of recently written sessions, least recently used dropped first once more than
    ``max_members`` members are held in all (a member is a few hundred bytes: 50,000 are ~25 MB)."""

    def __init__(self, max_members: int = 50_000) -> None:
        self.max_members = max_members
        self._sessions: OrderedDict[Key, dict[str, Member]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, key: Key) -> dict[str, Member] | None:
        """The complete member set of session ``key`` (a copy), or None when it is not held."""
        members = self._sessions.get(key)
        if members is None:
            return None
        self._sessions.move_to_end(key)
        return dict(members)

    def put(self, key: Key, members: dict[str, Member]) -> None:
        """Hold ``members`` as the complete member set of session ``key`` (an empty set drops the session)."""
        self.drop([key])
        if not members:
            return
        self._sessions[key] = members
        self._count += len(members)
        while self._count > self.max_members and len(self._sessions) > 1:
            _, evicted = self._sessions.popitem(last=False)
            self._count -= len(evicted)

    def drop(self, keys: Iterable[Key]) -> None:
        """Stop holding sessions ``keys`` (their rows changed outside a pass, or a pass over them failed)."""
        for key in keys:
            members = self._sessions.pop(key, None)
            if members is not None:
                self._count -= len(members)

    def drop_project(self, project_id: str) -> None:
        """Stop holding every session of ``project_id``."""
        self.drop([key for key in self._sessions if key[0] == project_id])

    def clear(self) -> None:
        """Stop holding anything."""
        self._sessions.clear()
        self._count = 0
