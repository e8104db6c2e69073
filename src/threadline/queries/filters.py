"""Filters of the sessions list as SQL fragments with typed bind parameters (modelled on Langfuse's
``clickhouse-filter.ts``).

A filter is a small frozen object; :meth:`Filter.render` returns ``(sql, params)`` where ``sql`` is a boolean
expression over the columns of a session row (the aliases of ``queries.sessions.SESSION_COLUMNS`` plus
``derived_end_state``) and every value it compares with is a bind parameter named after the ``name`` it is given.
User text is never formatted into SQL: column names come from fixed tables in this module, values from ``params``.

:class:`SessionFilters` is the parsed filter set of a request (plain values, hashable, canonical JSON for cursors);
:meth:`SessionFilters.filters` turns it into filter objects and :func:`where` joins them into one ``WHERE`` body.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

# Numeric session fields that take ``min_<field>`` / ``max_<field>``, with the unit of each.
RANGE_FIELDS: dict[str, str] = {
    "trace_count": "traces (turns)",
    "total_tokens": "tokens",
    "total_cost_usd": "USD",
    "wall_duration_ms": "ms",
    "error_count": "error spans",
    "tool_call_count": "tool spans",
}
Params = dict[str, Any]


class Filter(Protocol):
    """A condition on session rows."""

    @property
    def columns(self) -> frozenset[str]:
        """The session row columns (aliases) the condition reads."""
        ...

    def render(self, name: str) -> tuple[str, Params]:
        """``(sql, params)``: a boolean SQL expression whose bind parameters all start with ``name``."""
        ...


@dataclass(frozen=True)
class ActivityOverlaps:
    """Sessions whose activity ``[first_seen, last_seen]`` overlaps ``[start_ns, end_ns]`` (ns since the epoch;
    either bound may be open)."""

    start_ns: int | None
    end_ns: int | None

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({"first_seen_ns", "last_seen_ns"})

    def render(self, name: str) -> tuple[str, Params]:
        parts, params = [], {}
        if self.start_ns is not None:
            parts.append(f"last_seen_ns >= {{{name}_start:Int64}}")
            params[f"{name}_start"] = self.start_ns
        if self.end_ns is not None:
            parts.append(f"first_seen_ns <= {{{name}_end:Int64}}")
            params[f"{name}_end"] = self.end_ns
        return " AND ".join(parts) or "1", params


@dataclass(frozen=True)
class OneOf:
    """``column`` (a String column) equals one of ``values``."""

    column: Literal["derived_end_state"]
    values: tuple[str, ...]

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})

    def render(self, name: str) -> tuple[str, Params]:
        return f"{self.column} IN {{{name}:Array(String)}}", {name: list(self.values)}


@dataclass(frozen=True)
class UserIs:
    """The session's user id (its spans', else its annotation's: ``SESSION_FIELDS['user_id']``) is one of
    ``values``.

    The condition also says that the rollup's own user id (``rollup_user_id``) is one of them or empty, which the
    row's user id implies. It reads the rollup column alone, so ClickHouse can check it against the bloom filter
    index of ``session_rollups.user_id`` (migration 11) and skip the granules of other users before the annotation
    join: at 1M sessions a user's sessions sit in a few granules of thousands."""

    values: tuple[str, ...]

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({"user_id", "rollup_user_id"})

    def render(self, name: str) -> tuple[str, Params]:
        return (f"(rollup_user_id IN {{{name}:Array(String)}} OR rollup_user_id = '') "
                f"AND user_id IN {{{name}:Array(String)}}", {name: list(self.values)})


@dataclass(frozen=True)
class ArrayContains:
    """``column`` (an Array(String) column) holds any (or, with ``every``, all) of ``values``."""

    column: Literal["tags", "models"]
    values: tuple[str, ...]
    every: bool = False

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})

    def render(self, name: str) -> tuple[str, Params]:
        function = "hasAll" if self.every else "hasAny"
        return f"{function}({self.column}, {{{name}:Array(String)}})", {name: list(self.values)}


