"""The two shapes a span takes on its way in: :class:`RawSpan` (decoded, not yet interpreted) and the span row
(a dict whose keys are the columns of the ``spans`` table), plus the Arrow schema rows are inserted with."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa

_STR_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns", tz="UTC")

SPAN_SCHEMA = pa.schema([
    ("project_id", pa.string()),
    ("trace_id", pa.string()),
    ("span_id", pa.string()),
    ("parent_span_id", pa.string()),
    ("session_id", pa.string()),
    ("user_id", pa.string()),
    ("session_previous_id", pa.string()),
    ("name", pa.string()),
    ("kind", pa.string()),
    ("span_type", pa.string()),
    ("start_time", _TS),
    ("end_time", _TS),
    ("duration_ns", pa.uint64()),
    ("status_code", pa.string()),
    ("status_message", pa.string()),
    ("service_name", pa.string()),
    ("scope_name", pa.string()),
    ("model", pa.string()),
    ("input_tokens", pa.uint64()),
    ("output_tokens", pa.uint64()),
    ("total_tokens", pa.uint64()),
    ("cost_usd", pa.float64()),
    ("reported_cost_usd", pa.float64()),
    ("reported_tokens", pa.uint64()),
    ("end_state", pa.string()),
    ("trace_name", pa.string()),
    ("metadata", _STR_MAP),
    ("tags", pa.list_(pa.string())),
    ("input", pa.string()),
    ("output", pa.string()),
    ("attributes", _STR_MAP),
    ("resource_attributes", _STR_MAP),
    ("events_time", pa.list_(_TS)),
    ("events_name", pa.list_(pa.string())),
    ("events_attributes", pa.list_(_STR_MAP)),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
])

SpanRow = dict[str, Any]

SPAN_COLUMNS: tuple[str, ...] = tuple(SPAN_SCHEMA.names)
MAP_COLUMNS = ("metadata", "attributes", "resource_attributes")
"""The map columns whose entries :data:`SpanValues` hold as dicts."""

SpanValues: TypeAlias = tuple[Any, ...]
"""A span row as a tuple in :data:`SPAN_SCHEMA` order, the map columns of :data:`MAP_COLUMNS` as ``dict[str, str]``
(``events_attributes`` as lists of (key, value) pairs, as in a row)."""


@dataclass(slots=True)
class SpanEvent:
    """An OpenTelemetry span event: time in ns since the epoch, name, attributes (values as strings)."""

    time_ns: int
    name: str
    attributes: dict[str, str]


@dataclass(slots=True)
class RawSpan:
    """A decoded span before interpretation. Times are ns since the Unix epoch; ids lowercase hex (trace 32 chars,
    span 16). ``attributes`` values are strings (OTLP scalars as text, arrays and maps as JSON).

    The ``explicit_*`` fields come from native ingest and take precedence over attribute keys.
    """

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    kind: str = "INTERNAL"
    status_code: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    resource_attributes: dict[str, str] = field(default_factory=dict)
    scope_name: str = ""
    events: list[SpanEvent] = field(default_factory=list)
    explicit: dict[str, Any] = field(default_factory=dict)


SpanBatch: TypeAlias = list[SpanRow] | pa.Table
"""Spans on their way to the writer: rows, or the Arrow table built from them (build it off the event loop, in
parallel with commits, rather than in the single writer thread)."""


def rows_to_arrow(rows: list[SpanRow]) -> pa.Table:
    """Build the Arrow table inserted into ``spans`` from span rows (maps as lists of (key, value) pairs)."""
    return pa.Table.from_pylist(rows, schema=SPAN_SCHEMA)


def _map_array(dicts: Sequence[dict[str, str]]) -> pa.Array:
    # Flat keys and values with offsets: C-level passes over the dicts, no (key, value) tuple per entry.
    if len(dicts) > 1 and all(d is dicts[0] for d in dicts):  # the resource of a request's spans: built once
        return _map_array(dicts[:1]).take(pa.array([0] * len(dicts), pa.int32()))
    offsets = pa.array([0, *itertools.accumulate(map(len, dicts))], pa.int32())
    keys = pa.array(list(itertools.chain.from_iterable(dicts)), pa.string())
    values = pa.array(list(itertools.chain.from_iterable(d.values() for d in dicts)), pa.string())
    return pa.MapArray.from_arrays(offsets, keys, values, type=_STR_MAP)


_MAP_INDEXES = frozenset(SPAN_COLUMNS.index(name) for name in MAP_COLUMNS)


def values_to_arrow(rows: Sequence[SpanValues]) -> pa.Table:
    """The Arrow table of ``rows`` (:data:`SpanValues`), equal to :func:`rows_to_arrow` of the same rows as dicts,
    built column by column."""
    if not rows:
        return SPAN_SCHEMA.empty_table()
    arrays = [_map_array(column) if index in _MAP_INDEXES else pa.array(column, SPAN_SCHEMA.field(index).type)
              for index, column in enumerate(zip(*rows, strict=True))]
    return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


def as_table(batch: SpanBatch) -> pa.Table:
    """A span batch as the Arrow table of the ``spans`` schema."""
    return batch if isinstance(batch, pa.Table) else rows_to_arrow(batch)


def concat(batches: list[SpanBatch]) -> pa.Table:
    """One Arrow table of several span batches."""
    tables = [as_table(b) for b in batches]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
