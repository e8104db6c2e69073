"""Background jobs a client polls (``GET /v1/jobs/{job_id}``): kind, status, progress."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from threadline.store.gateway import Store

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class Job:
    """A job of one project; ``done``/``total`` count its units of work (traces, for a session deletion)."""

    project_id: str
    job_id: str
    kind: str
    target_id: str
    status: str
    total: int
    done: int
    error: str
    created_at_ms: int
    updated_at_us: int


def new_job(project_id: str, kind: str, target_id: str) -> Job:
    """A pending job (not yet stored)."""
    now_us = time.time_ns() // 1000
    return Job(project_id, uuid.uuid4().hex, kind, target_id, PENDING, 0, 0, "", now_us // 1000, now_us)


def save_job(store: Store, job: Job, **changes: Any) -> Job:
    """Store the job with ``changes`` applied and a fresh ``updated_at``; returns the stored job."""
    updated = replace(job, **changes, updated_at_us=max(time.time_ns() // 1000, job.updated_at_us + 1))
    store.insert("jobs", pa.table({
        "project_id": [updated.project_id], "job_id": [updated.job_id], "kind": [updated.kind],
        "target_id": [updated.target_id], "status": [updated.status],
        "total": pa.array([updated.total], pa.uint64()), "done": pa.array([updated.done], pa.uint64()),
        "error": [updated.error], "created_at": pa.array([updated.created_at_ms], pa.timestamp("ms", tz="UTC")),
        "updated_at": pa.array([updated.updated_at_us], pa.timestamp("us", tz="UTC")),
    }), tag="jobs.save")
    return updated


_COLUMNS = ("project_id, job_id, kind, target_id, status, total, done, error, "
            "toUnixTimestamp64Milli(created_at) AS created_ms, toUnixTimestamp64Micro(updated_at) AS updated_us")


def _job(row: dict[str, Any]) -> Job:
    return Job(row["project_id"], row["job_id"], row["kind"], row["target_id"], row["status"], int(row["total"]),
               int(row["done"]), row["error"], int(row["created_ms"]), int(row["updated_us"]))


def get_job(store: Store, project_id: str, job_id: str) -> Job | None:
    """A job of the project, or None."""
    rows = store.select(f"SELECT {_COLUMNS} FROM {{db}}.jobs FINAL WHERE project_id = {{project_id:String}} "
                        "AND job_id = {job_id:String}", {"project_id": project_id, "job_id": job_id}, tag="jobs.get")
    return _job(rows[0]) if rows else None


def unfinished_jobs(store: Store, kind: str) -> list[Job]:
    """Jobs of every project still pending or running (to resume after a restart)."""
    rows = store.select(f"SELECT {_COLUMNS} FROM {{db}}.jobs FINAL WHERE kind = {{kind:String}} "
                        "AND status IN ('pending', 'running') ORDER BY created_at", {"kind": kind},
                        tag="jobs.unfinished")
    return [_job(r) for r in rows]
