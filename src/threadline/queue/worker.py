"""The consumer side of the scaled ingest path: :class:`StreamWorker` commits span batches from the shard streams.

One loop: gather entries (its own pending entries due for a retry, entries reclaimed from dead consumers, new
entries) up to ``worker_batch_spans`` spans or ``worker_batch_wait_ms``; commit them with the same
:class:`~threadline.writer.commit.BatchCommitter` as the embedded writer; XACK and XDEL them only after the commit.

Exactly-once effect from at-least-once delivery: a batch cut short (crash between insert and XACK) is delivered
again and committed again. Its insert carries a deduplication token derived from its entry ids, so the same batch
inserts nothing twice; a batch composed differently re-inserts rows that collapse by the ``ReplacingMergeTree`` key;
rollups are always recomputed from deduplicated spans, so they come out exact either way.

Rollup recomputation is serialised across processes by Redis locks (:func:`threadline.queue.locking.recompute_guard`,
the committer's ``guard``): ``BatchCommitter`` takes a rollup version before it reads the spans, so two workers (or a
worker and the API deleting a session) recomputing the same session at once could let the older read (with the newer
version) win and leave the session short of the other's spans. The version comes from a counter in the same Redis
(:class:`~threadline.writer.versions.RedisVersions`), taken inside the lock, so each pass's rows replace those of
every pass before it whatever the workers' clocks say. Within one process the committer's own lock already
serialises; the Redis locks extend that to every process. Rollups of different projects never share a row, so the
locks are per bucket of projects (a pass takes those of its projects, in order). Span inserts, the bulk of the work,
stay parallel. Give every committer that writes beside the queue the guard (see :func:`~threadline.queue.pool.
guarded_committer`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import redis

from threadline.allocators import release_free_memory
from threadline.ingest.spans import concat
from threadline.metrics import Metrics
from threadline.queue.codec import entry_table
from threadline.queue.connection import QueueKeys
from threadline.queue.locking import repeating
from threadline.settings import Settings
from threadline.store.errors import StoreUnavailable
from threadline.writer.commit import BatchCommitter

log = logging.getLogger("threadline.queue")
READ_BLOCK_MS = 500  # longest wait in one XREADGROUP: how soon an idle worker notices a stop
READ_COUNT = 16  # entries per stream per XREADGROUP


@dataclass(frozen=True)
class WorkerConfig:
    """Batching and retry policy (``worker_*`` settings): spans per batch, ms to wait for a fuller batch, ms after
    which another consumer's pending entry is presumed abandoned, deliveries before the dead-letter stream."""

    batch_spans: int = 20_000
    batch_wait_ms: int = 50
    claim_idle_ms: int = 30_000
    max_attempts: int = 5
    retry_base_s: float = 1.0  # first retry of a failed entry after this, doubling (1, 2, 4, 8 s: 15 s to the DLQ)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        """The policy the ``THREADLINE_WORKER_*`` settings describe."""
        return cls(settings.worker_batch_spans, settings.worker_batch_wait_ms, settings.worker_claim_idle_ms,
                   settings.worker_max_attempts)


@dataclass
class Entry:
    """One stream entry: its stream, id (``ms-seq``), fields (empty when it was deleted while pending)."""

    stream: str
    id: str
    fields: dict[bytes, bytes]

    @property
    def spans(self) -> int:
        """Span count the producer recorded (0 if unknown)."""
        try:
            return int(self.fields.get(b"n", b"0"))
        except ValueError:
            return 0


@dataclass
class _Decoded:
    entry: Entry
    table: pa.Table


