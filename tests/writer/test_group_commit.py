"""GroupCommitWriter on the real store: concurrent writes share commits, a write returns once its spans are stored
and settled() once their rollups are written, overload is refused up front, a failed insert fails every writer of its
batch, a failed rollup pass is retried (and left to the journal when the writer stops), inserts wait for rollups that
fall behind, and stop() commits what is queued.

The committers below are real BatchCommitters (subclasses that count, pause or fail once); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanBatch, SpanRow
from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter, CommitResult, InsertedBatch
from threadline.writer.group_commit import GroupCommitWriter, Overloaded
from threadline.writer.span_log import SpanLog, replay

PRICES = PriceTable({})
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
PROJECT = "p"


def trace_rows(session: str, spans: int = 2, tokens: int = 10) -> list[SpanRow]:
    """One trace: a root carrying ``session`` and ``spans - 1`` llm children with ``tokens`` input tokens each."""
    trace_id = uuid.uuid4().hex
    out = [normalize(RawSpan(trace_id, f"{1:016x}", "", "root", T0_NS, T0_NS + 10**9,
                             attributes={"session.id": session}), PROJECT, PRICES, 1)]
    for n in range(2, spans + 1):
        out.append(normalize(RawSpan(trace_id, f"{n:016x}", f"{1:016x}", "llm", T0_NS + n, T0_NS + 10**8,
                                     attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                                                 "llm.token_count.prompt": str(tokens)}), PROJECT, PRICES, 1))
    return out


def counts(store: Store, session: str) -> tuple[int, int, int]:
    """(distinct spans of the project, trace_count and input_tokens of ``session``; 0, 0 when it has no row)."""
    spans = store.select("SELECT count() AS n FROM {db}.spans FINAL WHERE project_id = {p:String}", {"p": PROJECT},
                         tag="test.spans")[0]["n"]
    rollup = store.select("SELECT trace_count, input_tokens FROM {db}.session_rollups FINAL "
                          "WHERE project_id = {p:String} AND session_id = {s:String}", {"p": PROJECT, "s": session},
                          tag="test.session")
    if not rollup:
        return int(spans), 0, 0
    return int(spans), int(rollup[0]["trace_count"]), int(rollup[0]["input_tokens"])


class CountingCommitter(BatchCommitter):
    """Records the size of every commit."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.batches: list[int] = []

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        self.batches.append(len(rows))
        return super().insert(rows, token)


class GatedCommitter(CountingCommitter):
    """Waits for ``gate`` before committing; ``entered`` is set when a commit has started."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().insert(rows, token)


class FailsOnceCommitter(CountingCommitter):
    """The first insert stores its spans and then fails, as an insert whose acknowledgement is lost would."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.failure: StoreError | None = None

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        inserted = super().insert(rows, token)
        if self.failure is None:
            self.failure = StoreError("injected: the store went away after the insert")
            raise self.failure
        return inserted


class FailingRollupsCommitter(CountingCommitter):
    """Rollup passes write everything and then fail (``before``: fail without writing anything), ``failures`` times
    (-1: always); ``gate`` holds each pass."""

    def __init__(self, store: Store, failures: int, before: bool = False) -> None:
        super().__init__(store)
        self.failures = failures
        self.before = before
        self.passes = 0
        self.gate = threading.Event()
        self.gate.set()

    def recompute_inserted(self, inserted: InsertedBatch) -> CommitResult:
        assert self.gate.wait(30), "the test never opened the gate"
        self.passes += 1
        if self.before and self.failures:
            self.failures -= 1
            raise StoreError("injected: the store is away")
        result = super().recompute_inserted(inserted)
        if self.failures:
            self.failures -= 1
            raise StoreError("injected: the store went away after the rollups")
        return result


