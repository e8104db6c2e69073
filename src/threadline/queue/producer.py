"""The API side of the scaled ingest path: span batches appended to Redis Streams.

:class:`QueueProducer` has the interface of the embedded :class:`~threadline.writer.group_commit.GroupCommitWriter`
(``start``/``stop``/``write``/``settled``/``pending_spans``/``max_pending_spans``), so the ingest routes do not know
which one runs. ``write`` returns once Redis acknowledged the XADDs of every shard part of the batch (one
MULTI/EXEC, so a request is queued whole or not at all): with AOF ``appendfsync always`` that is durable (DESIGN.md,
"Durability contract"). Streams are never trimmed by the producer (trimming would drop unconsumed spans): workers XDEL
what they committed, so a stream's length is its backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pyarrow as pa
import redis

from threadline.ingest.spans import SpanBatch, as_table
from threadline.metrics import Metrics
from threadline.queue.codec import entry_fields
from threadline.queue.connection import QueueKeys, async_client, redacted
from threadline.queue.sharding import split
from threadline.writer.commit import BatchCommitter
from threadline.writer.group_commit import Overloaded

log = logging.getLogger("threadline.queue")
MONITOR_INTERVAL_S = 2.0
SHUTDOWN_WAIT_S = 15.0  # longest a stop waits for the monitor and the connection pool (a Redis timeout is 10 s)


class QueueFull(Overloaded):
    """A shard stream holds more than ``queue_max_length`` entries (the workers are behind): answer 503 with
    ``Retry-After`` (seconds) rather than grow Redis without bound."""

    def __init__(self, stream: str, length: int, limit: int, retry_after: int = 2) -> None:
        super().__init__(length, retry_after)
        self.args = (f"the ingest queue stream {stream} holds {length} batches, more than the {limit} allowed "
                     f"(THREADLINE_QUEUE_MAX_LENGTH); workers are behind",)


class QueueUnavailable(Overloaded):
    """Redis did not acknowledge the batch (unreachable, timed out, refused the write): nothing of it is
    acknowledged; answer 503 with ``Retry-After`` so the exporter retries."""

    def __init__(self, url: str, error: Exception, retry_after: int = 1) -> None:
        super().__init__(0, retry_after)
        self.args = (f"the ingest queue (Redis at {redacted(url)}) is not answering: {error}",)


class QueueProducer:
    """Appends span batches to the shard streams of ``keys`` on the Redis at ``url``.

    ``max_length``: entries in one shard stream above which ``write`` raises QueueFull (checked before the XADD,
    so concurrent replicas may overshoot it by their in-flight requests). ``max_pending_spans``: the largest request
    accepted (the ingest routes answer 413 above it, as with the embedded writer). ``committer``: the API's own
    committer (session writes and deletions use it, as they use the embedded writer's)."""

    def __init__(self, url: str, keys: QueueKeys, committer: BatchCommitter, *, max_length: int,
                 max_pending_spans: int, metrics: Metrics | None = None) -> None:
        self.url = url
        self.committer = committer
        self.keys = keys
        self.max_length = max_length
        self.max_pending_spans = max_pending_spans
        self.metrics = metrics
        self._client = async_client(url)
        self._pending_spans = 0
        self._running = False
        self._stopped = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None

    @property
    def pending_spans(self) -> int:
        """Spans of requests being appended right now (not yet acknowledged by Redis)."""
        return self._pending_spans

    async def start(self) -> None:
        """Start accepting writes and refreshing the queue gauges. Redis need not be up yet (ingest answers 503
        until it is)."""
        self._running = True
        if self.metrics is not None:
            self._monitor = asyncio.create_task(self._watch(), name="threadline-queue-monitor")

    async def stop(self) -> None:
        """Refuse further writes (RuntimeError) and close the connection pool."""
        self._running = False
        self._stopped.set()
        if self._monitor is not None:
            # The monitor sees the flag within one Redis round trip. Not cancelled: a cancellation that lands inside
            # a redis-py pipeline can be swallowed, and awaiting the task would then hang the shutdown.
            with contextlib.suppress(TimeoutError, redis.RedisError):
                await asyncio.wait_for(asyncio.shield(self._monitor), SHUTDOWN_WAIT_S)
        with contextlib.suppress(TimeoutError, redis.RedisError):
            await asyncio.wait_for(self._client.aclose(), SHUTDOWN_WAIT_S)

    async def settled(self) -> bool:
        """Reads in queue mode do not wait for the consumers: the sessions of acknowledged spans appear once a worker
        has committed them (``threadline_queue_depth`` tells how far behind they are). Returns True at once."""
        return True

    async def write(self, rows: SpanBatch) -> None:
        """Append ``rows`` to their shard streams; return once Redis acknowledged all of them. Raises QueueFull,
        QueueUnavailable (both :class:`Overloaded`: 503 + Retry-After) or RuntimeError when stopped."""
        if not len(rows):
            return
        if not self._running:
            raise RuntimeError("the queue producer is not running")
        entries = await asyncio.to_thread(self._entries, rows)
        count = len(rows)
        self._pending_spans += count
        try:
            await self._append(entries)
        finally:
            self._pending_spans -= count

    def _entries(self, rows: SpanBatch) -> list[tuple[str, dict[bytes, bytes]]]:
        # CPU work (Arrow build, split, LZ4): off the event loop.
        table: pa.Table = as_table(rows)
        return [(self.keys.stream(shard), entry_fields(part)) for shard, part in split(table, self.keys.shards).items()]

    async def _append(self, entries: list[tuple[str, dict[bytes, bytes]]]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as lengths:
                for stream, _ in entries:
                    lengths.xlen(stream)
                for (stream, _), length in zip(entries, await lengths.execute(), strict=True):
                    if length >= self.max_length:
                        raise QueueFull(stream, length, self.max_length)
            async with self._client.pipeline(transaction=True) as adds:
                for stream, fields in entries:
                    adds.xadd(stream, fields)  # type: ignore[arg-type]  # bytes fields are what redis-py sends
                await adds.execute()
        except redis.RedisError as exc:
            raise QueueUnavailable(self.url, exc) from None

    async def depths(self) -> tuple[list[int], int]:
        """(entries waiting in each shard stream, entries in the dead-letter stream). Raises redis.RedisError."""
        async with self._client.pipeline(transaction=False) as pipe:
            for stream in self.keys.streams:
                pipe.xlen(stream)
            pipe.xlen(self.keys.dlq)
            lengths = [int(n) for n in await pipe.execute()]
        return lengths[:-1], lengths[-1]

    async def _watch(self) -> None:
        assert self.metrics is not None
        while self._running:
            try:
                shards, dlq = await self.depths()
            except redis.RedisError as exc:
                log.debug("could not read the queue depth: %s", exc)
            else:
                self.metrics.record_queue_depths(shards, dlq)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), MONITOR_INTERVAL_S)
