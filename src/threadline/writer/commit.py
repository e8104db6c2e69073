"""Commit one batch of span rows: insert the spans, resolve trace→session links, recompute rollups.

This is the only code path that writes spans and rollups; the embedded group-commit writer and the scaled worker
both call :meth:`BatchCommitter.commit`. It is idempotent: committing the same rows again inserts nothing new (the
deduplication token, and ``ReplacingMergeTree`` keys) and recomputes the same rollups.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pyarrow as pa

from threadline import rollups
from threadline.ingest.spans import SpanBatch, as_table
from threadline.store.gateway import Store

log = logging.getLogger("threadline.writer")
Key = tuple[str, str]
# Held around every rollup pass over the given project ids, beside the committer's own (per-process) lock: the
# scaled deployment passes Redis locks here, so passes of every process that writes rollups are serialised.
RecomputeGuard = Callable[[set[str]], AbstractContextManager[None]]
# Longer than a batch can wait in the group-commit queue plus its commit (the queue is bounded by
# max_pending_spans), so every span of a batch cut short by a crash was ingested within it.
RECOVERY_WINDOW_S = 120
RECENT_TRACES = """
SELECT DISTINCT project_id, trace_id FROM {db}.spans
WHERE ingested_at >= (SELECT max(ingested_at) FROM {db}.spans) - toIntervalSecond({window:UInt32})
"""


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: spans inserted, traces and sessions whose rollups were recomputed, traces that changed
    session."""

    spans: int
    traces: int
    sessions: int
    moved_traces: int


@dataclass(frozen=True)
class InsertedBatch:
    """A batch whose spans are inserted: the (project_id, trace_id) pairs it touched and its span count."""

    traces: list[Key]
    spans: int


def batch_token(table: pa.Table) -> str:
    """Deduplication token of a batch: a hash of its full content (ingest time included), so the same batch
    committed again (a retry after a failure between insert and acknowledgement) is skipped by ClickHouse, while a
    client's replay, or a corrected resend, is inserted and collapses by the ``ReplacingMergeTree`` key."""
    digest = hashlib.blake2b(digest_size=20)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    digest.update(sink.getvalue())
    return digest.hexdigest()


