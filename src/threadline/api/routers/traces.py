"""Traces endpoints: one trace with its spans."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from threadline.api import present
from threadline.api.auth import read_project
from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.schemas import TraceDetail
from threadline.api.state import AppState, app_state
from threadline.queries import sessions as q

router = APIRouter(tags=["traces"])


@router.get("/v1/traces/{trace_id}", response_model=TraceDetail, summary="Get a trace with its spans",
            responses=problem_responses(401, 422, 429, 503, described={404: "there is no such trace in the project "
                                                                          "of the API key"}))
async def get_trace(trace_id: str, state: Annotated[AppState, Depends(app_state)],
                    project: Annotated[str, Depends(read_project)]) -> TraceDetail:
    """The trace's rollup and all its spans in start order (``parent_span_id`` builds the tree). 404 when
    unknown in the project."""
    found = await asyncio.to_thread(q.get_trace, state.store, project, trace_id.lower())
    if found is None:
        raise Problem(404, f"there is no trace {trace_id!r} in this project")
    rollup, spans = found
    return TraceDetail(**present.trace(rollup).model_dump(), spans=[present.span(s) for s in spans])