def run(scenario: Callable[[GroupCommitWriter], Awaitable[Any]], committer: BatchCommitter, **options: Any) -> Any:
    """Start a writer on a fresh event loop, run ``scenario`` with it, stop it (bounded: a hang fails)."""

    async def main() -> Any:
        writer = GroupCommitWriter(committer, **{"flush_interval_ms": 5, **options})
        await writer.start()
        try:
            return await scenario(writer)
        finally:
            async with asyncio.timeout(20):
                await writer.stop()

    return asyncio.run(main())


def test_concurrent_writes_share_commits(store: Store) -> None:
    committer = CountingCommitter(store)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-group")) for _ in range(50)))
        assert await writer.settled()
        assert writer.pending_spans == 0

    run(scenario, committer)
    assert sum(committer.batches) == 100
    assert len(committer.batches) < 10, committer.batches  # grouped, not one commit per write
    assert counts(store, "s-group") == (100, 50, 50 * 10)


def test_batches_are_capped_at_flush_max_spans(store: Store) -> None:
    committer = CountingCommitter(store)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-cap", spans=3)) for _ in range(10)))

    run(scenario, committer, flush_max_spans=7)
    assert sum(committer.batches) == 30
    assert max(committer.batches) <= 7, committer.batches
    assert counts(store, "s-cap") == (30, 10, 10 * 2 * 10)


def test_write_returns_once_spans_are_stored_and_settled_once_rollups_are(store: Store) -> None:
    committer = FailingRollupsCommitter(store, failures=0)

    async def scenario(writer: GroupCommitWriter) -> None:
        for n in range(1, 4):
            committer.gate.clear()
            await writer.write(trace_rows("s-durable"))
            # no await in between: the spans are committed, their rollups wait for the gate
            assert counts(store, "s-durable") == (2 * n, n - 1, 10 * (n - 1))
            reading = asyncio.create_task(writer.settled())
            await asyncio.sleep(0.05)
            assert not reading.done()
            committer.gate.set()
            assert await reading
            assert counts(store, "s-durable") == (2 * n, n, 10 * n)
            assert await writer.settled()  # nothing acknowledged since: at once

    run(scenario, committer)


def test_overload_is_refused_and_nothing_is_dropped(store: Store) -> None:
    committer = GatedCommitter(store)

    async def scenario(writer: GroupCommitWriter) -> None:
        first = asyncio.create_task(writer.write(trace_rows("s-load", spans=6)))
        assert await asyncio.to_thread(committer.entered.wait, 10)  # 6 spans are being committed, still pending
        assert writer.pending_spans == 6
        with pytest.raises(Overloaded) as refused:
            await writer.write(trace_rows("s-load", spans=5))  # 6 + 5 > 10
        assert refused.value.retry_after >= 1
        fits = asyncio.create_task(writer.write(trace_rows("s-load", spans=4)))  # 6 + 4 = 10 is accepted
        await asyncio.sleep(0.02)
        assert writer.pending_spans == 10
        committer.gate.set()
        await asyncio.gather(first, fits)
        assert await writer.settled()
        assert writer.pending_spans == 0
        await writer.write(trace_rows("s-load", spans=5))  # room again

    run(scenario, committer, max_pending_spans=10)
    assert counts(store, "s-load") == (15, 3, 10 * (5 + 3 + 4))


def test_failed_insert_fails_every_writer_of_its_batch(store: Store) -> None:
    committer = FailsOnceCommitter(store)
    traces = [trace_rows("s-fail") for _ in range(5)]

    async def scenario(writer: GroupCommitWriter) -> None:
        outcomes = await asyncio.gather(*(writer.write(rows) for rows in traces), return_exceptions=True)
        assert committer.batches == [10]  # the five writes were one batch
        assert all(outcome is committer.failure for outcome in outcomes), outcomes
        assert writer.pending_spans == 0
        # the next batch works; the clients' retries of the failed writes double count nothing
        await asyncio.gather(*(writer.write(rows) for rows in traces), writer.write(trace_rows("s-fail")))
        assert await writer.settled()

    run(scenario, committer)
    assert len(committer.batches) == 2
    assert counts(store, "s-fail") == (12, 6, 60)


