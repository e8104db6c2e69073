"""Recently written trace texts, so that a session rollup rarely re-reads its first input or last output.

Keyed by (project_id, trace_id, rollup version): a ``trace_rollups`` row never changes once written at a version,
so an entry is exact whichever process wrote a later version (it is simply not asked for any more).
"""

from __future__ import annotations

from collections import OrderedDict

TextKey = tuple[str, str, int]


class TextCache:
    """Least-recently-used map of (project_id, trace_id, version) → (input, output), bounded by ``max_bytes`` of
    text (UTF-8 length is approximated by ``len``; 0 disables the cache)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[TextKey, tuple[str, str]] = OrderedDict()
        self._bytes = 0

    def put(self, key: TextKey, input_text: str, output_text: str) -> None:
        """Remember the texts of one trace rollup row."""
        size = len(input_text) + len(output_text) + 64
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[0]) + len(old[1]) + 64
        self._entries[key] = (input_text, output_text)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (evicted_in, evicted_out) = self._entries.popitem(last=False)
            self._bytes -= len(evicted_in) + len(evicted_out) + 64

    def get(self, key: TextKey) -> tuple[str, str] | None:
        """The texts of a trace rollup row, or None when not held."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def __len__(self) -> int:
        return len(self._entries)
