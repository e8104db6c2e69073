"""Embedded group commit: ingest requests enqueue span rows and await the commit of the batch that holds them.

A batch is flushed when it reaches ``flush_max_spans`` or ``flush_interval_ms`` after its first request; commits
run one at a time in a worker thread (off the event loop). A request's future resolves only after ClickHouse has
committed its spans and the rollups they touch, so a 2xx means durable (DESIGN.md, "Durability contract").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from threadline.ingest.spans import SpanBatch, concat
from threadline.writer.commit import BatchCommitter, InsertedBatch

log = logging.getLogger("threadline.writer")


class Overloaded(Exception):
    """Too many spans are waiting for the writer; the caller should answer 503 with ``Retry-After`` (seconds)."""

    def __init__(self, pending: int, retry_after: int = 1) -> None:
        super().__init__(f"{pending} spans are waiting to be written; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Request:
    rows: SpanBatch
    future: asyncio.Future[None] = field(repr=False)


class GroupCommitWriter:
    """Batches concurrent writes into group commits. Use ``await start()`` then ``await write(rows)``; ``stop()``
    commits what is queued and ends the loop."""

    def __init__(self, committer: BatchCommitter, *, flush_interval_ms: float = 5.0, flush_max_spans: int = 20_000,
                 max_pending_spans: int = 500_000) -> None:
        self.committer = committer
        self.flush_interval = flush_interval_ms / 1000
        self.flush_max_spans = flush_max_spans
        self.max_pending_spans = max_pending_spans
        self._queue: list[_Request] = []
        self._pending_spans = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending_spans(self) -> int:
        """Spans accepted into the queue and not yet committed."""
        return self._pending_spans

    async def start(self) -> None:
        """Start the flush loop on the running event loop."""
        self._task = asyncio.create_task(self._run(), name="threadline-group-commit")

    async def stop(self) -> None:
        """Commit everything queued, then end the flush loop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def write(self, rows: SpanBatch) -> None:
        """Wait until ``rows`` are committed. Raises Overloaded when the queue is full, RuntimeError when stopping,
        and the commit's StoreError when the batch failed (nothing of it is acknowledged; a retry is safe)."""
        if not len(rows):
            return
        if self._stopping or self._task is None:
            raise RuntimeError("the writer is not running")
        if self._pending_spans + len(rows) > self.max_pending_spans:
            raise Overloaded(self._pending_spans)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(rows, future))
        self._pending_spans += len(rows)
        self._wakeup.set()
        await asyncio.shield(future)

    def _take_batch(self) -> list[_Request]:
        taken: list[_Request] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0].rows) <= self.flush_max_spans):
            request = self._queue.pop(0)
            taken.append(request)
            size += len(request.rows)
        return taken

    async def _run(self) -> None:
        # Two stages: this loop gathers batches and inserts their spans; _rollups recomputes the rollups of every
        # batch inserted meanwhile, in one pass, and acknowledges them. Inserts run beside rollups, and the slower
        # stage's per-pass cost is shared by more spans as load grows. The queue is bounded by max_pending_spans.
        inserted: asyncio.Queue[tuple[list[_Request], InsertedBatch] | None] = asyncio.Queue()
        rollups = asyncio.create_task(self._rollups(inserted), name="threadline-rollups")
        try:
            await self._gather_and_insert(inserted)
        finally:
            await inserted.put(None)
            await rollups

    async def _gather_and_insert(self, inserted: asyncio.Queue[tuple[list[_Request], InsertedBatch] | None]
                                 ) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                if self._stopping:
                    return
                continue
            if self.flush_interval and self._pending_spans < self.flush_max_spans and not self._stopping:
                await asyncio.sleep(self.flush_interval)  # let concurrent requests join this batch
            while self._queue:
                batch = self._take_batch()
                size = sum(len(request.rows) for request in batch)
                try:
                    rows = await asyncio.to_thread(concat, [request.rows for request in batch])
                    done = await asyncio.to_thread(self.committer.insert, rows)
                except Exception as exc:
                    self._settle(batch, size, exc)
                    continue
                await inserted.put((batch, done))
            if self._stopping:
                # stop() may have set the wakeup before this pass cleared it: nothing would set it again.
                return

    async def _rollups(self, inserted: asyncio.Queue[tuple[list[_Request], InsertedBatch] | None]) -> None:
        stopping = False
        while not stopping:
            item = await inserted.get()
            items = []
            while item is not None:
                items.append(item)
                if inserted.empty():
                    break
                item = inserted.get_nowait()
            stopping = item is None
            if not items:
                continue
            try:  # a failure here, merging included, fails the requests (a retry replays them): none may hang
                merged = InsertedBatch.merge([done for _, done in items])
                await asyncio.to_thread(self.committer.recompute_inserted, merged)
            except Exception as exc:
                error: Exception | None = exc
            else:
                error = None
            for batch, done in items:
                self._settle(batch, done.spans, error)

    def _settle(self, batch: list[_Request], size: int, error: Exception | None) -> None:
        """Resolve the requests of a batch: committed (error None) or failed (nothing acknowledged)."""
        if error is not None:
            log.error("commit of %d spans failed: %s", size, error)
        for request in batch:
            if not request.future.done():
                if error is None:
                    request.future.set_result(None)
                else:
                    request.future.set_exception(error)
        self._pending_spans -= size
