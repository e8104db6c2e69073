"""``/metrics``: Prometheus exposition of the app's metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from threadline.api.state import AppState, app_state

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Counters and histograms in the Prometheus text format (auth failures, spans ingested/rejected, commits)."""
    state.metrics.pending_spans.set(state.writer.pending_spans)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
