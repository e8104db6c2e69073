"""Which shard stream a span goes to: a stable hash of (project id, trace id), so every span of one trace lands on
one shard, in the order the API received it, whichever API replica received it."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc


def shard_of(project_id: str, trace_id: str, shards: int) -> int:
    """The shard (0 ≤ shard < ``shards``) of a trace: blake2b of ``project_id`` NUL ``trace_id``, mod ``shards``.
    Stable across processes, hosts and Python versions (never Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{project_id}\0{trace_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def split(table: pa.Table, shards: int) -> dict[int, pa.Table]:
    """The rows of a span table by shard (only shards that get rows), each keeping the table's row order."""
    if shards == 1 or table.num_rows == 0:
        return {0: table} if table.num_rows else {}
    cache: dict[tuple[str, str], int] = {}
    numbers = []
    for key in zip(table.column("project_id").to_pylist(), table.column("trace_id").to_pylist(), strict=True):
        shard = cache.get(key)
        if shard is None:
            shard = cache[key] = shard_of(key[0], key[1], shards)
        numbers.append(shard)
    if len(set(cache.values())) == 1:
        return {numbers[0]: table}
    column = pa.array(numbers, pa.int32())
    return {shard: table.filter(pc.equal(column, shard)) for shard in sorted(set(numbers))}
