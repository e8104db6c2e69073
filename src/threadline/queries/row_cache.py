"""A bounded, exact cache of full session list rows, so that a page seen before costs one narrow query.

Why: the sessions list finds a page's session ids by scanning narrow columns (sort keys, filters), then reads the
full rows of those ids. Those are spread over the whole ``session_rollups`` table (a page sorted by cost has no
locality in session id), so reading them decompresses most granules of the wide text columns (``first_input``,
``last_output``): at 100k sessions that second read costs several times the first. Dashboards and API clients
re-read the same pages (polling, paging back and forth), so a cache of rows pays off.

Exactness: an entry is keyed by (database, project, session id) and stamped with the row's rollup ``version`` and
annotation ``updated_at``, which change whenever anything of ``SESSION_COLUMNS`` read from ``session_rollups`` or
``session_annotations`` changes. The caller gets the current stamps from its first (narrow) query and only uses an
entry whose stamp matches; the values that change without either stamp (``quality_score`` from ``scores``, and the
time-dependent ``derived_end_state``) are also read by that first query and overwrite the cached ones.

Memory is bounded by ``max_bytes`` (estimated: the row's text lengths plus a fixed overhead); least recently used
entries are evicted first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from threadline.store.gateway import Row

Key = tuple[str, str, str]
Stamp = tuple[Any, ...]
_ROW_OVERHEAD = 2048  # bytes charged per row besides its text fields


def row_size(row: Row) -> int:
    """Estimated bytes a row holds (its string fields count by length)."""
    return _ROW_OVERHEAD + sum(len(value) for value in row.values() if isinstance(value, str))


class RowCache:
    """LRU map of ``key → (stamp, row)`` bounded by ``max_bytes``; safe to share between threads."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, tuple[Stamp, Row, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key, stamp: Stamp) -> Row | None:
        """A copy of the row cached under ``key`` if its stamp is ``stamp``, else None (a stale entry is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return dict(entry[1])

    def put(self, key: Key, stamp: Stamp, row: Row) -> None:
        """Cache ``row`` (a copy) under ``key`` with ``stamp``, evicting least recently used rows over budget."""
        size = row_size(row)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (stamp, dict(row), size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        self._bytes -= self._entries.pop(key)[2]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Estimated bytes held."""
        return self._bytes
