"""Native JSON ingest (``POST /v1/ingest``): pydantic models of a batch of traces and their conversion to RawSpans.

Ids are generated when absent (trace: 16 random bytes, span: 8, as hex) and returned to the caller; a client that
wants idempotent retries sends its own ids.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from threadline.ingest.normalize import MAX_COUNT, MAX_ID_LENGTH
from threadline.ingest.spans import RawSpan

HexTraceId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex digits")]
HexSpanId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$", description="16 lowercase hex digits")]
SpanType = Literal["llm", "generation", "tool", "retriever", "embedding", "agent", "chain", "reranker", "guardrail",
                   "evaluator", "span"]


class NativeSpan(BaseModel):
    """One span. Times are ISO 8601 strings or epoch seconds; tokens are counts; ``cost_usd`` in USD (computed from
    the price table when absent)."""

    model_config = ConfigDict(extra="forbid")

    span_id: HexSpanId | None = None
    parent_span_id: HexSpanId | None = None
    name: str = Field(min_length=1, max_length=1024)
    type: SpanType | None = Field(None, description="inferred when absent: 'llm' if the span has a model or "
                                                    "tokens, else 'span'")
    start_time: datetime
    end_time: datetime | None = Field(None, description="defaults to start_time")
    model: str | None = Field(None, max_length=256)
    input: Any = None
    output: Any = None
    input_tokens: int | None = Field(None, ge=0, le=MAX_COUNT)
    output_tokens: int | None = Field(None, ge=0, le=MAX_COUNT)
    cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    status: Literal["ok", "error", "unset", "OK", "ERROR", "UNSET"] = "unset"
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class NativeTrace(BaseModel):
    """One trace (a turn). ``session_id`` and ``user_id`` apply to every span of the trace."""

    model_config = ConfigDict(extra="forbid")

    trace_id: HexTraceId | None = None
    name: str = Field(min_length=1, max_length=1024)
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    session_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH)
    user_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH)
    total_cost_usd: float | None = Field(None, ge=0, allow_inf_nan=False,
                                         description="reported total; the rollup takes the greater of this and the "
                                                     "sum over spans")
    total_tokens: int | None = Field(None, ge=0, le=MAX_COUNT)
    spans: list[NativeSpan] = Field(min_length=1)


class NativeBatch(RootModel[list[NativeTrace]]):
    """The request body: a JSON array of traces."""


class IngestedTrace(BaseModel):
    """The ids a trace was stored under."""

    trace_id: str
    span_ids: list[str]


class IngestResponse(BaseModel):
    """Response of ``POST /v1/ingest``: ids in request order and the number of spans committed."""

    traces: list[IngestedTrace]
    accepted_spans: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:  # a time without offset is UTC, not the server's local time
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000  # exact; negative before 1970 (then rejected)


def to_raw_spans(batch: list[NativeTrace]) -> tuple[list[RawSpan], list[IngestedTrace]]:
    """Convert validated traces into RawSpans, generating missing ids. The first span without a parent carries the
    trace's name, metadata, tags and reported totals."""
    spans: list[RawSpan] = []
    ids: list[IngestedTrace] = []
    for trace in batch:
        trace_id = trace.trace_id or os.urandom(16).hex()
        span_ids = [s.span_id or os.urandom(8).hex() for s in trace.spans]
        root_index = next((i for i, s in enumerate(trace.spans) if s.parent_span_id is None), 0)
        for index, (span, span_id) in enumerate(zip(trace.spans, span_ids, strict=True)):
            explicit: dict[str, Any] = {
                "session_id": trace.session_id, "user_id": trace.user_id, "model": span.model,
                "input_tokens": span.input_tokens, "output_tokens": span.output_tokens, "cost_usd": span.cost_usd,
                "span_type": span.type, "input": _text(span.input), "output": _text(span.output),
            }
            if index == root_index:
                explicit.update(trace_name=trace.name, tags=trace.tags,
                                metadata={k: _text(v) for k, v in (trace.metadata or {}).items()},
                                reported_cost_usd=trace.total_cost_usd, reported_tokens=trace.total_tokens)
            start = _ns(span.start_time)
            spans.append(RawSpan(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=span.parent_span_id or "",
                name=span.name,
                start_ns=start,
                end_ns=_ns(span.end_time) if span.end_time else start,
                status_code=span.status.upper(),
                status_message=span.status_message or "",
                attributes={k: _text(v) for k, v in span.attributes.items()},
                explicit=explicit,
            ))
        ids.append(IngestedTrace(trace_id=trace_id, span_ids=span_ids))
    return spans, ids
