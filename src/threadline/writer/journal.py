"""The write-ahead record of batches whose rollups are pending (``rollup_journal``).

A batch is recorded (``done = 0``, with the (project_id, trace_id) pairs it touches) before its spans are inserted,
and recorded again as done once its rollups are written. A crash or ``kill -9`` in between leaves it pending; the
next start recomputes its traces from their stored spans before accepting writes (:meth:`BatchCommitter.recover`),
so no acknowledged or half-written batch is left with stale rollups, however long ago it was written.

A batch's records replace each other by version, so their versions come from the committer's version source
(:mod:`threadline.writer.versions`), not from the clock: a "done" recorded after a clock stepped back (or by another
worker whose clock runs behind) must still replace the "pending" before it, or the batch would be rebuilt at every
start for the journal's 7 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from threadline import rollups
from threadline.store.gateway import Store

Key = tuple[str, str]
_KEYS = pa.list_(pa.struct([("1", pa.string()), ("2", pa.string())]))


def _keys_array(batches: Sequence[Sequence[Key]]) -> pa.Array:
    return pa.array([[{"1": p, "2": t} for p, t in keys] for keys in batches], _KEYS)


def record_pending(store: Store, batch_id: str, keys: Sequence[Key], version: int) -> None:
    """Record that batch ``batch_id`` touching ``keys`` is about to be written, at ``version`` (from the committer's
    version source). Raises StoreError."""
    store.insert("rollup_journal", pa.table({
        "batch_id": [batch_id], "keys": _keys_array([keys]), "done": pa.array([0], pa.uint8()),
        "version": pa.array([version], pa.uint64()),
    }), tag="writer.journal_pending")


def record_done(store: Store, batch_ids: Sequence[str], version: int) -> None:
    """Record that the rollups of ``batch_ids`` are written, at ``version`` (from the same source as their pending
    records, taken after them). Raises StoreError."""
    if not batch_ids:
        return
    store.insert("rollup_journal", pa.table({
        "batch_id": list(batch_ids), "keys": _keys_array([[] for _ in batch_ids]),
        "done": pa.array([1] * len(batch_ids), pa.uint8()),
        "version": pa.array([version] * len(batch_ids), pa.uint64()),
    }), tag="writer.journal_done")


def pending(store: Store) -> list[tuple[str, list[Key]]]:
    """Batches still pending, oldest id first: (batch_id, its (project_id, trace_id) pairs). Raises StoreError."""
    rows = store.select(rollups.PENDING_BATCHES, tag="writer.journal_pending_read")
    return [(row["batch_id"], [_key(k) for k in row["keys"]]) for row in rows]


def _key(value: Any) -> Key:
    # ClickHouse's Arrow output turns an unnamed Tuple into a struct with fields "1" and "2" (seen with chDB); a
    # transport that hands tuples over as sequences is read the same way.
    if isinstance(value, dict):
        return str(value["1"]), str(value["2"])
    return str(value[0]), str(value[1])
