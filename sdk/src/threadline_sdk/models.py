"""Typed responses of the Threadline HTTP API (``/v1/...``), field for field as the server sends them.

Durations are in ms, costs in USD, tokens are counts and times ISO 8601 UTC strings. Fields a newer server adds are
kept (``model_extra``) rather than refused, so an older SDK keeps working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

EndState = Literal["active", "success", "failure", "indeterminate"]
ExplicitEndState = Literal["success", "failure", "indeterminate"]
ScoreValue = bool | float | str


class ApiModel(BaseModel):
    """Base of the response models: unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Links(ApiModel):
    """Links of a list page (paths relative to the server)."""

    self: str
    next: str | None = None
    prev: str | None = None


class Pagination(ApiModel):
    """Where a page sits in the whole result."""

    limit: int
    offset: int
    total: int
    has_more: bool
    next_cursor: str | None = None


class Session(ApiModel):
    """A session with its rollup."""

    session_id: str
    project_id: str
    name: str | None = None
    user_id: str | None = None
    trace_count: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost_usd: float
    total_duration_ms: float
    wall_duration_ms: float
    avg_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    models: list[str]
    first_seen: str
    last_seen: str
    first_input: str | None = None
    last_output: str | None = None
    end_state: EndState
    previous_session_id: str | None = None
    metadata: dict[str, str]
    tags: list[str]
    bookmarked: bool = False
    quality_score: float | None = None
    created_at: str
    updated_at: str
    links: dict[str, str]


class Trace(ApiModel):
    """A trace (one turn) with its rollup; ``turn`` numbers a session's traces from 1."""

    trace_id: str
    session_id: str | None = None
    turn: int | None = None
    name: str
    user_id: str | None = None
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
    input: str | None = None
    output: str | None = None
    status_code: str
    metadata: dict[str, str]
    tags: list[str]
    links: dict[str, str]


class SpanEvent(ApiModel):
    """A span event."""

    time: str
    name: str
    attributes: dict[str, str]


class Span(ApiModel):
    """One span; ``parent_span_id`` is ``None`` for a root."""

    span_id: str
    parent_span_id: str | None = None
    name: str
    kind: str
    span_type: str
    start_time: str
    end_time: str
    duration_ms: float
    status_code: str
    status_message: str | None = None
    service_name: str | None = None
    scope_name: str | None = None
    model: str | None = None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    input: str | None = None
    output: str | None = None
    attributes: dict[str, str]
    resource_attributes: dict[str, str]
    events: list[SpanEvent]


class SessionPage(ApiModel):
    """A page of sessions."""

    data: list[Session]
    pagination: Pagination
    links: Links


class TracePage(ApiModel):
    """A page of traces."""

    data: list[Trace]
    pagination: Pagination
    links: Links


class SessionDetail(Session):
    """A session with its first traces (turns) in start order; page through all with ``sessions.traces(id)``."""

    traces: list[Trace]


class TraceDetail(Trace):
    """A trace with all its spans in start order."""

    spans: list[Span]


class ModelUsage(ApiModel):
    """One model's share of a session."""

    model: str
    call_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float


class TimeToFirstToken(ApiModel):
    """Time to first token over the session's LLM spans that report it."""

    call_count: int
    avg_ms: float
    p50_ms: float
    p95_ms: float


class IdleGap(ApiModel):
    """Idle time after turn ``after_turn``, when longer than the threshold."""

    after_turn: int
    gap_ms: float


class SessionStats(ApiModel):
    """Every computed field of a session (``GET /v1/sessions/{id}/stats``)."""

    session_id: str
    trace_count: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    total_cost_usd: float
    total_duration_ms: float
    wall_duration_ms: float
    avg_latency_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    time_to_first_token: TimeToFirstToken | None = None
    models: list[ModelUsage]
    first_input: str | None = None
    last_output: str | None = None
    end_state: EndState
    quality_score: float | None = None
    first_seen: str
    last_seen: str
    idle_gap_threshold_s: float
    idle_gaps: list[IdleGap]
    idle_time_ms: float
    links: dict[str, str]


class Score(ApiModel):
    """A stored score of a session or a trace."""

    score_id: str
    target: Literal["session", "trace"]
    target_id: str
    name: str
    data_type: Literal["numeric", "categorical", "boolean"]
    value: ScoreValue
    comment: str | None = None
    source: str
    created_at: str


class Job(ApiModel):
    """A background job (e.g. a session deletion): ``status`` is pending, running, done or failed."""

    job_id: str
    kind: str
    target_id: str
    status: str
    total: int
    done: int
    error: str | None = None
    created_at: str
    updated_at: str
    links: dict[str, str]

    @property
    def finished(self) -> bool:
        """Done or failed."""
        return self.status in ("done", "failed")
