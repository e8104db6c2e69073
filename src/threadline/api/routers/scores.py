"""Scores and notes on sessions and traces."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from threadline.api import present
from threadline.api.auth import ReadProject, WriteProject
from threadline.api.problems import Problem
from threadline.api.read_schemas import UNPARSABLE_BODY, problem_responses
from threadline.api.state import AppState, app_state
from threadline.api.write_schemas import ScoreIn, ScoreOut
from threadline.queries import sessions as q
from threadline.queries.scores import Score, add_score, list_scores

router = APIRouter(tags=["scores"])
State = Annotated[AppState, Depends(app_state)]
ERRORS = problem_responses(401, 429, 503, described={404: "no such session or trace", 422: "invalid parameter"})
WRITE_ERRORS = {**ERRORS, **problem_responses(403, described={400: UNPARSABLE_BODY,
                                                              422: "invalid body or parameter"})}


def score_out(score: Score) -> ScoreOut:
    """A score as the API model."""
    return ScoreOut(score_id=score.score_id, target=score.target, target_id=score.target_id,  # type: ignore[arg-type]
                    name=score.name, data_type=score.data_type, value=score.value,  # type: ignore[arg-type]
                    comment=score.comment or None, source=score.source,
                    created_at=present.iso(score.created_at_ms * 1_000_000))


async def _require_session(state: AppState, project: str, session_id: str) -> None:
    if await asyncio.to_thread(q.get_session, state.store, project, session_id) is None:
        raise Problem(404, f"there is no session {session_id!r} in this project")


async def _require_trace(state: AppState, project: str, trace_id: str) -> None:
    if await asyncio.to_thread(q.get_trace, state.store, project, trace_id) is None:
        raise Problem(404, f"there is no trace {trace_id!r} in this project")


@router.post("/v1/sessions/{session_id:text}/scores", response_model=ScoreOut, status_code=201,
             summary="Score a session", responses=WRITE_ERRORS)
async def score_session(session_id: str, body: ScoreIn, state: State, project: WriteProject) -> ScoreOut:
    """Record a score (numeric, boolean or categorical) with an optional comment. 404 when unknown."""
    await _require_session(state, project, session_id)
    score = await asyncio.to_thread(add_score, state.store, project, "session", session_id, name=body.name,
                                    value=body.value, comment=body.comment or "", source=body.source)
    return score_out(score)


@router.get("/v1/sessions/{session_id:text}/scores", response_model=list[ScoreOut], summary="A session's scores",
            responses=ERRORS)
async def session_scores(session_id: str, state: State, project: ReadProject) -> list[ScoreOut]:
    """The session's scores, oldest first. 404 when unknown."""
    await _require_session(state, project, session_id)
    return [score_out(s) for s in await asyncio.to_thread(list_scores, state.store, project, "session", session_id)]


@router.post("/v1/traces/{trace_id}/scores", response_model=ScoreOut, status_code=201, summary="Score a trace",
             responses=WRITE_ERRORS)
async def score_trace(trace_id: str, body: ScoreIn, state: State, project: WriteProject) -> ScoreOut:
    """Record a score of one trace (a turn). 404 when unknown."""
    trace_id = trace_id.lower()
    await _require_trace(state, project, trace_id)
    score = await asyncio.to_thread(add_score, state.store, project, "trace", trace_id, name=body.name,
                                    value=body.value, comment=body.comment or "", source=body.source)
    return score_out(score)


@router.get("/v1/traces/{trace_id}/scores", response_model=list[ScoreOut], summary="A trace's scores",
            responses=ERRORS)
async def trace_scores(trace_id: str, state: State, project: ReadProject) -> list[ScoreOut]:
    """The trace's scores, oldest first. 404 when unknown."""
    trace_id = trace_id.lower()
    await _require_trace(state, project, trace_id)
    return [score_out(s) for s in await asyncio.to_thread(list_scores, state.store, project, "trace", trace_id)]
