"""Retention: a project keeps its data for ``retention_days`` (0: forever); older data is deleted by a pass.

What a pass removes for a project with a window of N days (cutoff = now - N days):

* **whole traces** whose last span ended before the cutoff (never half a trace: a turn that started before the cutoff
  and ended after it stays whole): their spans, links, states and scores. Before their rows go, the committer takes
  them out of every rollup (:meth:`BatchCommitter.remove_traces`), so a session that loses some of its traces is
  re-aggregated from those that remain, and one that loses all of them disappears with its scores and annotation;
* **log records** timestamped before the cutoff, and finished background **jobs** created before it.

Why a pass and not ClickHouse TTL or partition drops: a TTL deletes rows during background merges, at a moment the
writer never learns of, so session rollups would keep counting deleted spans; and ``spans`` is partitioned by month
across every project (a replayed span must land in the partition of its first copy), so a partition holds several
projects with different windows. The pass deletes by trace key (lightweight ``DELETE``, which the sort key
``(project_id, trace_id, span_id)`` narrows to the granules holding those traces), in chunks, each chunk as one
rollup pass (``docs/operating.md`` has the measured cost).

A pass is idempotent: the traces' ``trace_state`` rows are deleted last, and the next pass finds again whatever a
crash left, so it finishes the work exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from threadline.auth.repository import Project
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter, Key

log = logging.getLogger("threadline.retention")
# Traces per rollup pass. Each pass runs one lightweight DELETE per table, which costs about the same whatever it
# removes (it rewrites the row mask of every part holding a matching row), so large chunks are cheaper in total; but
# the trace keys travel as array parameters, and past ~1 MB of parameter a query's cost leaps (1M spans, 2-core box:
# a DELETE by 5k ids 1.0 s, 20k ids 2.2 s, 60k ids 114 s; the state lookup by 12k keys 0.4 s, by 20k keys 26 s).
# Ingest waits while a chunk is removed, which also bounds it.
CHUNK = 10_000

# Deleted for a chunk of expired traces, in this order: ``trace_state`` last (it is how the next pass finds the
# traces a crash left behind).
_TRACE_TABLES = ("spans", "trace_sessions", "deleted_session_traces", "trace_state")


# The tables that hold most of the deleted bytes (logs are partitioned by month and small beside spans).
RECLAIMED_TABLES = ("spans", "trace_state", "trace_sessions")


@dataclass(frozen=True)
class ProjectRetention:
    """One project's pass: ``cutoff`` (UTC), traces and sessions removed (``sessions_emptied`` disappeared,
    ``sessions_recomputed`` lost some traces and were re-aggregated), and the pass's duration (s)."""

    project_id: str
    retention_days: int
    cutoff: datetime
    traces_removed: int
    sessions_recomputed: int
    sessions_emptied: int
    duration_s: float


def cutoff_for(retention_days: int, now: datetime | None = None) -> datetime:
    """The instant before which data of a project with this window is deleted. Raises ValueError for a window
    below 1 day (0 means keep forever, which has no cutoff)."""
    if retention_days < 1:
        raise ValueError(f"a retention window is at least 1 day, not {retention_days}")
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def expired_traces(store: Store, project_id: str, cutoff: datetime) -> list[Key]:
    """(project_id, trace_id) of the project's traces whose last span ended before ``cutoff``, from the narrow
    per-trace state (one row per trace, keyed by project). Raises StoreError."""
    rows = store.select(
        "SELECT trace_id FROM {db}.trace_state FINAL WHERE project_id = {project_id:String} "
        "AND end_time < {cutoff:DateTime64(9, 'UTC')} ORDER BY trace_id",
        {"project_id": project_id, "cutoff": cutoff}, tag="retention.expired_traces")
    return [(project_id, str(r["trace_id"])) for r in rows]


def _delete_trace_rows(store: Store, project_id: str, keys: Sequence[Key], cutoff: datetime) -> None:
    trace_ids = [trace for _, trace in keys]
    params = {"project_id": project_id, "traces": trace_ids, "cutoff": cutoff}
    store.command("DELETE FROM {db}.scores WHERE project_id = {project_id:String} AND target = 'trace' "
                  "AND target_id IN {traces:Array(String)}", params, tag="retention.delete_scores")
    for table in _TRACE_TABLES:
        # Every span of an expired trace started before the cutoff: the bound spares the mutation every monthly
        # partition of spans newer than the cutoff.
        bound = " AND start_time < {cutoff:DateTime64(9, 'UTC')}" if table == "spans" else ""
        store.command(f"DELETE FROM {{db}}.{table} WHERE project_id = {{project_id:String}} "
                      f"AND trace_id IN {{traces:Array(String)}}{bound}", params, tag=f"retention.delete_{table}")


