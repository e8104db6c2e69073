"""Rollup versions: where the ``ReplacingMergeTree`` version of every row a rollup pass writes comes from.

``trace_rollups``, ``session_rollups``, ``trace_sessions`` and ``trace_state`` (with their tombstones) keep, per key,
the row of the highest version; ``rollup_journal`` keeps a batch's newest record. Every version a writer hands out
must therefore be greater than every version any writer of the same store wrote before it; otherwise a pass that
ran later loses to an older row, silently (its spans are stored but missing from the rollups until the next pass).
Wall-clock nanoseconds do not guarantee that: a host whose clock runs behind, or a clock stepped back between two
starts, writes versions below the ones already stored. So versions come from a :class:`VersionSource`:

* :class:`LocalVersions`: a counter in this process, for a writer that is alone on its store (the embedded chDB
  writer, which owns its data directory). Seeded from the largest version stored, so a restart whose clock stepped
  back still writes newer versions.
* :class:`RedisVersions`: a counter in the queue's Redis, shared by every process that writes beside the queue
  (workers, and the API's session deletions and sessions created ahead of traffic), taken inside the rollup lock.

Both hand out ``max(previous + 1, now in ns)``: versions stay at or above the wall-clock values written before they
existed (stores written by earlier releases keep working), and they read as the time of the pass (a session's
``updated_at`` is its rollup version) whenever the clocks agree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

from threadline.store.gateway import Store

Clock = Callable[[], int]  # ns since the epoch, e.g. time.time_ns
# Every table whose rows carry a version from the source. ``rollup_journal`` too: a restart with its clock stepped
# back must still record a batch done with a version above the one it was recorded pending with.
VERSIONED_TABLES = ("trace_state", "trace_rollups", "session_rollups", "trace_sessions", "rollup_journal")
STORED_MAX = "SELECT greatest({parts}) AS version".format(
    parts=", ".join(f"(SELECT max(version) FROM {{db}}.{table})" for table in VERSIONED_TABLES))


class VersionSource(Protocol):
    """Hands out rollup versions (UInt64 values, about ns since the epoch), each greater than every version that
    any writer sharing the store took before it."""

    def next(self) -> int:
        """The next version. Raises StoreError (reading the stored versions, once), redis.RedisError."""
        ...


def stored_max(store: Store) -> int:
    """The largest version in ``store``'s versioned tables (0 when they are empty): one column scan per table,
    ~10 ms per million rows. Raises StoreError."""
    rows = store.select(STORED_MAX, tag="writer.stored_max_version")
    return int(rows[0]["version"]) if rows else 0


class LocalVersions:
    """Versions for a store's only writer: ``max(previous + 1, clock())``, where ``previous`` starts at the largest
    version stored (read on first use, so a store that is briefly unavailable at start only delays it). Never goes
    backwards, whatever ``clock`` does. Thread-safe (its own lock: span inserts take a journal version beside a
    running rollup pass)."""

    def __init__(self, store: Store, clock: Clock = time.time_ns) -> None:
        self._store = store
        self._clock = clock
        self._last: int | None = None
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next version. Raises StoreError (only while the stored versions are not read yet)."""
        with self._lock:
            if self._last is None:
                self._last = stored_max(self._store)
            self._last = max(self._last + 1, self._clock())
            return self._last


# Redis integers are 64-bit but Lua numbers are doubles (exact to 2^53 only, and versions are ~1.8e18), so the
# script keeps every value a decimal string and compares by length, then text. ARGV[1]: a floor ('' for none),
# ARGV[2]: now in ns ('' for the Redis server's TIME). Returns the new value as a string.
_NEXT = """
local function above(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local base = redis.call('GET', KEYS[1]) or '0'
if ARGV[1] ~= '' and above(ARGV[1], base) then base = ARGV[1] end
local now = ARGV[2]
if now == '' then
  local t = redis.call('TIME')
  now = t[1] .. string.format('%06d', tonumber(t[2])) .. '000'
end
if above(now, base) then
  redis.call('SET', KEYS[1], now)
  return now
end
redis.call('SET', KEYS[1], base)
redis.call('INCR', KEYS[1])
return redis.call('GET', KEYS[1])
"""


class RedisVersions:
    """Versions shared by every writer of a store through the Redis key ``key``: one atomic script per version
    computes ``max(counter + 1, now)`` and stores it, so each version is greater than every one handed out before
    by any process, and a pass that takes its version inside the rollup lock
    (:func:`threadline.queue.locking.recompute_guard`) writes rows newer than every pass before it. ``now`` is the
    Redis server's clock (one clock for every writer, so the hosts' clocks do not matter), or ``clock()`` when
    given (tests use it to give a writer a skewed clock). On its first use in a process the source also lifts the
    counter to the largest version stored (a new key, or a Redis restored from an older snapshot). Thread-safe."""

    def __init__(self, client: redis.Redis, key: str, store: Store, clock: Clock | None = None) -> None:
        self._client = client
        self._key = key
        self._store = store
        self._clock = clock
        self._script = client.register_script(_NEXT)
        self._seeded = False
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next version. Raises redis.RedisError, StoreError (only while the stored versions are not read
        yet)."""
        floor = ""
        if not self._seeded:
            with self._lock:
                if not self._seeded:
                    floor = str(stored_max(self._store))
        now = "" if self._clock is None else str(self._clock())
        value = int(self._script(keys=[self._key], args=[floor, now]))
        if floor:
            self._seeded = True
        return value
