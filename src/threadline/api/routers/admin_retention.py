"""Admin API: run the retention pass now (``POST /v1/admin/retention``), as ``threadline retention run`` does
through a server that owns the embedded data directory."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.retention_task import retention_pass
from threadline.api.routers.admin import ERRORS, Admin
from threadline.writer.retention import ProjectRetention

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/retention", response_model=list[ProjectRetention], summary="Run the retention pass now",
             responses={**ERRORS, **problem_responses(422, described={404: "no such project"})})
async def run_retention_now(state: Admin, project_id: Annotated[str | None, Query(
        description="only this project (default: every project with a retention window)")] = None,
                            ) -> list[ProjectRetention]:
    """Delete what is older than each project's retention window (projects kept forever are skipped) and return
    what each project's pass did. The server also runs it every THREADLINE_RETENTION_INTERVAL_S."""
    if project_id is not None and await asyncio.to_thread(state.projects.get_project, project_id) is None:
        raise Problem(404, f"there is no project {project_id!r}")
    return await asyncio.to_thread(retention_pass, state, project_id)
