"""StreamWorker against real Redis and the real store: exact rollups from at-least-once delivery (redelivery after
a crash between insert and XACK, reclaiming from a dead consumer, two workers at once), poison entries to the
dead-letter stream while the others flow, DLQ retry and drop, graceful stop."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from queue_helpers import (
    Queue,
    Workload,
    enqueue,
    prefix_fixture,  # noqa: F401  (fixture)
    queue_fixture,  # noqa: F401  (fixture)
    stored_sessions,
    stored_spans,
)

from threadline.ingest.spans import concat
from threadline.queue import dlq
from threadline.queue.codec import entry_fields, entry_table
from threadline.queue.worker import Entry, StreamWorker, WorkerConfig, batch_token, ensure_groups
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter


def worker(queue: Queue, store: Store, committer: BatchCommitter | None = None, **config: int) -> StreamWorker:
    base = WorkerConfig.from_settings(queue.settings)
    policy = WorkerConfig(**{**base.__dict__, "retry_base_s": 0.05, **config})
    return StreamWorker(committer or BatchCommitter(store), redis.Redis.from_url(queue.settings.queue_url or ""),
                        queue.keys, policy)


def test_worker_commits_everything_queued_exactly(queue: Queue, store: Store) -> None:
    work = Workload("p-drain", traces=60)
    for first in range(0, 60, 7):  # requests of 7 traces; some spread over shards
        enqueue(queue, work.table(first, min(7, 60 - first)))
    done = worker(queue, store, batch_spans=50).drain()
    assert done.spans == 180 and done.failed == done.dead_lettered == 0
    assert stored_sessions(store, work.project) == work.expected()
    assert stored_spans(store, work.project) == 180
    assert sum(queue.client.xlen(s) for s in queue.keys.streams) == 0  # acknowledged and deleted
    assert all(queue.client.xpending(s, queue.keys.group)["pending"] == 0 for s in queue.keys.streams)


def test_batch_cut_short_after_insert_is_redelivered_and_counted_once(queue: Queue, store: Store) -> None:
    """A consumer reads a batch, inserts its spans and dies before the rollups and XACK; another reclaims the
    entries after claim_idle_ms and commits them again: spans present once, rollups exact."""
    work = Workload("p-crash", traces=40)
    enqueue(queue, work.table(0, 30))
    ensure_groups(queue.client, queue.keys)
    dead = queue.client.xreadgroup(queue.keys.group, "dead-consumer", dict.fromkeys(queue.keys.streams, ">"))
    entries = [Entry(s.decode(), i.decode(), f) for s, items in dead for i, f in items]
    BatchCommitter(store).insert(concat([entry_table(e.fields) for e in entries]), batch_token(entries))
    assert stored_spans(store, work.project) == 90 and stored_sessions(store, work.project) == {}

    enqueue(queue, work.table(30, 10))  # and more traffic of the same sessions
    time.sleep(queue.settings.worker_claim_idle_ms / 1000 + 0.1)
    done = worker(queue, store).drain()
    assert done.spans == 120
    assert stored_sessions(store, work.project) == work.expected()
    assert stored_spans(store, work.project) == 120


def test_two_workers_at_once_do_not_double_count(queue: Queue, store: Store) -> None:
    """Two workers with their own committers (as two processes would be) on the same shards; sessions span
    every shard, so both recompute the same sessions concurrently (serialised by the Redis lock)."""
    work = Workload("p-two", traces=200, sessions=3)
    for first in range(0, 200, 10):
        enqueue(queue, work.table(first, 10))
    workers = [worker(queue, store, batch_spans=60) for _ in range(2)]
    results = []
    threads = [threading.Thread(target=lambda w=w: results.append(w.drain(idle_passes=3))) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.spans for r in results) == 600 and all(r.spans for r in results), results
    assert stored_sessions(store, work.project) == work.expected()
    assert stored_spans(store, work.project) == 600


def test_poison_entry_goes_to_the_dlq_and_the_others_flow(queue: Queue, store: Store) -> None:
    work = Workload("p-poison", traces=20)
    enqueue(queue, work.table(0, 10))
    stream = queue.keys.stream(1)
    poison = queue.client.xadd(stream, {b"v": b"1", b"n": b"3", b"spans": b"garbage"}).decode()
    enqueue(queue, work.table(10, 10))
    done = worker(queue, store).drain()
    assert done.spans == 60 and done.dead_lettered == 1 and done.failed == 2  # 3 deliveries, then the DLQ
    assert stored_sessions(store, work.project) == work.expected()

    letters = dlq.list_letters(queue.client, queue.keys)
    assert [(x.stream, x.entry_id, x.attempts, x.spans) for x in letters] == [(stream, poison, 3, 3)]
    assert "Arrow" in letters[0].error
    assert queue.client.xlen(stream) == 0 or poison not in {i.decode() for i, _ in queue.client.xrange(stream)}

    assert dlq.retry(queue.client, queue.keys) == 1  # back on its stream: fails again, back in the DLQ
    assert dlq.size(queue.client, queue.keys) == 0
    again = worker(queue, store).drain()
    assert again.dead_lettered == 1 and dlq.size(queue.client, queue.keys) == 1
    with pytest.raises(KeyError):
        dlq.drop(queue.client, queue.keys, ["1-1"])
    assert dlq.drop(queue.client, queue.keys, [dlq.list_letters(queue.client, queue.keys)[0].dlq_id]) == 1
    assert dlq.size(queue.client, queue.keys) == 0


def test_entries_redelivered_too_often_are_dead_lettered_when_reclaimed(queue: Queue, store: Store) -> None:
    """An entry whose consumers keep dying on it (delivered more than max_attempts times, never acknowledged)
    goes to the DLQ when reclaimed, instead of killing one more worker."""
    work = Workload("p-killer", traces=1)
    enqueue(queue, work.table(0, 1))
    ensure_groups(queue.client, queue.keys)
    for attempt in range(4):
        for stream in queue.keys.streams:
            queue.client.xreadgroup(queue.keys.group, f"dying-{attempt}", {stream: "0" if attempt else ">"})
            queue.client.xautoclaim(stream, queue.keys.group, f"dying-{attempt + 1}", 0, "0-0")
    time.sleep(queue.settings.worker_claim_idle_ms / 1000 + 0.1)
    done = worker(queue, store).drain()
    assert done.dead_lettered == 1 and done.spans == 0
    assert "died or stalled" in dlq.list_letters(queue.client, queue.keys)[0].error


@contextlib.contextmanager
def running(consumer: StreamWorker) -> Iterator[threading.Thread]:
    """``consumer.run`` in a thread for the ``with`` body; then stopped and joined."""
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(10)


def wait_stored(store: Store, project: str, want: dict[str, dict[str, int]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while stored_sessions(store, project) != want:
        assert time.monotonic() < deadline, stored_sessions(store, project)
        time.sleep(0.05)


def test_run_stops_gracefully_after_its_batch(queue: Queue, store: Store) -> None:
    work = Workload("p-stop", traces=30)
    with running(worker(queue, store)) as thread:
        for first in range(0, 30, 5):
            enqueue(queue, work.table(first, 5))
        wait_stored(store, work.project, work.expected())
    assert not thread.is_alive()
    assert stored_sessions(store, work.project) == work.expected()


def test_deleted_pending_entries_are_acknowledged(queue: Queue, store: Store) -> None:
    ensure_groups(queue.client, queue.keys)
    stream = queue.keys.stream(0)
    entry = queue.client.xadd(stream, entry_fields(Workload("p-gone", traces=1).table(0, 1)))
    consumer = worker(queue, store)
    queue.client.xreadgroup(queue.keys.group, consumer.name, {stream: ">"})
    queue.client.xdel(stream, entry)  # e.g. `threadline dlq` or an operator removed it meanwhile
    consumer.drain()
    assert queue.client.xpending(stream, queue.keys.group)["pending"] == 0


def test_a_large_backlog_left_by_a_dead_consumer_is_reclaimed_batch_after_batch(queue: Queue, store: Store) -> None:
    work = Workload("p-backlog", traces=24)
    for i in range(24):
        enqueue(queue, work.table(i, 1))
    ensure_groups(queue.client, queue.keys)
    queue.client.xreadgroup(queue.keys.group, "dead-consumer", dict.fromkeys(queue.keys.streams, ">"))
    time.sleep(1.1)
    # 3 entries a batch: 8 batches, without waiting a claim period (0.5 s) between them
    done = worker(queue, store, batch_spans=9, claim_idle_ms=1000).drain()
    assert done.spans == 72
    assert stored_sessions(store, work.project) == work.expected()


def test_run_recreates_consumer_groups_a_redis_lost(queue: Queue, store: Store) -> None:
    """A Redis restarted without persistence has no groups: the worker recreates them and consumes on."""
    work = Workload("p-nogroup", traces=20)
    with running(worker(queue, store)):
        enqueue(queue, work.table(0, 10))
        wait_stored(store, work.project, work.expected(range(10)))
        queue.client.delete(*queue.keys.streams)  # streams and their groups gone
        enqueue(queue, work.table(10, 10))
        wait_stored(store, work.project, work.expected())
