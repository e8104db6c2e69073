"""Response models of the sessions and traces API (field names per DESIGN.md, "HTTP API")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

EndState = Literal["active", "success", "failure", "indeterminate"]


class Links(BaseModel):
    """Hypermedia links of a list page."""

    self: str
    next: str | None = None
    prev: str | None = None


class Pagination(BaseModel):
    """Where a page sits in the full result."""

    limit: int
    offset: int
    total: int
    has_more: bool
    next_cursor: str | None = None


class Session(BaseModel):
    """A session with its rollup. Durations in ms, cost in USD, tokens as counts, times ISO 8601 UTC."""

    session_id: str
    project_id: str
    name: str | None
    user_id: str | None
    trace_count: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost_usd: float
    total_duration_ms: float = Field(description="sum of the traces' durations")
    wall_duration_ms: float = Field(description="last activity minus first activity")
    avg_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    models: list[str]
    first_seen: str
    last_seen: str
    first_input: str | None
    last_output: str | None
    end_state: EndState
    previous_session_id: str | None
    metadata: dict[str, str]
    tags: list[str]
    bookmarked: bool
    quality_score: float | None = Field(None, description="mean of the session's scores, when scored")
    created_at: str
    updated_at: str
    links: dict[str, str]


class Trace(BaseModel):
    """A trace (a turn) with its rollup."""

    trace_id: str
    session_id: str | None
    turn: int | None = None
    name: str
    user_id: str | None
    start_time: str
    end_time: str
    duration_ms: float
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    models: list[str]
    input: str | None
    output: str | None
    status_code: str
    metadata: dict[str, str]
    tags: list[str]
    links: dict[str, str]


class SpanEvent(BaseModel):
    """A span event (OpenTelemetry)."""

    time: str
    name: str
    attributes: dict[str, str]


class Span(BaseModel):
    """One span; ``parent_span_id`` is null for a root, so the list builds a tree."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    span_type: str
    start_time: str
    end_time: str
    duration_ms: float
    status_code: str
    status_message: str | None
    service_name: str | None
    scope_name: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    input: str | None
    output: str | None
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    events: list[SpanEvent]


class SessionPage(BaseModel):
    """A page of sessions."""

    data: list[Session]
    pagination: Pagination
    links: Links


class TracePage(BaseModel):
    """A page of traces."""

    data: list[Trace]
    pagination: Pagination
    links: Links


class SessionDetail(Session):
    """A session with its traces (turns) in start order (the first ``traces_limit``; page through the rest with
    ``links.traces``)."""

    traces: list[Trace]


class TraceDetail(Trace):
    """A trace with all its spans in start order."""

    spans: list[Span]


def as_dict(pairs: Any) -> dict[str, str]:
    """A ClickHouse Map as returned by Arrow (list of pairs or dict) → dict."""
    if isinstance(pairs, dict):
        return {str(k): str(v) for k, v in pairs.items()}
    return {str(k): str(v) for k, v in pairs or []}