@dataclass(frozen=True)
class Bound:
    """``column`` is at least (``min``) or at most (``max``) ``value``; integers bind as Int64 (exact), others as
    Float64."""

    column: str
    kind: Literal["min", "max"]
    value: int | float

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})

    def render(self, name: str) -> tuple[str, Params]:
        if self.column not in RANGE_FIELDS:
            raise ValueError(f"{self.column!r} takes no range")
        kind = "Int64" if isinstance(self.value, int) else "Float64"
        operator = ">=" if self.kind == "min" else "<="
        return f"{self.column} {operator} {{{name}:{kind}}}", {name: self.value}


@dataclass(frozen=True)
class Bookmarked:
    """The session is (or is not) bookmarked."""

    value: bool

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({"bookmarked"})

    def render(self, name: str) -> tuple[str, Params]:
        return f"bookmarked = {{{name}:UInt8}}", {name: int(self.value)}


@dataclass(frozen=True)
class HasErrors:
    """The session has (or has no) span with status ERROR."""

    value: bool

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({"error_count"})

    def render(self, name: str) -> tuple[str, Params]:
        return ("error_count > 0" if self.value else "error_count = 0"), {}


@dataclass(frozen=True)
class MetadataEquals:
    """The session's metadata (rollup metadata updated by the annotation's) has ``key`` set to ``value``."""

    key: str
    value: str

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({"metadata"})

    def render(self, name: str) -> tuple[str, Params]:
        return (f"mapContains(metadata, {{{name}_k:String}}) AND metadata[{{{name}_k:String}}] = {{{name}_v:String}}",
                {f"{name}_k": self.key, f"{name}_v": self.value})


@dataclass(frozen=True)
class SessionFilters:
    """The filters of a sessions list request, as plain values. Empty tuples and None mean "no condition".

    Times are ns since the epoch; ``ranges`` holds ``(field, 'min'|'max', value)`` with field in
    :data:`RANGE_FIELDS`; ``metadata`` holds ``(key, value)`` pairs (all must match).
    """

    start_ns: int | None = None
    end_ns: int | None = None
    user_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tags_all: bool = False
    end_states: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    bookmarked: bool | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    ranges: tuple[tuple[str, Literal["min", "max"], int | float], ...] = ()
    has_errors: bool | None = None

    def filters(self) -> list[Filter]:
        """The filter objects of this set."""
        out: list[Filter] = []
        if self.start_ns is not None or self.end_ns is not None:
            out.append(ActivityOverlaps(self.start_ns, self.end_ns))
        if self.user_ids:
            out.append(UserIs(self.user_ids))
        if self.tags:
            out.append(ArrayContains("tags", self.tags, self.tags_all))
        if self.end_states:
            out.append(OneOf("derived_end_state", self.end_states))
        if self.models:
            out.append(ArrayContains("models", self.models))
        if self.bookmarked is not None:
            out.append(Bookmarked(self.bookmarked))
        out += [MetadataEquals(key, value) for key, value in self.metadata]
        out += [Bound(column, kind, value) for column, kind, value in self.ranges]
        if self.has_errors is not None:
            out.append(HasErrors(self.has_errors))
        return out

    def canonical(self) -> str:
        """A stable JSON text of the filter values (order-insensitive where order means nothing), for cursors."""
        values = asdict(self)
        for key in ("user_ids", "tags", "end_states", "models", "metadata", "ranges"):
            values[key] = sorted(values[key], key=repr)
        return json.dumps(values, sort_keys=True, separators=(",", ":"))


def where(filters: list[Filter], prefix: str = "f") -> tuple[str, Params]:
    """``(sql, params)``: the conjunction of ``filters`` (``1`` when none), parameters named ``{prefix}{i}...``."""
    parts: list[str] = []
    params: Params = {}
    for index, item in enumerate(filters):
        sql, values = item.render(f"{prefix}{index}")
        parts.append(f"({sql})")
        params.update(values)
    return " AND ".join(parts) or "1", params