def _delete_sessions(store: Store, project_id: str, sessions: Sequence[str]) -> None:
    """Scores and annotations of sessions left with no trace (their rollups are tombstoned already)."""
    params = {"project_id": project_id, "sessions": list(sessions)}
    store.command("DELETE FROM {db}.scores WHERE project_id = {project_id:String} AND target = 'session' "
                  "AND target_id IN {sessions:Array(String)}", params, tag="retention.delete_session_scores")
    store.command("DELETE FROM {db}.session_annotations WHERE project_id = {project_id:String} "
                  "AND session_id IN {sessions:Array(String)}", params, tag="retention.delete_annotations")


def expire_project(store: Store, committer: BatchCommitter, project_id: str, retention_days: int,
                   now: datetime | None = None, chunk: int = CHUNK) -> ProjectRetention:
    """Delete what is older than ``retention_days`` in ``project_id`` (see the module docstring), ``chunk`` traces
    per rollup pass. Raises ValueError for a window below 1 day, StoreError when the store fails (a later pass
    finishes the work)."""
    started = time.monotonic()
    cutoff = cutoff_for(retention_days, now)
    traces = expired_traces(store, project_id, cutoff)
    recomputed: set[Key] = set()
    emptied: set[Key] = set()
    for at in range(0, len(traces), chunk):
        removed = committer.remove_traces(traces[at:at + chunk],
                                          lambda keys: _delete_trace_rows(store, project_id, keys, cutoff))
        recomputed.update(removed.sessions)
        emptied.update(removed.emptied)
        if removed.emptied:
            _delete_sessions(store, project_id, [session for _, session in removed.emptied])
    params = {"project_id": project_id, "cutoff": cutoff}
    store.command("DELETE FROM {db}.logs WHERE project_id = {project_id:String} "
                  "AND timestamp < {cutoff:DateTime64(9, 'UTC')}", params, tag="retention.delete_logs")
    store.command("DELETE FROM {db}.jobs WHERE project_id = {project_id:String} AND status IN ('done', 'failed') "
                  "AND created_at < {cutoff:DateTime64(3, 'UTC')}", params, tag="retention.delete_jobs")
    result = ProjectRetention(project_id, retention_days, cutoff, len(traces), len(recomputed - emptied),
                              len(emptied), time.monotonic() - started)
    if traces:
        log.info("retention of project %r (%d days): removed %d trace(s) older than %s; %d session(s) recomputed, "
                 "%d emptied, in %.1f s", project_id, retention_days, len(traces), cutoff.isoformat(),
                 result.sessions_recomputed, result.sessions_emptied, result.duration_s)
    return result


def reclaim(store: Store) -> None:
    """Give back the disk of deleted rows now: a lightweight DELETE only masks rows, which stay on disk until their
    parts merge; ``APPLY DELETED MASK`` rewrites just the parts holding masked rows (1M spans, half deleted, 2-core
    box: 2.7 s, 247 → 121 MB of spans). Raises StoreError."""
    for table in RECLAIMED_TABLES:
        store.command(f"ALTER TABLE {{db}}.{table} APPLY DELETED MASK", tag=f"retention.reclaim_{table}")


def windows_of(projects: Iterable[Project], only: str | None = None) -> dict[str, int]:
    """Project id → retention days of ``projects`` (all, or ``only`` that one), as :func:`run_retention` takes
    them."""
    return {p.project_id: p.retention_days for p in projects if only is None or p.project_id == only}


def run_retention(store: Store, committer: BatchCommitter, windows: dict[str, int],
                  now: datetime | None = None) -> list[ProjectRetention]:
    """One pass over every project of ``windows`` (project id → retention days; 0 = forever, skipped), then the
    disk of what it deleted is reclaimed. Raises StoreError."""
    results = [expire_project(store, committer, project_id, days, now)
               for project_id, days in sorted(windows.items()) if days > 0]
    if any(r.traces_removed for r in results):
        reclaim(store)
    return results
