"""Codec, sharding and the producer against the real Redis: batches split by trace, appended whole or not at all,
503-mapped errors when a shard is full or Redis is unreachable."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest
from queue_helpers import (
    Queue,
    Workload,
    prefix_fixture,  # noqa: F401  (fixture)
    queue_fixture,  # noqa: F401  (fixture)
)

from threadline.queue.codec import FORMAT, PayloadError, decode, encode, entry_fields, entry_table
from threadline.queue.connection import QueueKeys, redacted
from threadline.queue.producer import QueueFull, QueueProducer, QueueUnavailable
from threadline.queue.sharding import shard_of, split
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.group_commit import Overloaded

WORK = Workload("p-producer", traces=40)


def test_codec_round_trip_and_rejects_other_payloads() -> None:
    table = WORK.table(0, 10)
    assert decode(encode(table)).equals(table)
    assert entry_table(entry_fields(table)).equals(table)
    with pytest.raises(PayloadError):
        decode(b"not arrow")
    with pytest.raises(PayloadError, match="another schema"):
        decode(encode(pa.table({"x": [1]})))
    with pytest.raises(PayloadError, match="format"):
        entry_table({b"v": b"99", b"spans": encode(table)})
    assert entry_fields(table)[b"v"] == FORMAT and entry_fields(table)[b"n"] == b"30"


def test_shards_are_stable_and_keep_traces_whole_in_order() -> None:
    assert shard_of("p", "t1", 8) == shard_of("p", "t1", 8)
    assert {shard_of("p", f"t{i}", 8) for i in range(200)} == set(range(8))
    assert shard_of("a", "t1", 1024) != shard_of("b", "t1", 1024) or shard_of("a", "t2", 1024) != shard_of(
        "b", "t2", 1024)  # the project is part of the key
    table = WORK.table(0, 40)
    parts = split(table, 4)
    assert sum(p.num_rows for p in parts.values()) == table.num_rows
    for shard, part in parts.items():
        ids = part.column("trace_id").to_pylist()
        assert all(shard_of("p-producer", t, 4) == shard for t in ids)
        spans = part.column("span_id").to_pylist()
        assert spans == [s for s, t in zip(table.column("span_id").to_pylist(), table.column("trace_id").to_pylist(),
                                           strict=True) if t in set(ids)]  # original order within the shard
    assert split(table, 1) == {0: table}
    assert split(table.slice(0, 0), 4) == {}


def test_redacted_drops_the_password() -> None:
    assert redacted("redis://:secret@host:6380/2") == "redis://host:6380/2"


def producer(queue: Queue, store: Store, url: str | None = None, max_length: int = 100) -> QueueProducer:
    return QueueProducer(url or queue.settings.queue_url or "", queue.keys, BatchCommitter(store),
                         max_length=max_length, max_pending_spans=1000)


def test_write_appends_one_entry_per_shard_part(queue: Queue, store: Store) -> None:
    async def go() -> None:
        writer = producer(queue, store)
        await writer.start()
        await writer.write(WORK.table(0, 40))
        await writer.write([])  # nothing to do
        assert writer.pending_spans == 0
        shards, dlq = await writer.depths()
        assert dlq == 0 and sum(shards) == 4  # one entry per shard, each holding whole traces
        await writer.stop()
        with pytest.raises(RuntimeError):
            await writer.write(WORK.table(0, 1))

    asyncio.run(go())
    total = 0
    for stream in queue.keys.streams:
        for _, fields in queue.client.xrange(stream):
            total += entry_table(fields).num_rows
    assert total == 120


def test_full_shard_and_unreachable_redis_are_overloaded(queue: Queue, store: Store) -> None:
    other = next(i for i in range(1, 40) if shard_of(WORK.project, WORK.trace_id(i), 4) != shard_of(
        WORK.project, WORK.trace_id(0), 4))

    async def go() -> None:
        writer = producer(queue, store, max_length=2)
        await writer.start()
        one_trace = WORK.table(0, 1)
        await writer.write(one_trace)
        await writer.write(one_trace)
        with pytest.raises(QueueFull, match="THREADLINE_QUEUE_MAX_LENGTH") as full:
            await writer.write(one_trace)
        assert isinstance(full.value, Overloaded) and full.value.retry_after >= 1
        await writer.write(WORK.table(other, 1))  # other shards still take writes
        await writer.stop()

        dead = producer(queue, store, url="redis://:pw@127.0.0.1:1/0")
        await dead.start()
        with pytest.raises(QueueUnavailable, match="not answering") as down:
            await dead.write(one_trace)
        assert "pw" not in str(down.value) and isinstance(down.value, Overloaded)
        await dead.stop()

    asyncio.run(go())


def test_keys_are_under_the_prefix() -> None:
    keys = QueueKeys("x", 3)
    assert keys.streams == ["x:spans:0", "x:spans:1", "x:spans:2"]
    assert (keys.group, keys.dlq) == ("x:writers", "x:dlq")
    locks = keys.recompute_locks({f"p{i}" for i in range(100)})
    assert len(set(locks)) == len(locks) == 16 and all(n.startswith("x:recompute:") for n in locks)
    assert locks == sorted(locks, key=lambda n: int(n.rsplit(":", 1)[1]))  # one order for every worker
    assert keys.recompute_locks({"a"}) == keys.recompute_locks({"a"}) and keys.recompute_locks(set()) == []
