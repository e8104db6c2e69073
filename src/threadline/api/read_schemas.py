"""Response models of one session's reads: stats, timeline, logs, metrics and export (``/v1/sessions/{id}/...``).

Units are in the field names or descriptions: durations and offsets in ms, cost in USD, tokens as counts, times
ISO 8601 UTC with microseconds. Field names follow the session model (DESIGN.md, "HTTP API").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.api.schemas import EndState, Links, Pagination, Session, Span, Trace

Severity = Literal["trace", "debug", "info", "warn", "error", "fatal", "unspecified"]
LogSource = Literal["log", "span_event", "exception"]


class ProblemDetail(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``), the body of every error."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "there is no session 'chat-123' in this project", "instance": "/v1/sessions/chat-123/stats"}]})

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="what went wrong, in words a person can act on")
    instance: str | None = Field(None, description="the request path")
    errors: list[dict[str, Any]] | None = Field(None, description="field errors of a 422")


def _problem(description: str) -> dict[str, Any]:
    return {"model": ProblemDetail, "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("invalid parameters (e.g. start_time after end_time) or an undecodable body"),
    401: _problem("missing, invalid, revoked or expired API key"),
    403: _problem("the API key's scope does not allow this request (the sentence names the scopes that do), or a "
                  "write authenticated by the dashboard session cookie that does not come from the Threadline "
                  "origin (send an API key instead)"),
    404: _problem("there is no such session in the project of the API key"),
    409: _problem("the resource already exists"),
    413: _problem("the body is larger than THREADLINE_MAX_BODY_BYTES (before or after gunzip)"),
    415: _problem("unsupported Content-Type or Content-Encoding"),
    422: _problem("a parameter is out of range or malformed"),
    429: _problem("too many failed authentications from this address (see Retry-After)"),
    503: _problem("the store is unavailable; retry after Retry-After seconds"),
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    code: PROBLEM_RESPONSES[code] for code in (401, 403, 404, 422, 429, 503)}
UNPARSABLE_BODY = "the body could not be parsed (it is not UTF-8 JSON)"
OTLP_ERRORS: dict[int | str, dict[str, Any]] = {
    code: PROBLEM_RESPONSES[code] for code in (400, 401, 403, 413, 415, 429, 503)}


def problem_responses(*codes: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer these error codes (problem+json, from ``PROBLEM_RESPONSES``);
    ``described`` gives some of them (or codes not in ``PROBLEM_RESPONSES``) a description of this route's own."""
    out: dict[int | str, dict[str, Any]] = {code: PROBLEM_RESPONSES[code] for code in codes}
    out.update({code: _problem(text) for code, text in (described or {}).items()})
    if 401 in out:  # an authenticated route: a key of another scope is refused 403 (threadline.api.auth)
        out.setdefault(403, PROBLEM_RESPONSES[403])
    return out


def otlp_request_body(message: str) -> dict[str, Any]:
    """``openapi_extra`` of an OTLP/HTTP endpoint (which reads its body itself): an OTLP ``message`` as protobuf or
    JSON (OTLP/HTTP JSON encoding: lowerCamelCase fields, hex trace and span ids), optionally gzip
    (``Content-Encoding``)."""
    return {"requestBody": {"required": True, "description": f"an OTLP {message}", "content": {
        "application/x-protobuf": {"schema": {"type": "string", "format": "binary",
                                              "description": f"{message}, protobuf-encoded"}},
        "application/json": {"schema": {"type": "object", "description": f"{message}, OTLP/HTTP JSON encoding"}},
    }}}


class ModelUsage(BaseModel):
    """One model's share of a session, from the spans of the session's traces that name it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "gpt-4o", "call_count": 2, "input_tokens": 1500, "output_tokens": 300, "total_tokens": 1800,
        "cost_usd": 0.00675}]})

    model: str
    call_count: int = Field(description="LLM and embedding spans of this model")
    input_tokens: int = Field(description="summed over the LLM and embedding spans of this model")
    output_tokens: int
    total_tokens: int
    cost_usd: float = Field(description="USD, summed over the LLM and embedding spans of this model (reported by "
                                        "the span, else tokens times the price table)")


class TimeToFirstToken(BaseModel):
    """Time to first token over the session's LLM spans that report it (span attribute
    ``gen_ai.server.time_to_first_token`` in seconds, else a ``gen_ai.content.first_token`` / ``first_token`` span
    event's time minus the span's start)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "call_count": 3, "avg_ms": 412.5, "p50_ms": 380.0, "p95_ms": 610.0}]})

    call_count: int = Field(description="LLM spans reporting a time to first token")
    avg_ms: float
    p50_ms: float
    p95_ms: float


