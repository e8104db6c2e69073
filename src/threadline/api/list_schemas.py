"""Response models of the sessions list family (search hits, project metrics) and its OpenAPI error listing.
Durations in ms, costs in USD, times ISO 8601 UTC."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.api.read_schemas import ProblemDetail
from threadline.api.schemas import Links, Pagination, Session


def _problem(description: str) -> dict[str, Any]:
    return {"model": ProblemDetail, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}


LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("unknown query parameter (named in detail), unparsable time, start_time after end_time, a min_ "
                  "above its max_, offset and cursor together, or a cursor that is malformed, altered or was issued "
                  "for other filters or another sort"),
    401: _problem("missing or invalid API key"),
    403: _problem("project_id names a project these credentials may not read"),
    422: _problem("a parameter has the wrong type or is out of range (e.g. limit=0, min_trace_count=-1)"),
    429: _problem("too many failed authentications from this address (see Retry-After)"),
    503: _problem("the store is unavailable; retry after Retry-After seconds"),
}


SESSION_EXAMPLE: dict[str, Any] = {
    "session_id": "chat-A", "project_id": "default", "name": "Refund for order A-1001", "user_id": "u-1",
    "trace_count": 2, "span_count": 6, "llm_call_count": 3, "tool_call_count": 1, "error_count": 1,
    "input_tokens": 3500, "output_tokens": 700, "total_tokens": 4200, "total_cost_usd": 0.00729,
    "total_duration_ms": 5000.0, "wall_duration_ms": 303000.0, "avg_latency_ms": 2500.0, "p50_latency_ms": 3000.0,
    "p95_latency_ms": 3000.0, "models": ["gpt-4o", "gpt-4o-mini"], "first_seen": "2025-03-01T10:00:00.000000Z",
    "last_seen": "2025-03-01T10:05:03.000000Z", "first_input": "hello", "last_output": "bye",
    "end_state": "indeterminate", "previous_session_id": None, "metadata": {"plan": "pro"}, "tags": ["vip"],
    "bookmarked": False, "quality_score": 0.8, "created_at": "2025-03-01T10:00:00.000000Z",
    "updated_at": "2025-03-01T10:05:03.000000Z",
    "links": {"self": "/v1/sessions/chat-A", "traces": "/v1/sessions/chat-A/traces"},
}
SESSION_PAGE_EXAMPLE: dict[str, Any] = {
    "data": [SESSION_EXAMPLE],
    "pagination": {"limit": 1, "offset": 0, "total": 12, "has_more": True,
                   "next_cursor": "q1wCkH1c3VmX2I8t0uN2YXsicSI6IjU4..."},
    "links": {"self": "/v1/sessions?user_id=u-1&sort=-total_cost_usd&limit=1&offset=0",
              "next": "/v1/sessions?user_id=u-1&sort=-total_cost_usd&limit=1&offset=1", "prev": None},
}


class SearchMatch(BaseModel):
    """Where a session matched the search: one of its turns (its input or output), its id, or its name."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "field": "input", "trace_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "turn": 2,
        "start_time": "2025-03-01T10:05:00.000000Z",
        "snippet": "…I was charged twice for my <mark>refund</mark> request of last week…"}]})

    field: Literal["input", "output", "session_id", "name"] = Field(description="what matched")
    trace_id: str | None = Field(default=None, description="the matching turn's trace (null for session_id/name)")
    turn: int | None = Field(default=None, description="the turn's number in the session, from 1 by start time")
    start_time: str | None = Field(default=None, description="the turn's start (ISO 8601 UTC)")
    snippet: str = Field(description="up to ~160 characters around the first match, HTML-escaped, the match "
                                     "wrapped in <mark>…</mark>; … marks cut text")


class SearchHit(Session):
    """A session that matches the search, with its stats and where it matched."""

    matched_turns: int = Field(description="how many of its turns match (0 when only its id or name does)")
    matches: list[SearchMatch] = Field(description="the first matching turns in turn order (at most 3), or its "
                                                   "id/name")


class SearchPage(BaseModel):
    """A page of search hits; pagination and links as the sessions list."""

    data: list[SearchHit]
    pagination: Pagination
    links: Links


class Distribution(BaseModel):
    """Summary of a per-session quantity over the sessions of the window (null when there are none).
    Percentiles are exact, nearest-rank (``quantileExact``)."""

    total: float | None = Field(description="sum over the sessions")
    avg: float | None = Field(description="mean per session")
    p50: float | None = Field(description="median per session")
    p95: float | None = Field(description="95th percentile per session")


class DayMetrics(BaseModel):
    """One UTC day of the window."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date": "2025-03-01", "sessions_started": 120, "active_sessions": 131, "turns": 540,
        "cost_usd": 3.25, "sessions_with_errors": 7}]})

    date: str = Field(description="the day, YYYY-MM-DD (UTC)")
    sessions_started: int = Field(description="sessions whose first activity is on this day")
    active_sessions: int = Field(description="sessions with activity on this day (a session spanning days counts "
                                             "on each)")
    turns: int = Field(description="turns (traces) of the sessions started on this day")
    cost_usd: float = Field(description="cost (USD) of the sessions started on this day")
    sessions_with_errors: int = Field(description="sessions started on this day with at least one error span")


class ProjectMetrics(BaseModel):
    """Session metrics of the project over a time window, for dashboard charts. Totals and distributions are over
    the sessions whose activity overlaps the window (and match the filters); ``days`` buckets them by UTC day."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start_time": "2025-02-01T00:00:00.000000Z", "end_time": "2025-03-03T00:00:00.000000Z", "sessions": 3,
        "sessions_with_errors": 1, "error_rate": 0.3333, "total_tokens": 12000,
        "turns_per_session": {"total": 9, "avg": 3.0, "p50": 3.0, "p95": 5.0},
        "cost_per_session_usd": {"total": 0.03, "avg": 0.01, "p50": 0.008, "p95": 0.02},
        "days": [{"date": "2025-03-01", "sessions_started": 3, "active_sessions": 3, "turns": 9, "cost_usd": 0.03,
                  "sessions_with_errors": 1}]}]})

    start_time: str = Field(description="window start (ISO 8601 UTC)")
    end_time: str = Field(description="window end (ISO 8601 UTC)")
    sessions: int = Field(description="sessions whose activity overlaps the window")
    sessions_with_errors: int = Field(description="of those, sessions with at least one error span")
    error_rate: float | None = Field(description="sessions_with_errors / sessions (null when no sessions)")
    total_tokens: int = Field(description="tokens of those sessions")
    turns_per_session: Distribution = Field(description="turns (traces) per session")
    cost_per_session_usd: Distribution = Field(description="cost per session, USD")
    days: list[DayMetrics] = Field(description="every UTC day of the window in order, zero-filled")