class BatchCommitter:
    """Commits batches to ``store``; one rollup pass at a time (passes of one process are serialised by a lock).

    ``guard``: a context manager factory entered, with the project ids of the pass, before that lock. Rollup
    versions are taken before the pass reads, so two concurrent passes over one session could let the older read
    win; across processes (queue workers, and the API's session deletions beside them) the guard serialises them.
    """

    def __init__(self, store: Store, guard: RecomputeGuard | None = None) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._version = 0
        self._guard = guard

    def _serialised(self, traces: list[Key]) -> AbstractContextManager[None]:
        if self._guard is None:
            return contextlib.nullcontext()
        return self._guard({project for project, _ in traces})

    def _next_version(self) -> int:
        # Rollup versions must grow even if the clock steps back; ns since the epoch otherwise.
        self._version = max(self._version + 1, time.time_ns())
        return self._version

    def commit(self, rows: SpanBatch, token: str | None = None) -> CommitResult:
        """Insert ``rows`` (span rows, or their Arrow table, of any projects) and recompute what they touch.
        Raises StoreError; on error the batch may be committed again safely."""
        return self.recompute_inserted(self.insert(rows, token))

    def insert(self, rows: SpanBatch, token: str | None = None) -> InsertedBatch:
        """First half of a commit: insert the spans (safe to run beside :meth:`recompute_inserted` of another
        batch). Raises StoreError."""
        if not len(rows):
            return InsertedBatch([], 0)
        table = as_table(rows)
        self.store.insert("spans", table, tag="writer.insert_spans", dedup_token=token or batch_token(table))
        traces = sorted(set(zip(table.column("project_id").to_pylist(), table.column("trace_id").to_pylist(),
                                strict=True)))
        return InsertedBatch(traces, table.num_rows)

    def recompute_inserted(self, inserted: InsertedBatch) -> CommitResult:
        """Second half of a commit: links and rollups of an inserted batch's traces (one at a time per process).
        Raises StoreError."""
        if not inserted.traces:
            return CommitResult(0, 0, 0, 0)
        with self._serialised(inserted.traces), self._lock:
            return self._recompute(inserted.traces, inserted.spans)

    def next_version(self) -> int:
        """A rollup version later than every rollup this committer wrote (for rows written beside it, such as a
        session created ahead of its traffic)."""
        with self._lock:
            return self._next_version()

    def recompute_traces(self, traces: list[Key]) -> CommitResult:
        """Recompute links and rollups of ``traces`` ((project_id, trace_id) pairs) from stored spans."""
        keys = sorted(set(traces))
        with self._serialised(keys), self._lock:
            return self._recompute(keys, 0)

    def recover(self, window_s: int = RECOVERY_WINDOW_S, chunk: int = 5000) -> int:
        """Recompute the rollups of the traces ingested in the last ``window_s`` before the latest span. A crash
        between a batch's spans insert and its rollup inserts (never acknowledged) leaves those rollups stale
        until the trace is written again; run this on start, before accepting writes. Returns the trace count."""
        rows = self.store.select(RECENT_TRACES, {"window": window_s}, tag="writer.recover")
        traces = [(r["project_id"], r["trace_id"]) for r in rows]
        for at in range(0, len(traces), chunk):
            self.recompute_traces(traces[at:at + chunk])
        if traces:
            log.info("recomputed the rollups of %d recently ingested trace(s)", len(traces))
        return len(traces)

    def _recompute(self, traces: list[Key], span_count: int) -> CommitResult:
        version = self._next_version()
        old = {(r["project_id"], r["trace_id"]): r["session_id"] for r in
               self.store.select(rollups.CURRENT_LINKS, {"keys": traces}, tag="writer.current_links")}
        fresh = self.store.select_arrow(rollups.TRACE_ROLLUP_SELECT, {"keys": traces}, tag="writer.trace_rollups",
                                       settings=rollups.SETTINGS)
        named = fresh.column("named_sessions").to_pylist()
        fresh = fresh.drop_columns(["named_sessions"])
        projects = fresh.column("project_id").to_pylist()
        trace_ids = fresh.column("trace_id").to_pylist()
        sessions = fresh.column("session_id").to_pylist()
        keys = list(zip(projects, trace_ids, strict=True))
        new = dict(zip(keys, sessions, strict=True))

        changed = [(p, t, s) for (p, t), s in new.items() if old.get((p, t)) != s]
        moved = [(p, t, old[(p, t)]) for (p, t), s in new.items() if (p, t) in old and old[(p, t)] != s]
        # Where a trace may still have a rollup row besides its new session: the session its link records, and,
        # since a commit cut short leaves rows that no link records (links are written last), every session its
        # spans name, and the no-session group unless a completed commit already put it in a session.
        # Keyed by (project, trace): one trace id may be in several projects of a batch.
        left: list[tuple[int, str]] = []  # (row of fresh, session it leaves)
        for index, (key, session, names) in enumerate(zip(keys, sessions, named, strict=True)):
            prior = old.get(key)
            candidates = set(names) | ({prior} if prior is not None else set()) | ({""} if not prior else set())
            left += [(index, other) for other in sorted(candidates - {session})]
        count = fresh.num_rows
        versions = pa.array([version] * count, pa.uint64())
        live = fresh.append_column("version", versions).append_column("is_deleted", pa.array([0] * count, pa.uint8()))
        if left:
            # A tombstone replaces the trace's row under each session (or the no-session group) it left.
            stale = live.take(pa.array([index for index, _ in left], pa.int64()))
            stale = stale.set_column(stale.schema.get_field_index("session_id"), "session_id",
                                     pa.array([other for _, other in left], pa.string()))
            stale = stale.set_column(stale.schema.get_field_index("is_deleted"), "is_deleted",
                                     pa.array([1] * stale.num_rows, pa.uint8()))
            live = pa.concat_tables([stale, live], promote_options="permissive")
        self.store.insert("trace_rollups", live, tag="writer.insert_trace_rollups")

        emptied = {(keys[index][0], other) for index, other in left if other}
        touched = sorted({(p, s) for (p, _), s in new.items() if s} | emptied)
        if touched:
            self.store.command(rollups.SESSION_ROLLUP_INSERT, {"keys": touched, "version": version},
                               tag="writer.session_rollups", settings=rollups.SETTINGS)
        if emptied:
            alive = {(r["project_id"], r["session_id"]) for r in
                     self.store.select(rollups.LIVE_SESSIONS, {"keys": sorted(emptied)}, tag="writer.live_sessions")}
            gone = sorted(emptied - alive)
            if gone:
                self.store.insert("session_rollups", pa.table({
                    "project_id": [p for p, _ in gone], "session_id": [s for _, s in gone],
                    "version": pa.array([version] * len(gone), pa.uint64()),
                    "is_deleted": pa.array([1] * len(gone), pa.uint8()),
                }), tag="writer.session_tombstones")
        if changed:
            # Links last: they are how the next commit finds the session a trace leaves. Written before the session
            # rollups, a commit cut short in between would leave the old session counting the trace for good (its
            # replay would see no move); written last, a replay redoes the move.
            links = pa.table({
                "project_id": [p for p, _, _ in changed], "trace_id": [t for _, t, _ in changed],
                "session_id": [s for _, _, s in changed], "version": pa.array([version] * len(changed), pa.uint64()),
            })
            self.store.insert("trace_sessions", links, tag="writer.insert_links")
        return CommitResult(span_count, count, len(touched), len(moved))
