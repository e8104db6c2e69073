"""Admin API: run the retention pass now (``POST /v1/admin/retention``), as ``threadline retention run`` does
through a server that owns the embedded data directory."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.retention_task import retention_pass
from threadline.api.routers.admin import ERRORS, Admin

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class RetentionOut(BaseModel):
    """One project's retention pass: its window (days), the cutoff (data before it was deleted), whole traces
    removed, sessions re-aggregated from the traces that remain, sessions emptied (gone), and the time taken (s)."""

    project_id: str
    retention_days: int
    cutoff: datetime
    traces_removed: int
    sessions_recomputed: int
    sessions_emptied: int
    duration_s: float


@router.post("/retention", response_model=list[RetentionOut], summary="Run the retention pass now",
             responses={**ERRORS, **problem_responses(422, described={404: "no such project"})})
async def run_retention_now(state: Admin, project_id: Annotated[str | None, Query(
        description="only this project (default: every project with a retention window)")] = None,
                            ) -> list[RetentionOut]:
    """Delete what is older than each project's retention window (projects kept forever are skipped) and return
    what each project's pass did. The server also runs it every THREADLINE_RETENTION_INTERVAL_S."""
    if project_id is not None and await asyncio.to_thread(state.projects.get_project, project_id) is None:
        raise Problem(404, f"there is no project {project_id!r}")
    results = await asyncio.to_thread(retention_pass, state, project_id)
    return [RetentionOut(**vars(r)) for r in results]
