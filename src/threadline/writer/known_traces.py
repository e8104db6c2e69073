"""Which traces may already have a stored state: a Bloom filter over every (project_id, trace_id) in ``trace_state``.

The one process that owns an embedded store writes every trace state, so a filter loaded from the table at start
and updated with every write tells it, without a read, that a trace id is brand new: most ids a batch touches are
(children arrive before their roots). A "maybe" costs the read it would have cost anyway; a "no" is never wrong.
Keys hash with Python's own string hash, so the filter is valid in the process that built it only.
"""

from __future__ import annotations

from collections.abc import Iterable

Key = tuple[str, str]
_PROBES = 6  # bit positions per key: ~1% false positives at 10 bits per key


class KnownTraces:
    """A Bloom filter of trace keys sized for ``capacity`` keys at ~1% false positives; it doubles itself from
    ``reload`` once more keys were added than it was sized for."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = max(capacity, 1024)
        self._bits = bytearray(self.capacity * 10 // 8 + 1)
        self._size = len(self._bits) * 8
        self.count = 0

    def _positions(self, key: Key) -> list[int]:
        value = hash(key) & 0xFFFF_FFFF_FFFF_FFFF
        first, step = value & 0xFFFF_FFFF, (value >> 32) | 1
        return [(first + i * step) % self._size for i in range(_PROBES)]

    def add(self, key: Key) -> None:
        """Record that ``key`` has a stored state. ``count`` grows only when the key sets a new bit: a trace
        written again (every pass re-adds the traces it wrote) does not bring the next reload closer. Counted once
        per key, the filter of a 5M-span store was reloaded (every trace key read into Python) about twice as often,
        each time a stall of the rollup pass and a peak of memory."""
        added = False
        for position in self._positions(key):
            byte, bit = position >> 3, 1 << (position & 7)
            if not self._bits[byte] & bit:
                self._bits[byte] |= bit
                added = True
        if added:
            self.count += 1

    def update(self, keys: Iterable[Key]) -> None:
        """Record several keys."""
        for key in keys:
            self.add(key)

    def may_contain(self, key: Key) -> bool:
        """False only when ``key`` was never added."""
        return all(self._bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    @property
    def full(self) -> bool:
        """Whether more distinct keys were added than the filter was sized for (its false-positive rate is rising;
        ``count`` misses the ~1% of new keys the filter already matched)."""
        return self.count > self.capacity