class IdleGap(BaseModel):
    """Idle time between two turns: from the latest end of turns 1..``after_turn`` to the start of the next turn,
    listed when longer than the threshold."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"after_turn": 3, "gap_ms": 900000.0}]})

    after_turn: int = Field(description="the gap follows this turn (1-based) and precedes turn after_turn + 1")
    gap_ms: float = Field(description="idle time in ms")


class SessionStats(BaseModel):
    """Every computed field of a session. Totals are the session rollup's (definitions in
    ``threadline.rollups``); ``models`` and ``time_to_first_token`` are read from the spans of its traces."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_id": "chat-123", "trace_count": 2, "span_count": 6, "llm_call_count": 3, "tool_call_count": 1,
        "error_count": 1, "input_tokens": 3500, "output_tokens": 700, "total_tokens": 4200,
        "total_cost_usd": 0.00955, "total_duration_ms": 5000.0, "wall_duration_ms": 303000.0,
        "avg_latency_ms": 2500.0, "p50_latency_ms": 2500.0, "p95_latency_ms": 2950.0,
        "time_to_first_token": None,
        "models": [ModelUsage.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
        "first_input": "hello", "last_output": "bye", "end_state": "indeterminate", "quality_score": 0.8,
        "first_seen": "2025-03-01T10:00:00.000000Z", "last_seen": "2025-03-01T10:05:03.000000Z",
        "idle_gap_threshold_s": 60.0, "idle_gaps": [{"after_turn": 1, "gap_ms": 298000.0}],
        "idle_time_ms": 298000.0,
        "links": {"session": "/v1/sessions/chat-123"}}]})

    session_id: str
    trace_count: int = Field(description="turns (traces) of the session")
    span_count: int
    llm_call_count: int = Field(description="spans of type llm")
    tool_call_count: int = Field(description="spans of type tool")
    error_count: int = Field(description="spans with status ERROR")
    input_tokens: int = Field(description="summed over LLM and embedding spans")
    output_tokens: int
    total_tokens: int = Field(description="per trace the greater of the reported total and the span sum, summed")
    total_cost_usd: float = Field(description="USD; per trace the greater of the reported total and the span sum")
    total_duration_ms: float = Field(description="sum of the turns' durations, ms")
    wall_duration_ms: float = Field(description="last activity minus first activity, ms")
    avg_latency_ms: float = Field(description="mean turn duration, ms")
    p50_latency_ms: float = Field(description="median turn duration (exact), ms")
    p95_latency_ms: float = Field(description="95th percentile turn duration (exact), ms")
    time_to_first_token: TimeToFirstToken | None = Field(description="null when no LLM span reports it")
    models: list[ModelUsage] = Field(description="per model, most expensive first")
    first_input: str | None
    last_output: str | None
    end_state: EndState
    quality_score: float | None = Field(description="mean of the session's numeric scores named 'quality'")
    first_seen: str
    last_seen: str
    idle_gap_threshold_s: float = Field(description="gaps longer than this (s) are listed")
    idle_gaps: list[IdleGap]
    idle_time_ms: float = Field(description="sum of the listed idle gaps, ms")
    links: dict[str, str]


class TimelineSpan(BaseModel):
    """A span placed on the session's time axis. Spans are listed depth first (a parent before its children,
    siblings by start time); ``depth`` is 0 for roots (and for spans whose parent is not in the trace)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "span_id": "a100000000000002", "parent_span_id": "a100000000000001", "depth": 1, "name": "llm",
        "kind": "INTERNAL", "span_type": "llm", "model": "gpt-4o", "status_code": "UNSET", "status_message": None,
        "start_offset_ms": 500.0, "duration_ms": 1000.0, "input_tokens": 1000, "output_tokens": 200,
        "total_tokens": 1200, "cost_usd": 0.0045, "event_count": 0}]})

    span_id: str
    parent_span_id: str | None
    depth: int = Field(description="0 for a root; a child is its parent's depth + 1")
    name: str
    kind: str
    span_type: str
    model: str | None
    status_code: str
    status_message: str | None
    start_offset_ms: float = Field(description="span start minus session start, ms")
    duration_ms: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    event_count: int = Field(description="span events (see /logs)")


class TimelineTurn(BaseModel):
    """One turn on the session's time axis, with its span tree."""

    turn: int = Field(description="1-based, by start time")
    trace_id: str
    name: str
    start_time: str
    start_offset_ms: float = Field(description="turn start minus session start, ms")
    duration_ms: float
    span_count: int
    error_count: int
    status_code: str
    total_tokens: int
    cost_usd: float
    input: str | None
    output: str | None
    idle_gap_before_ms: float | None = Field(
        description="idle time before this turn when longer than idle_gap_s (see IdleGap), else null")
    spans: list[TimelineSpan]


