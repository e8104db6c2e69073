"""Queue mode inside ``threadline serve``: the producer the ingest routes write to, and in-process consumers.

With the embedded chDB store no other process can open the data directory, so the consumers must live in the
server process (``settings.workers``, default 2); with a ClickHouse server they default to 0 and ``threadline
worker`` processes consume.
"""

from __future__ import annotations

import logging
import threading

from threadline.metrics import Metrics
from threadline.queue.connection import QueueKeys, redacted, sync_client
from threadline.queue.locking import recompute_guard
from threadline.queue.producer import QueueProducer
from threadline.queue.worker import StreamWorker, WorkerConfig, consumer_name
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.versions import Clock, RedisVersions

log = logging.getLogger("threadline.queue")


def queue_keys(settings: Settings) -> QueueKeys:
    """The queue's key names under ``settings.queue_prefix`` with ``settings.queue_shards`` shards."""
    return QueueKeys(settings.queue_prefix, settings.queue_shards)


def consumer_count(settings: Settings) -> int:
    """In-process consumers: ``settings.workers``, else 2 on the embedded store (two, so one consumer's span insert
    overlaps the other's rollup pass: ~40% more spans/s than one in bench/queue_throughput.py) and 0 with a
    ClickHouse server."""
    if settings.workers is not None:
        return settings.workers
    return 0 if settings.clickhouse_url else 2


class WorkerPool:
    """``count`` :class:`StreamWorker` threads sharing one committer (its lock serialises their rollup passes);
    ``stop`` lets each finish and acknowledge its current batch."""

    def __init__(self, committer: BatchCommitter, settings: Settings, count: int, metrics: Metrics | None = None
                 ) -> None:
        assert settings.queue_url, "the pool needs settings.queue_url"
        keys = queue_keys(settings)
        config = WorkerConfig.from_settings(settings)
        self.workers = [StreamWorker(committer, sync_client(settings.queue_url), keys, config,
                                     name=consumer_name(index), metrics=metrics) for index in range(count)]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=worker.run, args=(self._stop,), name=f"threadline-worker-{i}",
                                          daemon=True) for i, worker in enumerate(self.workers)]

    @property
    def stopping(self) -> threading.Event:
        """Set to ask the workers to stop after their current batch (a signal handler may set it)."""
        return self._stop

    def start(self) -> None:
        """Start every worker thread."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask the workers to stop after their current batch and wait for them (at most ``timeout_s`` each)."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout_s)
        for worker in self.workers:
            worker.client.close()


def guarded_committer(store: Store, settings: Settings, *, clock: Clock | None = None) -> BatchCommitter:
    """A committer for a process that writes rollups beside the queue's workers (a worker, or the API in queue mode:
    its session deletions recompute rollups too): its rollup passes hold the queue's Redis rollup locks, and take
    their versions from the queue's Redis counter (so no host clock matters). ``clock``: ns since the epoch to use
    instead of the Redis server's clock (tests give a writer a skewed one)."""
    assert settings.queue_url, "the rollup locks live in the queue's Redis"
    client = sync_client(settings.queue_url)
    keys = queue_keys(settings)
    guard = recompute_guard(client, keys.recompute_locks)
    return BatchCommitter(store, guard=guard, versions=RedisVersions(client, keys.versions, store, clock))


def queue_writer(settings: Settings, committer: BatchCommitter, metrics: Metrics) -> tuple[QueueProducer, WorkerPool]:
    """The producer of a server in queue mode and its in-process consumers (not started)."""
    assert settings.queue_url, "queue mode needs settings.queue_url"
    producer = QueueProducer(settings.queue_url, queue_keys(settings), committer, max_length=settings.queue_max_length,
                             max_pending_spans=settings.max_pending_spans, metrics=metrics)
    count = consumer_count(settings)
    log.info("ingest goes through the queue at %s (prefix %s, %d shards); %s", redacted(settings.queue_url),
             settings.queue_prefix, settings.queue_shards, f"{count} consumer(s) in this process" if count else
             "no consumer in this process: run `threadline worker` with the same queue settings")
    if not count and not settings.clickhouse_url:
        log.warning("no queue consumer can write to the embedded store while this server holds its data directory; "
                    "ingested spans wait in Redis until a server with --workers 1 or more runs on it")
    return producer, WorkerPool(committer, settings, count, metrics)

