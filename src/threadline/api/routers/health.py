"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.state import AppState, app_state

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """200 while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness",
            responses=problem_responses(described={503: "the store is not answering (see Retry-After)"}))
async def readyz(state: Annotated[AppState, Depends(app_state)]) -> dict[str, str | int]:
    """200 when the store answers a query; 503 otherwise. Reports spans waiting for the writer."""
    try:
        await asyncio.to_thread(state.store.select, "SELECT 1 AS ok", tag="readyz")
    except Exception as exc:
        raise Problem(503, f"the store is not answering: {exc}", headers={"Retry-After": "1"}) from None
    return {"status": "ready", "pending_spans": state.writer.pending_spans}
