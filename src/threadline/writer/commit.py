"""Commit one batch of span rows: insert the spans, resolve trace→session links, recompute rollups.

This is the only code path that writes spans and rollups; the embedded group-commit writer and the scaled worker
both call :meth:`BatchCommitter.commit`. It is idempotent: committing the same rows again inserts nothing new (the
deduplication token, and ``ReplacingMergeTree`` keys) and recomputes the same rollups.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from threadline import rollups
from threadline.ingest.spans import SpanRow, rows_to_arrow
from threadline.store.gateway import Store

log = logging.getLogger("threadline.writer")
Key = tuple[str, str]


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: spans inserted, traces and sessions whose rollups were recomputed, traces that changed
    session."""

    spans: int
    traces: int
    sessions: int
    moved_traces: int


def batch_token(rows: list[SpanRow]) -> str:
    """Deduplication token of a batch: a hash of its span identities and times, so the same batch re-committed
    (a retry after a crash between insert and acknowledgement) is skipped by ClickHouse."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row['project_id']}\x00{row['trace_id']}\x00{row['span_id']}\x00{row['start_time']}"
                      f"\x00{row['end_time']}\x01".encode())
    return digest.hexdigest()


class BatchCommitter:
    """Commits batches to ``store``; one commit at a time (commits of one process are serialised by a lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._version = 0

    def _next_version(self) -> int:
        # Rollup versions must grow even if the clock steps back; ns since the epoch otherwise.
        self._version = max(self._version + 1, time.time_ns())
        return self._version

    def commit(self, rows: list[SpanRow], token: str | None = None) -> CommitResult:
        """Insert ``rows`` (span rows of any projects) and recompute what they touch. Raises StoreError; on error
        the batch may be committed again safely."""
        if not rows:
            return CommitResult(0, 0, 0, 0)
        with self._lock:
            self.store.insert("spans", rows_to_arrow(rows), tag="writer.insert_spans",
                              dedup_token=token or batch_token(rows))
            traces = sorted({(r["project_id"], r["trace_id"]) for r in rows})
            return self._recompute(traces, len(rows))

    def recompute_traces(self, traces: list[Key]) -> CommitResult:
        """Recompute links and rollups of ``traces`` ((project_id, trace_id) pairs) from stored spans."""
        with self._lock:
            return self._recompute(sorted(set(traces)), 0)

    def _recompute(self, traces: list[Key], span_count: int) -> CommitResult:
        version = self._next_version()
        old = {(r["project_id"], r["trace_id"]): r["session_id"] for r in
               self.store.select(rollups.CURRENT_LINKS, {"keys": traces}, tag="writer.current_links")}
        fresh = self.store.select_arrow(rollups.TRACE_ROLLUP_SELECT, {"keys": traces}, tag="writer.trace_rollups",
                                       settings=rollups.SETTINGS)
        projects = fresh.column("project_id").to_pylist()
        trace_ids = fresh.column("trace_id").to_pylist()
        sessions = fresh.column("session_id").to_pylist()
        new = {(p, t): s for p, t, s in zip(projects, trace_ids, sessions, strict=True)}

        changed = [(p, t, s) for (p, t), s in new.items() if old.get((p, t)) != s]
        moved = [(p, t, old[(p, t)]) for (p, t), s in new.items() if (p, t) in old and old[(p, t)] != s]
        count = fresh.num_rows
        versions = pa.array([version] * count, pa.uint64())
        live = fresh.append_column("version", versions).append_column("is_deleted", pa.array([0] * count, pa.uint8()))
        if moved:
            # The trace left its old session (or the no-session group): a tombstone replaces its old rollup row.
            moved_ids = pa.array([t for _, t, _ in moved])
            previous = {t: s for _, t, s in moved}
            stale = live.filter(pc.is_in(live.column("trace_id"), value_set=moved_ids))
            stale = stale.set_column(stale.schema.get_field_index("session_id"), "session_id",
                                     pa.array([previous[t] for t in stale.column("trace_id").to_pylist()]))
            stale = stale.set_column(stale.schema.get_field_index("is_deleted"), "is_deleted",
                                     pa.array([1] * stale.num_rows, pa.uint8()))
            live = pa.concat_tables([stale, live], promote_options="permissive")
        self.store.insert("trace_rollups", live, tag="writer.insert_trace_rollups")
        if changed:
            links = pa.table({
                "project_id": [p for p, _, _ in changed], "trace_id": [t for _, t, _ in changed],
                "session_id": [s for _, _, s in changed], "version": pa.array([version] * len(changed), pa.uint64()),
            })
            self.store.insert("trace_sessions", links, tag="writer.insert_links")

        touched = sorted({(p, s) for (p, _), s in new.items() if s} | {(p, s) for p, _, s in moved if s})
        if touched:
            self.store.command(rollups.SESSION_ROLLUP_INSERT, {"keys": touched, "version": version},
                               tag="writer.session_rollups", settings=rollups.SETTINGS)
        emptied = {(p, s) for p, _, s in moved if s}
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
        return CommitResult(span_count, count, len(touched), len(moved))
