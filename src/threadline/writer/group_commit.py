"""Embedded group commit: ingest requests enqueue span rows and await the commit of the batch that holds them.

Two stages, each one thread at a time (off the event loop):

1. **insert**: a batch is gathered when it reaches ``flush_max_spans`` or ``flush_interval_ms`` after its first
   request; it is recorded as pending in the rollup journal and its spans are inserted. Its requests are then
   acknowledged: the spans are committed to ClickHouse and, should the process die before their rollups are written,
   the journal has the next start rebuild them (DESIGN.md, "Durability contract").
2. **rollups**: every batch inserted since the last pass is folded in one pass (up to ``flush_max_spans`` spans), so
   the pass's fixed cost (a handful of statements, each a few ms in chDB whatever its size) is shared by every request
   that arrived meanwhile. A pass that fails is retried (its traces are rebuilt from their stored spans) until it
   succeeds or the writer stops (then the journal has the next start finish it).

With a span log (:mod:`threadline.writer.span_log`, the embedded store's writer), stage 1 instead appends the batch
to the log and acknowledges its requests, and a stage between the two inserts what the log gathered meanwhile in one
statement (up to ``flush_max_spans`` spans; it inserts as soon as the rollups have taken the previous insert, so a
light load is inserted at once and a heavy one in large batches). An insert that fails is retried: its requests are
acknowledged already and the log keeps them for the next start if the writer stops first. A batch leaves the log
once its rollups are written.

Reads stay read-your-writes: :meth:`GroupCommitWriter.settled` waits until every batch acknowledged before it was
called has its rollups written; the API's read routes await it (:func:`threadline.api.state.settled_writes`).
Acknowledging at the insert instead of after the rollups lets exporters send their next request while the previous
ones are folded: with the few exporters a deployment has (each sends one request at a time), passes would otherwise
hold one or two requests each and their per-statement costs would dominate.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pyarrow as pa

from threadline.ingest.spans import SpanBatch, concat
from threadline.writer.commit import BatchCommitter, CommitResult, InsertedBatch
from threadline.writer.span_log import SpanLog

log = logging.getLogger("threadline.writer")
T = TypeVar("T")


class Overloaded(Exception):
    """Too many spans are waiting for the writer; the caller should answer 503 with ``Retry-After`` (seconds)."""

    def __init__(self, pending: int, retry_after: int = 1) -> None:
        super().__init__(f"{pending} spans are waiting to be written; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Request:
    rows: SpanBatch
    future: asyncio.Future[None] = field(repr=False)


@dataclass
class _Logged:
    """A batch in the span log and acknowledged, its spans to insert; ``number`` counts batches, ``entry`` is its
    number in the log."""

    rows: pa.Table
    number: int
    entry: int


@dataclass
class _Inserted:
    """A batch whose spans are inserted and acknowledged, its rollups to write; ``number`` counts batches (of the
    last one it holds); ``entries``: its batches' numbers in the span log."""

    batch: InsertedBatch
    number: int
    entries: tuple[int, ...] = ()


