"""``GET /v1/sessions/metrics``: the project's session metrics over a time window, for dashboard charts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends

from threadline.api import present
from threadline.api.auth import read_project
from threadline.api.list_params import FILTERS_HELP, only_params, session_filters
from threadline.api.list_schemas import LIST_ERRORS, DayMetrics, Distribution, ProjectMetrics
from threadline.api.problems import Problem
from threadline.api.state import AppState, app_state
from threadline.queries import end_state
from threadline.queries import project_metrics as metrics
from threadline.queries.filters import SessionFilters
from threadline.store.gateway import Row

router = APIRouter(tags=["sessions"])
DEFAULT_WINDOW_NS = 30 * 86400 * 10**9
DESCRIPTION = (
    "Metrics of the project's sessions whose activity overlaps the window `start_time`..`end_time` (default: the "
    "last 30 days; one bound given, the other is 30 days away from it, capped at now; at most "
    f"{metrics.MAX_DAYS} days): how many, the error rate (sessions with an error span / sessions), tokens, turns "
    "per session and cost per session (total, mean, exact p50/p95), and per UTC day: sessions started, sessions "
    "active, and the turns, cost and sessions with errors of the sessions started that day (every day listed, "
    "zero-filled).\n\nAny list filter narrows the sessions counted. " + FILTERS_HELP)


def window(filters: SessionFilters, now_ns: int) -> SessionFilters:
    """``filters`` with both window bounds set (defaults in ``DESCRIPTION``). Raises Problem 400."""
    start, end = filters.start_ns, filters.end_ns
    if end is None:
        end = now_ns if start is None else max(min(start + DEFAULT_WINDOW_NS, now_ns), start)
    if start is None:
        start = max(end - DEFAULT_WINDOW_NS, 0)
    if metrics.day_count(start, end) > metrics.MAX_DAYS:
        raise Problem(400, f"the window spans more than {metrics.MAX_DAYS} days: narrow start_time..end_time")
    return replace(filters, start_ns=start, end_ns=end)


def _distribution(row: Row, prefix: str) -> Distribution:
    return Distribution(total=row[f"{prefix}_total"], avg=row[f"{prefix}_avg"], p50=row[f"{prefix}_p50"],
                        p95=row[f"{prefix}_p95"])


@router.get("/v1/sessions/metrics", response_model=ProjectMetrics, summary="Session metrics of the project",
            responses=LIST_ERRORS, description=DESCRIPTION, dependencies=[Depends(only_params())])
async def project_session_metrics(state: Annotated[AppState, Depends(app_state)],
                                  project: Annotated[str, Depends(read_project)],
                                  filters: Annotated[SessionFilters, Depends(session_filters)]) -> ProjectMetrics:
    """Session metrics over a window (see ``DESCRIPTION``)."""
    now_ns = time.time_ns()
    bounded = window(filters, now_ns)
    found = await asyncio.to_thread(metrics.project_metrics, state.store, project, bounded, now_ns=now_ns,
                                    idle_timeout_ns=end_state.idle_ns(state.settings.session_idle_timeout_s))
    summary = found.summary
    sessions, with_errors = int(summary["sessions"]), int(summary["sessions_with_errors"])
    assert bounded.start_ns is not None and bounded.end_ns is not None
    return ProjectMetrics(
        start_time=present.iso(bounded.start_ns), end_time=present.iso(bounded.end_ns), sessions=sessions,
        sessions_with_errors=with_errors, error_rate=with_errors / sessions if sessions else None,
        total_tokens=int(summary["tokens_total"]), turns_per_session=_distribution(summary, "turns"),
        cost_per_session_usd=_distribution(summary, "cost"),
        days=[DayMetrics(**day) for day in found.days])
