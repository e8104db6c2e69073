"""Deleting a session: it disappears at once; its traces are unlinked in the background, in chunks.

Steps (each idempotent, so a job cut short by a crash is simply run again on start):
1. the annotation is marked deleted (reads stop showing the session) and the session's scores are deleted;
2. every trace of the session is recorded in ``deleted_session_traces`` and its links and rollups recomputed, so it
   leaves the session (its spans still name the session, but the rollup SQL ignores that name for these traces) and
   stays queryable under ``/v1/traces``; emptied, the session's rollup is tombstoned by the committer;
3. the annotation is reset (not deleted, no fields): a later trace with the same external id starts a fresh session
   holding only the new traces.

The tombstone of a session that never had a trace replaces its placeholder rollup (written with a version of the
committer), and any later rollup of the session must replace the tombstone: so it takes the committer's version
(:meth:`BatchCommitter.next_version`), not the clock. ``deleted_at`` and the annotation are not rollup versions:
``deleted_session_traces`` rows of one key are identical but for ``deleted_at`` (either copy does), and annotations
are written by the API alone.
"""

from __future__ import annotations

import logging
import time

import pyarrow as pa

from threadline.queries.annotations import Annotation, get_annotation, put_annotation
from threadline.queries.jobs import DONE, FAILED, RUNNING, Job, new_job, save_job
from threadline.queries.scores import delete_scores
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

log = logging.getLogger("threadline.writer")
KIND = "delete_session"
CHUNK = 2000


def start_deletion(store: Store, project_id: str, session_id: str) -> Job:
    """Step 1, synchronously: hide the session and record the job. Returns the pending job."""
    previous = get_annotation(store, project_id, session_id) or Annotation()
    previous.deleted = True
    put_annotation(store, project_id, session_id, previous)
    delete_scores(store, project_id, "session", session_id)
    return save_job(store, new_job(project_id, KIND, session_id))


def run_deletion(store: Store, committer: BatchCommitter, job: Job) -> Job:
    """Steps 2 and 3. Returns the finished job (status done or failed; never raises for store errors)."""
    project_id, session_id = job.project_id, job.target_id
    try:
        rows = store.select(
            "SELECT trace_id FROM {db}.trace_rollups FINAL WHERE project_id = {project_id:String} "
            "AND session_id = {session_id:String} ORDER BY trace_id",
            {"project_id": project_id, "session_id": session_id}, tag="deletion.traces")
        traces = [r["trace_id"] for r in rows]
        job = save_job(store, job, status=RUNNING, total=len(traces), done=0)
        for at in range(0, len(traces), CHUNK):
            chunk = traces[at:at + CHUNK]
            store.insert("deleted_session_traces", pa.table({
                "project_id": [project_id] * len(chunk), "trace_id": chunk, "session_id": [session_id] * len(chunk),
                "deleted_at": pa.array([time.time_ns() // 1_000_000] * len(chunk), pa.timestamp("ms", tz="UTC")),
            }), tag="deletion.record")
            committer.recompute_traces([(project_id, t) for t in chunk])
            job = save_job(store, job, done=at + len(chunk))
        if not traces:
            # Created ahead of traffic and never used: only its placeholder rollup is left.
            store.insert("session_rollups", pa.table({
                "project_id": [project_id], "session_id": [session_id],
                "version": pa.array([committer.next_version()], pa.uint64()),
                "is_deleted": pa.array([1], pa.uint8()),
            }), tag="deletion.tombstone")
        put_annotation(store, project_id, session_id, Annotation())
        return save_job(store, job, status=DONE)
    except Exception as exc:
        log.exception("deleting session %r of project %r failed", session_id, project_id)
        return save_job(store, job, status=FAILED, error=str(exc))