@dataclass
class BatchOutcome:
    """What one pass did: entries committed (and acknowledged), spans committed, entries that failed (left pending
    for a retry), entries moved to the dead-letter stream."""

    committed: int = 0
    spans: int = 0
    failed: int = 0
    dead_lettered: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Entries this pass took from the streams."""
        return self.committed + self.failed + self.dead_lettered


def batch_token(entries: list[Entry]) -> str:
    """Insert deduplication token of a batch: blake2b over its (stream, entry id) pairs, in order. The same entries
    committed again (redelivered after a crash between insert and XACK) are skipped by ClickHouse."""
    digest = hashlib.blake2b(digest_size=20)
    for entry in sorted(entries, key=lambda e: (e.stream, e.id)):
        digest.update(f"{entry.stream}\0{entry.id}\n".encode())
    return "q-" + digest.hexdigest()


def consumer_name(index: int = 0) -> str:
    """A consumer name unique to this process: host, pid, index, random suffix (so a restarted process never
    mistakes a dead one's pending entries for its own; those are reclaimed after ``claim_idle_ms``)."""
    return f"{socket.gethostname()}-{os.getpid()}-{index}-{uuid.uuid4().hex[:6]}"


def ensure_groups(client: redis.Redis, keys: QueueKeys) -> None:
    """Create the consumer group on every shard stream (and the stream) if missing, from the stream's start, so
    entries written before any worker ran are consumed. Raises redis.RedisError."""
    for stream in keys.streams:
        try:
            client.xgroup_create(stream, keys.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


class StreamWorker:
    """Consumes every shard stream of ``keys`` as consumer ``name`` of the group, committing through ``committer``.

    Thread-compatible, not thread-safe: run each worker in one thread (several workers may share a committer).
    ``run(stop)`` loops until ``stop`` is set, then finishes and acknowledges its current batch."""

    def __init__(self, committer: BatchCommitter, client: redis.Redis, keys: QueueKeys,
                 config: WorkerConfig | None = None, *, name: str | None = None, metrics: Metrics | None = None
                 ) -> None:
        self.committer = committer
        self.client = client
        self.keys = keys
        self.config = config or WorkerConfig()
        self.name = name or consumer_name()
        self.metrics = metrics
        self._retry_at: float | None = 0.0  # monotonic time to re-read our own pending entries (start: at once)
        self._next_claim = 0.0
        self._reclaimed_dead = 0  # entries the current pass dead-lettered while reclaiming

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> None:
        """Commit batches until ``stop`` is set; the batch in hand when it is set is finished and acknowledged.
        Redis or store outages are waited out (entries stay pending); nothing here raises."""
        log.info("queue worker %s consuming %d stream(s) of %s", self.name, self.keys.shards, self.keys.prefix)
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    ensure_groups(self.client, self.keys)
                    ready = True
                if self.run_once().committed:
                    release_free_memory()  # the batch's buffers are freed: give their pages back
            except (redis.RedisError, StoreUnavailable) as exc:
                log.warning("queue worker %s: %s; retrying in 1 s", self.name, exc)
                self._retry_at = 0.0  # what we hold stays pending to us: re-read it first
                ready = ready and not isinstance(exc, redis.RedisError)  # a Redis without the groups (NOGROUP)
                stop.wait(1.0)
            except Exception:
                log.exception("queue worker %s: unexpected error; retrying in 1 s", self.name)
                self._retry_at = 0.0
                stop.wait(1.0)
        log.info("queue worker %s stopped", self.name)

    def run_once(self, block_ms: int = READ_BLOCK_MS) -> BatchOutcome:
        """Gather one batch (waiting up to ``block_ms`` for a first entry) and commit it. Raises redis.RedisError,
        StoreUnavailable (the batch stays pending to this consumer and is re-read by the next pass)."""
        self._reclaimed_dead = 0
        entries = self._gather(block_ms)
        outcome = self._commit(entries) if entries else BatchOutcome()
        outcome.dead_lettered += self._reclaimed_dead
        return outcome

    def drain(self, idle_passes: int = 2, block_ms: int = 50) -> BatchOutcome:
        """Run passes until ``idle_passes`` in a row find nothing; the sum of what they did (tests, benchmarks)."""
        total = BatchOutcome()
        idle = 0
        ensure_groups(self.client, self.keys)
        while idle < idle_passes:
            outcome = self.run_once(block_ms)
            idle = 0 if outcome.handled else idle + 1
            total.committed += outcome.committed
            total.spans += outcome.spans
            total.failed += outcome.failed
            total.dead_lettered += outcome.dead_lettered
            total.errors += outcome.errors
            if outcome.failed and self._retry_at is not None:
                time.sleep(max(0.0, self._retry_at - time.monotonic()))
        return total

    # ------------------------------------------------------------------ gathering

    def _gather(self, block_ms: int) -> list[Entry]:
        entries: list[Entry] = []
        now = time.monotonic()
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            entries += self._read_pending()
        if now >= self._next_claim:
            self._next_claim = now + self.config.claim_idle_ms / 2000
            entries += self._reclaim()
        spans = sum(e.spans for e in entries)
        deadline = None if not entries else now + self.config.batch_wait_ms / 1000
        while spans < self.config.batch_spans:
            if deadline is None:
                wait_ms = block_ms
            else:
                wait_ms = int((deadline - time.monotonic()) * 1000)
                if wait_ms <= 0:
                    break
            got = self._read(">", max(wait_ms, 1))
            if not got:
                break
            if deadline is None:
                deadline = time.monotonic() + self.config.batch_wait_ms / 1000
            entries += got
            spans += sum(e.spans for e in got)
        return entries

    def _read(self, start: str, block_ms: int) -> list[Entry]:
        reply: Any = self.client.xreadgroup(self.keys.group, self.name, dict.fromkeys(self.keys.streams, start),
                                       count=READ_COUNT, block=block_ms)
        return [Entry(stream.decode(), entry_id.decode(), fields or {})
                for stream, items in reply or [] for entry_id, fields in items]

    def _read_pending(self) -> list[Entry]:
        """This consumer's own pending entries (failed or cut short by a Redis or store outage), up to a batch;
        if more remain, the next pass reads on."""
        entries: list[Entry] = []
        spans = 0
        for stream in self.keys.streams:
            start = "0"
            while True:
                reply: Any = self.client.xreadgroup(self.keys.group, self.name, {stream: start}, count=READ_COUNT)
                items = [Entry(stream, i.decode(), f or {}) for _, got in reply or [] for i, f in got]
                if not items:
                    break
                entries += items
                spans += sum(e.spans for e in items)
                start = items[-1].id
                if spans >= self.config.batch_spans:
                    self._retry_at = 0.0
                    return entries
        return entries

    def _reclaim(self) -> list[Entry]:
        """Entries idle for ``claim_idle_ms`` on other consumers (presumed dead), now ours; those delivered more
        than ``max_attempts`` times (consumers keep dying on them) go straight to the dead-letter stream."""
        claimed: list[Entry] = []
        for stream in self.keys.streams:
            cursor = "0-0"
            while sum(e.spans for e in claimed) < self.config.batch_spans:
                reply: Any = self.client.xautoclaim(stream, self.keys.group, self.name, self.config.claim_idle_ms,
                                                    cursor, count=READ_COUNT)
                cursor = reply[0].decode()
                claimed += [Entry(stream, i.decode(), f or {}) for i, f in reply[1]]
                if cursor == "0-0":
                    break
            self._forget_idle_consumers(stream)
        if sum(e.spans for e in claimed) >= self.config.batch_spans:
            self._next_claim = 0.0  # a batch-full reclaimed, maybe more left: reclaim on in the next pass
        if claimed:
            log.warning("queue worker %s reclaimed %d entr(ies) left pending by other consumers", self.name,
                        len(claimed))
        keep: list[Entry] = []
        for entry in claimed:
            delivered = self._deliveries(entry)
            if delivered > self.config.max_attempts:
                self._reclaimed_dead += 1
                self._dead_letter(entry, f"delivered {delivered} times without being acknowledged (the consumers "
                                         "holding it died or stalled)", delivered)
            else:
                keep.append(entry)
        return keep

    def _forget_idle_consumers(self, stream: str) -> None:
        # Consumers of restarted processes: nothing pending, idle long; forget them so XINFO stays readable.
        for consumer in self.client.xinfo_consumers(stream, self.keys.group):
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name != self.name and not consumer["pending"] and consumer["idle"] > 10 * self.config.claim_idle_ms:
                self.client.xgroup_delconsumer(stream, self.keys.group, name)

    def _deliveries(self, entry: Entry) -> int:
        rows = self.client.xpending_range(entry.stream, self.keys.group, entry.id, entry.id, 1)
        return int(rows[0]["times_delivered"]) if rows else 0

    # ------------------------------------------------------------------ committing

    def _commit(self, entries: list[Entry]) -> BatchOutcome:
        with self._claimed(entries):
            return self._commit_claimed(entries)

    @contextlib.contextmanager
    def _claimed(self, entries: list[Entry]) -> Iterator[None]:
        """Keep ``entries`` ours while committing: every ``claim_idle_ms / 3`` re-claim them (XCLAIM JUSTID resets
        their idle time without counting a delivery), so a slow commit is not mistaken for a dead consumer and
        reclaimed (committed twice) by another worker."""
        by_stream: dict[str, list[Any]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.id)

        def beat() -> None:
            try:
                for stream, ids in by_stream.items():
                    self.client.xclaim(stream, self.keys.group, self.name, 0, ids, justid=True)
            except redis.RedisError as exc:
                log.warning("queue worker %s could not keep its entries claimed: %s", self.name, exc)

        with repeating(self.config.claim_idle_ms / 3000, beat, "threadline-worker-claims"):
            yield

    def _commit_claimed(self, entries: list[Entry]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[_Decoded] = []
        failures: list[tuple[Entry, Exception]] = []
        gone: list[Entry] = []
        for entry in entries:
            if not entry.fields:
                gone.append(entry)  # deleted while pending (moved to the DLQ, or dropped): nothing to commit
                continue
            try:
                decoded.append(_Decoded(entry, entry_table(entry.fields)))
            except ValueError as exc:
                failures.append((entry, exc))
        if gone:
            self._ack(gone)
        if decoded:
            failures += self._commit_or_bisect(decoded, outcome)
        for entry, error in failures:
            outcome.errors.append(f"{entry.stream} {entry.id}: {error}")
            if self._settle_failure(entry, error):
                outcome.dead_lettered += 1
            else:
                outcome.failed += 1
        if failures and self.metrics is not None:
            self.metrics.worker_failures.inc(len(failures))
        return outcome

    def _commit_or_bisect(self, items: list[_Decoded], outcome: BatchOutcome) -> list[tuple[Entry, Exception]]:
        """Commit ``items`` as one batch; if that fails for a reason other than an unavailable store, commit each
        half on its own, down to single entries, so one bad entry does not hold back the others. Returns the
        entries that failed alone, with their error. Raises StoreUnavailable, redis.RedisError."""
        try:
            self._commit_batch(items, outcome)
            return []
        except (StoreUnavailable, redis.RedisError):
            raise
        except Exception as exc:
            if len(items) == 1:
                log.warning("queue entry %s %s failed: %s", items[0].entry.stream, items[0].entry.id, exc)
                return [(items[0].entry, exc)]
            middle = len(items) // 2
            return self._commit_or_bisect(items[:middle], outcome) + self._commit_or_bisect(items[middle:], outcome)

    def _commit_batch(self, items: list[_Decoded], outcome: BatchOutcome) -> None:
        started = time.perf_counter()
        entries = [item.entry for item in items]
        table = concat([item.table for item in items])
        inserted = self.committer.insert(table, batch_token(entries))
        inserted_at = time.perf_counter()
        self.committer.recompute_inserted(inserted)  # under the committer's guard: the Redis rollup locks
        if self.metrics is not None:  # before the XACK: whoever sees the entries gone sees them counted
            self.metrics.worker_batch_spans.observe(table.num_rows)
            self.metrics.worker_insert_seconds.observe(inserted_at - started)
            self.metrics.worker_commit_seconds.observe(time.perf_counter() - started)
            self.metrics.worker_spans.inc(table.num_rows)
        self._ack(entries)
        outcome.committed += len(entries)
        outcome.spans += table.num_rows

    def _ack(self, entries: list[Entry]) -> None:
        """XACK then XDEL ``entries`` (one MULTI/EXEC): acknowledged and out of the backlog."""
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.id)
        with self.client.pipeline(transaction=True) as pipe:
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.keys.group, *ids)
                pipe.xdel(stream, *ids)
            pipe.execute()

    def _settle_failure(self, entry: Entry, error: Exception) -> bool:
        """After a failed commit of ``entry`` alone: dead-letter it once it has had ``max_attempts`` deliveries
        (True), else leave it pending and re-read it after a backoff (``retry_base_s`` doubling, at most 60 s), long
        enough for a transient refusal (ClickHouse's "too many parts") to pass."""
        delivered = self._deliveries(entry)
        if delivered >= self.config.max_attempts:
            self._dead_letter(entry, f"{type(error).__name__}: {error}", delivered)
            return True
        delay = min(self.config.retry_base_s * 2 ** max(delivered - 1, 0), 60.0)
        due = time.monotonic() + delay
        self._retry_at = due if self._retry_at is None else min(self._retry_at, due)
        return False

    def _dead_letter(self, entry: Entry, error: str, attempts: int) -> None:
        from threadline.queue.dlq import dead_letter

        dead_letter(self.client, self.keys, entry.stream, entry.id, entry.fields, error=error, attempts=attempts,
                    consumer=self.name)
        log.error("queue entry %s %s moved to the dead-letter stream %s after %d deliveries: %s", entry.stream,
                  entry.id, self.keys.dlq, attempts, error)
        if self.metrics is not None:
            self.metrics.dlq_moved.inc()