def test_failed_rollup_pass_is_retried_until_it_succeeds(store: Store) -> None:
    committer = FailingRollupsCommitter(store, failures=2)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-retry")) for _ in range(5)))  # acknowledged: stored
        assert await writer.settled()
        assert committer.passes >= 3
        assert counts(store, "s-retry") == (10, 5, 50)

    run(scenario, committer, retry_s=0.01)


def test_stop_leaves_a_failing_rollup_pass_to_the_journal(store: Store) -> None:
    committer = FailingRollupsCommitter(store, failures=-1, before=True)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-journal")) for _ in range(3)))
        assert not await writer.settled(timeout_s=0.2)  # the read goes ahead after its timeout
        assert counts(store, "s-journal") == (6, 0, 0)

    run(scenario, committer, retry_s=0.01)
    # the spans were acknowledged, so they are stored; the next start's recovery writes their rollups
    recovered = BatchCommitter(store)
    assert recovered.recover() == 3
    assert counts(store, "s-journal") == (6, 3, 30)


def test_inserts_wait_for_rollups_that_fall_behind(store: Store) -> None:
    committer = FailingRollupsCommitter(store, failures=0)
    committer.gate.clear()

    async def scenario(writer: GroupCommitWriter) -> None:
        await writer.write(trace_rows("s-behind", spans=3))  # 3 spans whose rollups wait for the gate
        second = asyncio.create_task(writer.write(trace_rows("s-behind", spans=3)))
        await asyncio.sleep(0.1)
        assert not second.done()  # 3 unfolded spans reached max_unfolded_spans: the insert waits
        assert counts(store, "s-behind")[0] == 3
        committer.gate.set()
        await second
        assert await writer.settled()
        assert counts(store, "s-behind") == (6, 2, 40)

    run(scenario, committer, max_unfolded_spans=3)


def test_stop_commits_what_is_queued(store: Store) -> None:
    committer = CountingCommitter(store)

    async def main() -> None:
        writer = GroupCommitWriter(committer, flush_interval_ms=5)
        await writer.start()
        writes = [asyncio.create_task(writer.write(trace_rows("s-stop"))) for _ in range(20)]
        await asyncio.sleep(0)  # the writes are queued; the flush loop has not picked them up yet
        started = time.monotonic()
        async with asyncio.timeout(6):  # (stop() swallows the cancellation: the elapsed time tells a hang)
            await writer.stop()
        assert time.monotonic() - started < 5, "stop() waited on a wakeup nobody sends"
        async with asyncio.timeout(1):
            await asyncio.gather(*writes)  # every queued write was committed and acknowledged
        with pytest.raises(RuntimeError):
            await writer.write(trace_rows("s-stop"))

    asyncio.run(main())
    assert sum(committer.batches) == 40
    assert counts(store, "s-stop") == (40, 20, 200)


def test_stop_during_the_flush_wait_and_during_a_commit(store: Store) -> None:
    committer = GatedCommitter(store)

    async def main() -> None:
        writer = GroupCommitWriter(committer, flush_interval_ms=50)
        await writer.start()
        first = asyncio.create_task(writer.write(trace_rows("s-stop2")))
        assert await asyncio.to_thread(committer.entered.wait, 10)  # a commit is in progress
        queued = [asyncio.create_task(writer.write(trace_rows("s-stop2"))) for _ in range(3)]
        await asyncio.sleep(0)
        stopping = asyncio.create_task(writer.stop())
        await asyncio.sleep(0.02)
        assert not stopping.done()
        committer.gate.set()
        async with asyncio.timeout(10):
            await stopping
        async with asyncio.timeout(1):
            await asyncio.gather(first, *queued)

    asyncio.run(main())
    assert sum(committer.batches) == 8
    assert counts(store, "s-stop2") == (8, 4, 40)


# ------------------------------------------------------------------------------------------ with a span log