class SessionTimeline(BaseModel):
    """A page of the session's turns, each with its span tree; offsets are from ``session_start``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_id": "chat-123", "session_start": "2025-03-01T10:00:00.000000Z", "idle_gap_threshold_s": 60.0,
        "turns": [{"turn": 1, "trace_id": "a1" * 16, "name": "turn 1", "start_time": "2025-03-01T10:00:00.000000Z",
                   "start_offset_ms": 0.0, "duration_ms": 2000.0, "span_count": 1, "error_count": 0,
                   "status_code": "UNSET", "total_tokens": 1200, "cost_usd": 0.0045, "input": "hello",
                   "output": "hi there", "idle_gap_before_ms": None,
                   "spans": [TimelineSpan.model_config["json_schema_extra"]["examples"][0]]}],  # type: ignore[index]
        "idle_gaps": [],
        "pagination": {"limit": 50, "offset": 0, "total": 1, "has_more": False, "next_cursor": None},
        "links": {"self": "/v1/sessions/chat-123/timeline?limit=50&offset=0", "next": None, "prev": None}}]})

    session_id: str
    session_start: str = Field(description="start of the session's first turn; offsets are from here")
    idle_gap_threshold_s: float
    turns: list[TimelineTurn]
    idle_gaps: list[IdleGap] = Field(description="gaps before the turns of this page")
    pagination: Pagination = Field(description="over turns")
    links: Links


class ExceptionInfo(BaseModel):
    """An exception recorded on a span (OpenTelemetry ``exception`` event attributes)."""

    type: str | None = Field(description="exception.type")
    message: str | None = Field(description="exception.message")
    stacktrace: str | None = Field(description="exception.stacktrace")


class LogEntry(BaseModel):
    """One entry of a session's log: an OTLP log record, a span event, or an exception recorded on a span."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "time": "2025-03-01T10:00:01.600000Z", "time_unix_nano": 1740823201600000000, "source": "exception",
        "severity": "error", "severity_number": 17, "severity_text": None, "name": "exception",
        "body": "upstream timed out", "trace_id": "a1" * 16, "span_id": "a100000000000003",
        "exception": {"type": "TimeoutError", "message": "upstream timed out", "stacktrace": None},
        "attributes": {"exception.type": "TimeoutError", "exception.message": "upstream timed out"}}]})

    time: str
    time_unix_nano: int = Field(description="ns since the Unix epoch")
    source: LogSource = Field(description="log: an OTLP log record; span_event: a span event; exception: a span "
                                          "event named 'exception'")
    severity: Severity = Field(description="level of severity_number; span exceptions are error, other span events "
                                           "info")
    severity_number: int = Field(description="OTLP SeverityNumber 1-24, 0 when unspecified")
    severity_text: str | None
    name: str | None = Field(description="the span event's name, or a log record's event.name")
    body: str | None = Field(description="the log body; an exception's message")
    trace_id: str | None
    span_id: str | None
    exception: ExceptionInfo | None
    attributes: dict[str, str]


class LogPage(BaseModel):
    """A page of a session's log entries in time order."""

    data: list[LogEntry]
    pagination: Pagination
    links: Links


class TurnMetrics(BaseModel):
    """One point of the per-turn series."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "turn": 1, "trace_id": "a1" * 16, "start_time": "2025-03-01T10:00:00.000000Z", "start_offset_ms": 0.0,
        "duration_ms": 2000.0, "input_tokens": 1000, "output_tokens": 200, "total_tokens": 1200, "cost_usd": 0.0045,
        "error_count": 1, "llm_call_count": 1, "tool_call_count": 1, "time_to_first_token_ms": None}]})

    turn: int
    trace_id: str
    start_time: str
    start_offset_ms: float = Field(description="turn start minus session start, ms")
    duration_ms: float = Field(description="turn latency: last span end minus first span start, ms")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float = Field(description="USD")
    error_count: int
    llm_call_count: int
    tool_call_count: int
    time_to_first_token_ms: float | None = Field(description="of the turn's first LLM span reporting one, ms")


class SessionMetrics(BaseModel):
    """Per-turn series (a page of turns) and the per-model breakdown of the whole session."""

    session_id: str
    turns: list[TurnMetrics]
    models: list[ModelUsage]
    pagination: Pagination = Field(description="over turns")
    links: Links


class ExportSpan(Span):
    """A span of the export, with its trace id."""

    trace_id: str


class ExportScore(BaseModel):
    """A score of the session."""

    score_id: str
    name: str
    data_type: str = Field(description="numeric, categorical or boolean")
    value: bool | float | str
    comment: str | None
    source: str = Field(description="human, llm or code")
    created_at: str


class SessionExport(BaseModel):
    """The whole session as one JSON document (``Content-Disposition: attachment``)."""

    format: Literal["threadline.session.v1"]
    exported_at: str
    summary: Session
    turns: list[Trace] = Field(description="every trace rollup, in turn order")
    spans: list[ExportSpan] = Field(description="every span of the session's traces, by turn then start time")
    scores: list[ExportScore]