class GroupCommitWriter:
    """Batches concurrent writes into group commits. Use ``await start()`` then ``await write(rows)``; ``stop()``
    commits what is queued, writes every pending rollup it can, and ends the loops.

    ``max_pending_spans`` bounds the spans accepted and not yet inserted (a request beyond it is refused with
    :class:`Overloaded`); ``max_unfolded_spans`` (default twice ``flush_max_spans``) bounds the spans inserted whose
    rollups are still to be written: above it, inserts wait, so acknowledgements slow down to the pace of the rollups
    instead of letting reads fall behind (with a span log: the spans logged or inserted whose rollups are still
    to be written). ``retry_s`` is the first wait before a failed rollup pass (or, with a span log, a failed insert)
    is retried (doubling up to 5 s). ``span_log``: acknowledge batches once logged there, and insert them in large
    batches (see the module's description). ``after_pass`` is called (in a thread) after each rollup pass that
    succeeded, e.g. :func:`threadline.allocators.release_free_memory`: the pass's buffers are freed by then.
    """

    def __init__(self, committer: BatchCommitter, *, flush_interval_ms: float = 5.0, flush_max_spans: int = 20_000,
                 max_pending_spans: int = 500_000, max_unfolded_spans: int | None = None,
                 retry_s: float = 0.1, span_log: SpanLog | None = None,
                 after_pass: Callable[[], object] | None = None) -> None:
        self.committer = committer
        self.after_pass = after_pass
        self.flush_interval = flush_interval_ms / 1000
        self.flush_max_spans = flush_max_spans
        self.max_pending_spans = max_pending_spans
        self.max_unfolded_spans = max_unfolded_spans or 2 * flush_max_spans
        self.retry_s = retry_s
        self.span_log = span_log
        self._queue: list[_Request] = []
        self._pending_spans = 0
        self._logged: list[_Logged] = []
        self._logged_spans = 0
        self._gathered = False  # the gathering loop ended (nothing more will be logged)
        self._unfolded: list[_Inserted] = []
        self._unfolded_spans = 0
        self._acknowledged = 0  # number of the last batch acknowledged
        self._settled = 0  # number of the last batch whose rollups are written (every one before it too)
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._inserts_done = False
        self._rollups_done = False

    @property
    def pending_spans(self) -> int:
        """Spans accepted and not yet committed with their rollups (queued, being inserted, or inserted with their
        rollups still to write)."""
        return self._pending_spans + self._logged_spans + self._unfolded_spans

    async def start(self) -> None:
        """Start the insert and rollup loops on the running event loop."""
        self._tasks = [asyncio.create_task(self._gather_and_insert(), name="threadline-group-commit"),
                       asyncio.create_task(self._rollups(), name="threadline-rollups")]
        if self.span_log is not None:
            self._tasks.append(asyncio.create_task(self._insert_logged(), name="threadline-span-inserts"))

    async def stop(self) -> None:
        """Commit everything queued, write the rollups of everything inserted (a pass that fails is left to the
        journal and the next start), then end the loops."""
        self._stopping = True
        self._wakeup.set()
        await self._notify()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def write(self, rows: SpanBatch) -> None:
        """Wait until ``rows`` are committed (inserted and journaled, or with a span log: logged; their rollups
        follow, see :meth:`settled`). Raises Overloaded when the queue is full, RuntimeError when stopping, and the
        insert's StoreError (the log's OSError) when the batch failed (nothing of it is acknowledged; a retry is
        safe)."""
        if not len(rows):
            return
        if self._stopping or not self._tasks:
            raise RuntimeError("the writer is not running")
        if self._pending_spans + len(rows) > self.max_pending_spans:
            raise Overloaded(self._pending_spans)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(rows, future))
        self._pending_spans += len(rows)
        self._wakeup.set()
        await asyncio.shield(future)

    async def settled(self, timeout_s: float = 30.0) -> bool:
        """Wait until every batch acknowledged before this call has its rollups written (read-your-writes for the
        API's reads). Returns False when ``timeout_s`` passed first (rollups failing, e.g. the store is down): the
        read then goes ahead and may show those spans' sessions without them."""
        target = self._acknowledged
        if self._settled >= target:
            return True
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(lambda: self._settled >= target or self._rollups_done)
        except TimeoutError:
            log.warning("a read waited %.0f s for rollups of acknowledged spans and went ahead", timeout_s)
            return False
        return self._settled >= target

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _take_batch(self) -> list[_Request]:
        taken: list[_Request] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0].rows) <= self.flush_max_spans):
            request = self._queue.pop(0)
            taken.append(request)
            size += len(request.rows)
        return taken

    async def _gather_and_insert(self) -> None:
        try:
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
                    async with self._changed:  # the rollups are behind: insert (and acknowledge) at their pace
                        await self._changed.wait_for(
                            lambda: self._logged_spans + self._unfolded_spans < self.max_unfolded_spans
                            or self._rollups_done)
                    if self.span_log is not None:
                        await self._log(self.span_log, self._take_batch())
                    else:
                        await self._insert(self._take_batch())
                if self._stopping:
                    # stop() may have set the wakeup before this pass cleared it: nothing would set it again.
                    return
        finally:
            self._gathered = True
            if self.span_log is None:
                self._inserts_done = True
            await self._notify()

    async def _log(self, span_log: SpanLog, batch: list[_Request]) -> None:
        size = sum(len(request.rows) for request in batch)
        def write() -> tuple[pa.Table, int]:  # one hop off the event loop for the batch's table and its file
            table = concat([request.rows for request in batch])
            return table, span_log.append(table)

        try:
            rows, entry = await asyncio.to_thread(write)
        except Exception as exc:
            log.error("logging %d spans failed: %s", size, exc)
            self._settle(batch, size, exc)
            return
        self._acknowledged += 1
        self._logged.append(_Logged(rows, self._acknowledged, entry))
        self._logged_spans += rows.num_rows
        self._settle(batch, size, None)
        await self._notify()

    def _insertable(self) -> bool:
        # Insert once the rollups have taken the previous insert (or a full batch is waiting): a light load goes in
        # at once, a heavy one gathers in the log while the store is busy, and goes in as one large insert.
        return bool(self._logged) and (not self._unfolded or self._logged_spans >= self.flush_max_spans
                                       or self._gathered)

    async def _insert_logged(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: self._insertable() or (self._gathered and not self._logged)
                                                 or self._rollups_done)
                if not self._logged or self._rollups_done:
                    return  # everything logged is inserted, or the rollups gave up (the log keeps the rest)
                taken = [self._logged.pop(0)]
                spans = taken[0].rows.num_rows
                while self._logged and spans + self._logged[0].rows.num_rows <= self.flush_max_spans:
                    taken.append(self._logged.pop(0))
                    spans += taken[-1].rows.num_rows
                done = await self._insert_retrying(concat([item.rows for item in taken]))
                if done is None:
                    return  # stopping while the insert fails: the log has these batches for the next start
                self._logged_spans -= spans
                self._unfolded.append(_Inserted(done, taken[-1].number, tuple(item.entry for item in taken)))
                self._unfolded_spans += done.spans
                await self._notify()
        finally:
            self._inserts_done = True
            await self._notify()

    async def _insert_retrying(self, rows: pa.Table) -> InsertedBatch | None:
        """Insert ``rows`` (acknowledged already), retrying until it succeeds; None when the writer stops first."""
        return await self._retrying(lambda: self.committer.insert(rows), f"insert of {rows.num_rows} logged spans")

    async def _retrying(self, attempt: Callable[[], T], what: str) -> T | None:
        """``attempt()`` in a thread until it returns, waiting ``retry_s`` after a failure (doubling up to 5 s);
        None when the writer stops while it still fails."""
        wait = self.retry_s
        while True:
            try:
                return await asyncio.to_thread(attempt)
            except Exception as exc:
                log.error("%s failed (retrying in %.1f s): %s", what, wait, exc)
            if self._stopping:
                return None
            await asyncio.sleep(wait)
            wait = min(wait * 2, 5.0)

    async def _insert(self, batch: list[_Request]) -> None:
        size = sum(len(request.rows) for request in batch)
        try:
            rows = await asyncio.to_thread(concat, [request.rows for request in batch])
            done = await asyncio.to_thread(self.committer.insert, rows)
        except Exception as exc:
            log.error("insert of %d spans failed: %s", size, exc)
            self._settle(batch, size, exc)
            return
        self._acknowledged += 1
        self._unfolded.append(_Inserted(done, self._acknowledged))
        self._unfolded_spans += done.spans
        self._settle(batch, size, None)
        await self._notify()

    async def _rollups(self) -> None:
        try:
            while True:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self._unfolded) or self._inserts_done)
                if not self._unfolded:
                    return  # inserts are over and every rollup is written
                taken = [self._unfolded.pop(0)]
                spans = taken[0].batch.spans
                while self._unfolded and spans + self._unfolded[0].batch.spans <= self.flush_max_spans:
                    taken.append(self._unfolded.pop(0))
                    spans += taken[-1].batch.spans
                if not await self._fold(InsertedBatch.merge([item.batch for item in taken])):
                    return  # stopping while the pass fails: the journal has the next start finish it
                if self.span_log is not None:
                    await self._forget(self.span_log, [entry for item in taken for entry in item.entries])
                self._unfolded_spans -= spans
                self._settled = taken[-1].number
                await self._notify()
                if self.after_pass is not None:
                    try:
                        await asyncio.to_thread(self.after_pass)
                    except Exception:  # housekeeping: it must never stop the rollups
                        log.exception("the writer's after-pass hook failed")
        finally:
            self._rollups_done = True
            await self._notify()

    @staticmethod
    async def _forget(span_log: SpanLog, entries: list[int]) -> None:
        """Remove batches whose rollups are written from the log (a file left behind is replayed exactly)."""
        try:
            await asyncio.to_thread(span_log.discard, entries)
        except OSError as exc:
            log.warning("could not remove %d committed batch(es) from the span log: %s", len(entries), exc)

    async def _fold(self, merged: InsertedBatch) -> bool:
        """Write the rollups of ``merged``, retrying a pass that fails (the retry rebuilds its traces from their
        stored spans). False when the writer stops while the pass still fails."""
        batch = merged

        def attempt() -> CommitResult:
            nonlocal batch
            try:
                return self.committer.recompute_inserted(batch)
            except Exception:
                # The failed pass released the traces it registered; the retry must not release them again.
                batch = dataclasses.replace(batch, registered=())
                raise

        return await self._retrying(attempt, f"rollups of {merged.spans} spans") is not None

    def _settle(self, batch: list[_Request], size: int, error: Exception | None) -> None:
        """Resolve the requests of a batch: committed (error None) or failed (nothing acknowledged)."""
        for request in batch:
            if not request.future.done():
                if error is None:
                    request.future.set_result(None)
                else:
                    request.future.set_exception(error)
        self._pending_spans -= size
