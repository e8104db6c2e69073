"""Bounds on a list page's leading sort key, learned from the last answer to the same request, so that a repeated
page reads the few granules that can hold it instead of every session of the project.

Why: the sessions list sorts the whole project to find a page (``ORDER BY last_seen DESC LIMIT 51``): at 1M
sessions that scan reads every session's sort key, whatever ClickHouse's top-k pruning does. Dashboards and clients
ask for the same pages again and again (polling the first page), and the answer moves little between two asks. So
the list remembers, per request, the leading sort key of the last row it returned (the *floor* of a descending
order, the *ceiling* of an ascending one) and adds ``lead >= floor`` to the next scan of that request. With a
minmax skip index on the column (``session_rollups``, migration 11), ClickHouse then reads only the granules whose
range reaches the floor (and, under ``FINAL``, the granules of newer parts holding the same keys:
``use_skip_indexes_if_final_exact_mode``).

Exactness does not depend on the floor being right: the rows whose lead is at least the floor are a prefix of the
whole order (ties included; NULLs sort last and never pass the bound). If the bounded scan still returns
``offset + limit + 1`` rows, its page is the whole order's page. If it returns fewer (sessions deleted, moved, or
their cost lowered by a deletion), the caller scans again without the bound, and learns a new floor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

Key = tuple[Hashable, ...]


class PageFloors:
    """LRU map of ``request key → leading sort key value`` (an int, a float), at most ``max_entries``; safe to
    share between threads. ``hits`` counts bounded scans that were exact, ``misses`` those that had to scan again."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Any:
        """The bound learned for ``key``, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def learn(self, key: Key, value: Any) -> None:
        """Remember ``value`` (the leading sort key of the last row of a full page; None forgets) for ``key``."""
        with self._lock:
            if value is None:
                self._entries.pop(key, None)
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def count(self, exact: bool) -> None:
        """Count a bounded scan: ``exact`` (its page was the whole order's) or not (scanned again)."""
        with self._lock:
            if exact:
                self.hits += 1
            else:
                self.misses += 1


def request_key(*parts: Any) -> Key:
    """A hashable key of a list request from its parts (SQL text, parameters as a dict, numbers); dict and list
    values become sorted tuples."""
    def frozen(value: Any) -> Hashable:
        if isinstance(value, dict):
            return tuple(sorted((str(k), frozen(v)) for k, v in value.items()))
        if isinstance(value, list | tuple | set | frozenset):
            items = [frozen(v) for v in value]
            return tuple(sorted(items, key=repr)) if isinstance(value, set | frozenset) else tuple(items)
        return value  # type: ignore[no-any-return]
    return tuple(frozen(part) for part in parts)
