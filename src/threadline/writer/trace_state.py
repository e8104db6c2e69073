"""A trace's merge state: its exact rollup, kept so that a commit folds in only the spans it brings.

Every per-trace aggregate of :mod:`threadline.rollups` is either a sum or count (span count, LLM/tool calls, errors,
tokens, cost), a min/max (start, end, reported totals), a set union (models, tags, session ids named) or an
argMin/argMax with a total order (session, user, name, input, output, status, end state, previous session,
metadata). Over *disjoint* sets of spans each merges exactly: sums add, sets unite, and an arg-winner is the smaller
(larger) sort key. The state therefore keeps, besides the plain aggregates, each winner's sort key and the set of
stored span ids: a batch whose spans are all new to the trace is folded in (:func:`fold`); a batch repeating a
stored span (a replay, a corrected resend) makes the writer rebuild the trace from its deduplicated stored spans
with the same :func:`fold` over an empty state — one definition either way.

Sort keys are fixed-width strings that order exactly as the SQL tuples of :mod:`threadline.rollups` did:
``root-first`` = (has a parent, start ns, span id); ``output`` = (has a parent, -end ns, span id); ``end state`` =
(end ns, span id), a maximum. Times are ns since the epoch (< 2**63, so 20 digits hold them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

USAGE_TYPES = frozenset({"llm", "embedding"})  # span types whose token usage counts (rollups.USAGE_TYPES)
MAX_NS = 2**63 - 1
Key = tuple[str, str]

FACT_COLUMNS = (
    "project_id", "trace_id", "span_id", "parent_span_id", "session_id", "user_id", "session_previous_id", "name",
    "trace_name", "span_type", "start_ns", "end_ns", "status_code", "input_tokens", "output_tokens", "total_tokens",
    "cost_usd", "reported_cost_usd", "reported_tokens", "end_state", "model", "metadata", "tags", "input", "output",
    "ingested_us",
)


TEXT_COLUMNS = ("input", "output")


@dataclass
class SpanFacts:
    """The columns of a set of span rows that rollups read, as parallel Python lists (one entry per span), in
    :data:`FACT_COLUMNS` order. ``start_ns``/``end_ns`` are ns since the epoch, ``ingested_us`` µs; ``metadata``
    entries are lists of (key, value) pairs.

    The texts (:data:`TEXT_COLUMNS`) stay Arrow string arrays in ``texts``: a fold keeps one input and one output
    per trace, so only those are converted (:meth:`text`). ``columns["input"]``/``columns["output"]`` hold whether
    each span has the text (bools)."""

    columns: dict[str, list[Any]]
    texts: dict[str, pa.Array | pa.ChunkedArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["span_id"])

    def text(self, column: str, index: int) -> str:
        """The ``input`` or ``output`` text of span ``index``."""
        value: str = self.texts[column][index].as_py()
        return value

    @classmethod
    def _of(cls, table: pa.Table, names: dict[str, str]) -> SpanFacts:
        columns: dict[str, list[Any]] = {}
        texts: dict[str, pa.Array | pa.ChunkedArray] = {}
        for name in FACT_COLUMNS:
            source = table.column(names.get(name, name))
            if name in TEXT_COLUMNS:
                texts[name] = source
                columns[name] = pc.greater(pc.binary_length(source), 0).to_pylist()
            elif name in names:  # a timestamp, as an integer
                columns[name] = source.cast(pa.int64()).to_pylist()
            else:
                columns[name] = source.to_pylist()
        return cls(columns, texts)

    @classmethod
    def from_spans(cls, table: pa.Table) -> SpanFacts:
        """Facts of an Arrow table of the ``spans`` schema (:data:`threadline.ingest.spans.SPAN_SCHEMA`)."""
        return cls._of(table, {"start_ns": "start_time", "end_ns": "end_time", "ingested_us": "ingested_at"})

    @classmethod
    def from_rows(cls, table: pa.Table) -> SpanFacts:
        """Facts of a query result that already has the :data:`FACT_COLUMNS` names (``rollups.SPAN_FACTS``)."""
        return cls._of(table, {})

    @classmethod
    def concat(cls, parts: Sequence[SpanFacts]) -> SpanFacts:
        """The facts of several sets of spans, in order."""
        columns = {name: [v for f in parts for v in f.columns[name]] for name in parts[0].columns}
        texts = {name: pa.chunked_array([chunk for f in parts for chunk in _chunks(f.texts[name])],
                                        parts[0].texts[name].type) for name in parts[0].texts}
        return cls(columns, texts)

    def by_trace(self) -> dict[Key, list[int]]:
        """(project_id, trace_id) → indexes of its distinct spans: of several copies of one span id the one with
        the latest ``ingested_us`` (the later copy on a tie), as ``spans FINAL`` keeps (ReplacingMergeTree on
        ``ingested_at``)."""
        projects, traces = self.columns["project_id"], self.columns["trace_id"]
        span_ids, ingested = self.columns["span_id"], self.columns["ingested_us"]
        latest: dict[tuple[str, str, str], int] = {}
        for index, span_id in enumerate(span_ids):
            key = (projects[index], traces[index], span_id)
            seen = latest.get(key)
            if seen is None or ingested[index] >= ingested[seen]:
                latest[key] = index
        grouped: dict[Key, list[int]] = {}
        for (project, trace, _), index in latest.items():
            grouped.setdefault((project, trace), []).append(index)
        return grouped


def _chunks(array: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(array.chunks) if isinstance(array, pa.ChunkedArray) else [array]


def _root_first(parent: str, start_ns: int, span_id: str) -> str:
    return f"{1 if parent else 0}{start_ns:020d}{span_id}"


@dataclass(slots=True)
class TraceState:
    """The merge state of one trace (a ``trace_state`` row) plus its winners' texts once known.

    ``input``/``output`` are ``None`` when the winner is a stored span whose text this commit has not read (it is
    the text of the trace's ``trace_rollups`` row at ``version``)."""

    project_id: str
    trace_id: str
    version: int = 0
    session_id: str = ""
    session_key: str = ""
    named_sessions: set[str] = field(default_factory=set)
    excluded_sessions: set[str] = field(default_factory=set)
    user_id: str = ""
    user_key: str = ""
    name: str = ""
    name_key: str = ""
    start_ns: int = MAX_NS
    end_ns: int = 0
    span_count: int = 0
    llm_call_count: int = 0
    tool_call_count: int = 0
    error_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usage_tokens: int = 0
    reported_tokens: int = 0
    usage_cost_usd: float = 0.0
    reported_cost_usd: float = 0.0
    models: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    status_code: str = ""
    status_key: str = ""
    end_state: str = ""
    end_state_key: str = ""
    previous_session_id: str = ""
    previous_key: str = ""
    metadata: list[tuple[str, str]] = field(default_factory=list)
    metadata_key: str = ""
    input_key: str = ""
    output_key: str = ""
    span_ids: set[str] = field(default_factory=set)
    input: str | None = ""
    output: str | None = ""

    @property
    def key(self) -> Key:
        """(project_id, trace_id)."""
        return self.project_id, self.trace_id

    def overlaps(self, facts: SpanFacts, indexes: Iterable[int]) -> bool:
        """Whether any of these spans is already folded into this state (a replay or a corrected resend)."""
        span_ids = facts.columns["span_id"]
        return any(span_ids[i] in self.span_ids for i in indexes)

    @property
    def texts_known(self) -> bool:
        """Whether both winners' texts are at hand (else they must be read at :attr:`version`)."""
        return self.input is not None and self.output is not None


def fold(state: TraceState, facts: SpanFacts, indexes: Sequence[int]) -> None:
    """Fold the spans ``indexes`` of ``facts`` (none of them in ``state.span_ids``) into ``state``, in place.

    Exactly the aggregates of ``rollups.TRACE_ROLLUP`` over the union of the stored and the new spans: a session id
    the trace was deleted from (``state.excluded_sessions``) does not count as named."""
    c = facts.columns
    parents, starts, ends, span_ids = c["parent_span_id"], c["start_ns"], c["end_ns"], c["span_id"]
    has_input, has_output = c["input"], c["output"]
    # Every column as a local once per fold, not a dict lookup per span and column.
    sessions, users, trace_names, names = c["session_id"], c["user_id"], c["trace_name"], c["name"]
    span_types, statuses, models, tags_ = c["span_type"], c["status_code"], c["model"], c["tags"]
    input_tokens, output_tokens, total_tokens, costs = (c["input_tokens"], c["output_tokens"], c["total_tokens"],
                                                        c["cost_usd"])
    reported_tokens, reported_costs = c["reported_tokens"], c["reported_cost_usd"]
    end_states, previouses, metadatas = c["end_state"], c["session_previous_id"], c["metadata"]
    input_winner: int | None = None
    output_winner: int | None = None
    for i in indexes:
        span_id = span_ids[i]
        state.span_ids.add(span_id)
        parent, start, end = parents[i], starts[i], ends[i]
        root_first = _root_first(parent, start, span_id)
        session = sessions[i]
        if session and session not in state.excluded_sessions:
            state.named_sessions.add(session)
            if not state.session_key or root_first < state.session_key:
                state.session_id, state.session_key = session, root_first
        user = users[i]
        if user and (not state.user_key or root_first < state.user_key):
            state.user_id, state.user_key = user, root_first
        trace_name = trace_names[i]
        name_key = ("0" if trace_name else "1") + root_first
        if not state.name_key or name_key < state.name_key:
            state.name, state.name_key = trace_name or names[i], name_key
        state.start_ns = min(state.start_ns, start)
        state.end_ns = max(state.end_ns, end)
        state.span_count += 1
        span_type = span_types[i]
        state.llm_call_count += span_type == "llm"
        state.tool_call_count += span_type == "tool"
        status = statuses[i]
        state.error_count += status == "ERROR"
        if not state.status_key or root_first < state.status_key:
            state.status_code, state.status_key = status, root_first
        if span_type in USAGE_TYPES:
            state.input_tokens += input_tokens[i]
            state.output_tokens += output_tokens[i]
            state.usage_tokens += total_tokens[i]
            state.usage_cost_usd += costs[i]
        state.reported_tokens = max(state.reported_tokens, reported_tokens[i])
        state.reported_cost_usd = max(state.reported_cost_usd, reported_costs[i])
        model = models[i]
        if model:
            state.models.add(model)
        tags = tags_[i]
        if tags:
            state.tags.update(tags)
        end_state = end_states[i]
        if end_state:
            end_key = f"{end:020d}{span_id}"
            if end_key > state.end_state_key:
                state.end_state, state.end_state_key = end_state, end_key
        previous = previouses[i]
        if previous and (not state.previous_key or root_first < state.previous_key):
            state.previous_session_id, state.previous_key = previous, root_first
        metadata = metadatas[i]
        if metadata and (not state.metadata_key or root_first < state.metadata_key):
            state.metadata, state.metadata_key = list(metadata), root_first
        if has_input[i] and (not state.input_key or root_first < state.input_key):
            input_winner, state.input_key = i, root_first
        if has_output[i]:
            output_key = f"{1 if parent else 0}{MAX_NS - end:020d}{span_id}"
            if not state.output_key or output_key < state.output_key:
                output_winner, state.output_key = i, output_key
    # Only the winners' texts become Python strings.
    if input_winner is not None:
        state.input = facts.text("input", input_winner)
    if output_winner is not None:
        state.output = facts.text("output", output_winner)


# ------------------------------------------------------------------------------------------------ storage shapes

_TS = pa.timestamp("ns", tz="UTC")
_MAP = pa.map_(pa.string(), pa.string())
_STATE_SCALARS = ("session_id", "session_key", "user_id", "user_key", "name", "name_key", "span_count",
                  "llm_call_count", "tool_call_count", "error_count", "input_tokens", "output_tokens", "usage_tokens",
                  "reported_tokens", "usage_cost_usd", "reported_cost_usd", "status_code", "status_key", "end_state",
                  "end_state_key", "previous_session_id", "previous_key", "metadata_key", "input_key", "output_key",
                  "version")
_STATE_SETS = ("named_sessions", "excluded_sessions", "models", "tags", "span_ids")
STATE_COLUMNS = ("project_id", "trace_id", *_STATE_SCALARS, *_STATE_SETS, "start_time", "end_time", "metadata")
"""Columns of ``trace_state`` read by the writer (every column)."""


def state_from_row(row: dict[str, Any]) -> TraceState:
    """A stored ``trace_state`` row (as :meth:`Store.select` returns it, times as ns integers ``start_ns`` and
    ``end_ns``) as a state whose texts are not known yet."""
    state = TraceState(row["project_id"], row["trace_id"], input=None, output=None)
    for name in _STATE_SCALARS:
        setattr(state, name, row[name])
    for name in _STATE_SETS:
        setattr(state, name, set(row[name]))
    state.start_ns, state.end_ns = row["start_ns"], row["end_ns"]
    state.metadata = list(row["metadata"].items()) if isinstance(row["metadata"], dict) else list(row["metadata"])
    if not state.input_key:
        state.input = ""
    if not state.output_key:
        state.output = ""
    return state


def states_table(states: Sequence[TraceState], version: int) -> pa.Table:
    """The ``trace_state`` rows of ``states`` at ``version``."""
    data: dict[str, Any] = {name: [getattr(s, name) for s in states] for name in ("project_id", "trace_id")}
    for name in _STATE_SCALARS:
        data[name] = [getattr(s, name) for s in states]
    data["version"] = pa.array([version] * len(states), pa.uint64())
    for name in _STATE_SETS:
        data[name] = pa.array([sorted(getattr(s, name)) for s in states], pa.list_(pa.string()))
    data["start_time"] = pa.array([s.start_ns for s in states], pa.int64()).cast(_TS)
    data["end_time"] = pa.array([s.end_ns for s in states], pa.int64()).cast(_TS)
    data["metadata"] = pa.array([s.metadata for s in states], _MAP)
    return pa.table(data)


def rollups_table(states: Sequence[TraceState], version: int) -> pa.Table:
    """The live ``trace_rollups`` rows of ``states`` (texts must be known) at ``version``: the definitions of
    :mod:`threadline.rollups` (GREATEST of reported and summed totals; ERROR when any span failed)."""
    inputs = [s.input or "" for s in states]
    outputs = [s.output or "" for s in states]
    return pa.table({
        "project_id": [s.project_id for s in states],
        "session_id": [s.session_id for s in states],
        "trace_id": [s.trace_id for s in states],
        "name": [s.name for s in states],
        "user_id": [s.user_id for s in states],
        "start_time": pa.array([s.start_ns for s in states], pa.int64()).cast(_TS),
        "end_time": pa.array([s.end_ns for s in states], pa.int64()).cast(_TS),
        "duration_ms": pa.array([(s.end_ns - s.start_ns) / 1e6 for s in states], pa.float64()),
        "span_count": pa.array([s.span_count for s in states], pa.uint32()),
        "llm_call_count": pa.array([s.llm_call_count for s in states], pa.uint32()),
        "tool_call_count": pa.array([s.tool_call_count for s in states], pa.uint32()),
        "error_count": pa.array([s.error_count for s in states], pa.uint32()),
        "input_tokens": pa.array([s.input_tokens for s in states], pa.uint64()),
        "output_tokens": pa.array([s.output_tokens for s in states], pa.uint64()),
        "total_tokens": pa.array([max(s.reported_tokens, s.usage_tokens) for s in states], pa.uint64()),
        "cost_usd": pa.array([max(s.reported_cost_usd, s.usage_cost_usd) for s in states], pa.float64()),
        "models": pa.array([sorted(s.models) for s in states], pa.list_(pa.string())),
        "input": inputs,
        "output": outputs,
        "has_input": pa.array([1 if text else 0 for text in inputs], pa.uint8()),
        "has_output": pa.array([1 if text else 0 for text in outputs], pa.uint8()),
        "status_code": ["ERROR" if s.error_count else s.status_code for s in states],
        "end_state": [s.end_state for s in states],
        "previous_session_id": [s.previous_session_id for s in states],
        "metadata": pa.array([s.metadata for s in states], _MAP),
        "tags": pa.array([sorted(s.tags) for s in states], pa.list_(pa.string())),
        "version": pa.array([version] * len(states), pa.uint64()),
        "is_deleted": pa.array([0] * len(states), pa.uint8()),
    })


def tombstones_table(left: Sequence[tuple[str, str, str]], version: int) -> pa.Table:
    """``trace_rollups`` tombstones (is_deleted = 1) for (project_id, session_id, trace_id) rows a trace left."""
    return pa.table({
        "project_id": [p for p, _, _ in left],
        "session_id": [s for _, s, _ in left],
        "trace_id": [t for _, _, t in left],
        "version": pa.array([version] * len(left), pa.uint64()),
        "is_deleted": pa.array([1] * len(left), pa.uint8()),
    })
