"""Sort orders of the sessions list and the keyset conditions that page through them.

A sort is a field and a direction (``-total_cost_usd``: descending). Its *key* is a tuple of SQL expressions over the
session row (aliases of ``queries.sessions.SESSION_COLUMNS``) ending with ``session_id``, so that every row has a
distinct key and pages are stable under ties. A keyset page continues strictly after (or before) the key of a row
seen earlier: ``(k1, ..., session_id) < (v1, ..., id)`` in descending order, ``>`` ascending; the tuple comparison
is lexicographic, and it costs the same on the 1000th page as on the first (no ``OFFSET``).

``quality_score`` is NULL for unscored sessions; they come last in both directions (the key leads with
``isNotNull``/``isNull`` of the score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# field → its key expressions with the ClickHouse type their values bind as (session_id is appended to every key).
_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "last_seen": (("last_seen_ns", "Int64"),),
    "first_seen": (("first_seen_ns", "Int64"),),
    "trace_count": (("trace_count", "UInt64"),),
    "total_tokens": (("total_tokens", "UInt64"),),
    "total_cost_usd": (("total_cost_usd", "Float64"),),
    "wall_duration_ms": (("wall_duration_ms", "Float64"),),
    "total_duration_ms": (("total_duration_ms", "Float64"),),
    "error_count": (("error_count", "UInt64"),),
}
_QUALITY_DESC = (("isNotNull(quality_score)", "UInt8"), ("ifNull(quality_score, 0)", "Float64"))
_QUALITY_ASC = (("isNull(quality_score)", "UInt8"), ("ifNull(quality_score, 0)", "Float64"))
SORT_FIELDS: tuple[str, ...] = (*_KEYS, "quality_score")
SORT_UNITS = {"last_seen": "time", "first_seen": "time", "trace_count": "turns", "total_tokens": "tokens",
              "total_cost_usd": "USD", "wall_duration_ms": "ms", "total_duration_ms": "ms", "error_count": "spans",
              "quality_score": "score, unscored last"}


@dataclass(frozen=True)
class Sort:
    """A sort order: ``field`` (one of :data:`SORT_FIELDS`) and direction."""

    field: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> Sort:
        """``last_seen`` (ascending) or ``-last_seen`` (descending). Raises ValueError naming the valid fields."""
        field = text.removeprefix("-")
        if field not in SORT_FIELDS:
            raise ValueError(f"cannot sort by {text!r}; sort by one of {', '.join(SORT_FIELDS)} (prefix '-' for "
                             "descending)")
        return cls(field, text.startswith("-"))

    def __str__(self) -> str:
        return f"{'-' if self.descending else ''}{self.field}"

    def key(self) -> tuple[tuple[str, str], ...]:
        """The key's ``(expression, bind type)`` pairs, session_id last. Its expressions all sort in the direction
        of the sort (so one tuple comparison pages through it)."""
        head: tuple[tuple[str, str], ...]
        if self.field == "quality_score":
            head = _QUALITY_DESC if self.descending else _QUALITY_ASC
        else:
            head = _KEYS[self.field]
        return (*head, ("session_id", "String"))

    @property
    def columns(self) -> frozenset[str]:
        """The session row columns (aliases) the sort key reads."""
        head = "quality_score" if self.field == "quality_score" else _KEYS[self.field][0][0]
        return frozenset({head, "session_id"})

    def order_by(self, *, reverse: bool = False) -> str:
        """The ``ORDER BY`` list (``reverse``: the opposite order, to read the page before a key)."""
        direction = "DESC" if self.descending != reverse else "ASC"
        return ", ".join(f"{expression} {direction}" for expression, _ in self.key())

    def select_key(self) -> str:
        """The key expressions as ``k0, k1, ...`` columns."""
        return ", ".join(f"{expression} AS k{index}" for index, (expression, _) in enumerate(self.key()))

    def beyond(self, values: tuple[Any, ...], name: str, *, before: bool = False,
               inclusive: bool = False) -> tuple[str, dict[str, Any]]:
        """``(sql, params)`` selecting rows after the key ``values`` in this order (``before``: rows before it;
        ``inclusive``: the row with that key too). Raises ValueError when ``values`` does not fit the key."""
        key = self.key()
        if len(values) != len(key):
            raise ValueError("the key does not match the sort")
        params = {f"{name}_{index}": value for index, value in enumerate(values)}
        bound = ", ".join(f"{{{name}_{index}:{kind}}}" for index, (_, kind) in enumerate(key))
        columns = ", ".join(expression for expression, _ in key)
        later = self.descending != before  # in descending order, "after" means a smaller key
        operator = ("<" if later else ">") + ("=" if inclusive else "")
        return f"({columns}) {operator} ({bound})", params


DEFAULT_SORT = Sort("last_seen", True)