class FailingInsertsCommitter(CountingCommitter):
    """Inserts fail without storing anything, ``failures`` times (-1: always)."""

    def __init__(self, store: Store, failures: int) -> None:
        super().__init__(store)
        self.failures = failures

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        if self.failures:
            self.failures -= 1
            self.batches.append(0)
            raise StoreError("injected: the store is away")
        return super().insert(rows, token)


def test_with_a_span_log_writes_are_acknowledged_once_logged_and_inserted_together(store: Store,
                                                                                   tmp_path: Path) -> None:
    committer = GatedCommitter(store)
    span_log = SpanLog(tmp_path)

    async def scenario(writer: GroupCommitWriter) -> None:
        await writer.write(trace_rows("s-log"))  # acknowledged, though its insert waits at the gate
        assert await asyncio.to_thread(committer.entered.wait, 10)
        await asyncio.gather(*(writer.write(trace_rows("s-log")) for _ in range(10)))  # acknowledged too
        assert len(span_log.pending()) >= 2 and counts(store, "s-log")[0] == 0
        committer.gate.set()
        assert await writer.settled()
        assert counts(store, "s-log") == (22, 11, 110)
        assert span_log.pending() == []  # a batch leaves the log once its rollups are written

    run(scenario, committer, span_log=span_log)
    assert committer.batches == [2, 20]  # what the log gathered during the first insert went in as one


def test_with_a_span_log_a_failed_insert_is_retried(store: Store, tmp_path: Path) -> None:
    committer = FailingInsertsCommitter(store, failures=2)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-retry-log")) for _ in range(5)))  # acknowledged: logged
        assert await writer.settled()
        assert counts(store, "s-retry-log") == (10, 5, 50)

    run(scenario, committer, retry_s=0.01, span_log=SpanLog(tmp_path))
    assert committer.batches[:2] == [0, 0] and sum(committer.batches) == 10


def test_with_a_span_log_stop_leaves_failing_inserts_to_the_next_start(store: Store, tmp_path: Path) -> None:
    committer = FailingInsertsCommitter(store, failures=-1)

    async def scenario(writer: GroupCommitWriter) -> None:
        await asyncio.gather(*(writer.write(trace_rows("s-replay")) for _ in range(3)))
        assert not await writer.settled(timeout_s=0.2)

    run(scenario, committer, retry_s=0.01, span_log=SpanLog(tmp_path))
    assert counts(store, "s-replay") == (0, 0, 0) and SpanLog(tmp_path).pending()
    # the next start replays the log: every acknowledged span, with its rollups, once
    assert replay(SpanLog(tmp_path), BatchCommitter(store)) == 6
    assert counts(store, "s-replay") == (6, 3, 30) and SpanLog(tmp_path).pending() == []


def test_after_pass_runs_after_each_rollup_pass_that_succeeded(store: Store) -> None:
    committer = FailingRollupsCommitter(store, failures=1)
    settled_at_call: list[tuple[int, int, int]] = []

    def after_pass() -> None:  # runs once the pass's rollups are written
        settled_at_call.append(counts(store, "s-after"))

    async def scenario(writer: GroupCommitWriter) -> None:
        for _ in range(3):
            await writer.write(trace_rows("s-after"))
            assert await writer.settled()

    run(scenario, committer, after_pass=after_pass, retry_s=0.01)
    # three passes (the first failed once and was retried, which does not call the hook), each seen complete
    assert settled_at_call == [(2, 1, 10), (4, 2, 20), (6, 3, 30)]


def test_a_failing_after_pass_does_not_stop_the_rollups(store: Store) -> None:
    def after_pass() -> None:
        raise RuntimeError("injected: the hook fails")

    async def scenario(writer: GroupCommitWriter) -> None:
        for _ in range(2):
            await writer.write(trace_rows("s-hook-fails"))
            assert await writer.settled(timeout_s=10)

    run(scenario, CountingCommitter(store), after_pass=after_pass)
    assert counts(store, "s-hook-fails") == (4, 2, 20)
