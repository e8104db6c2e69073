"""Turning the rows of :mod:`threadline.queries.session_reads` into the models of :mod:`threadline.api.read_schemas`:
times as ISO 8601, offsets from the session start in ms, empty strings as null, span trees in depth-first order."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from threadline.api import present
from threadline.api.read_schemas import (
    ExceptionInfo,
    ExportScore,
    ExportSpan,
    IdleGap,
    LogEntry,
    ModelUsage,
    SessionStats,
    TimelineSpan,
    TimelineTurn,
    TimeToFirstToken,
    TurnMetrics,
)
from threadline.api.schemas import as_dict
from threadline.ingest.otlp_logs import severity_level
from threadline.queries.scores import Score
from threadline.store.gateway import Row


def _opt(value: str) -> str | None:
    return value or None


def _offset_ms(ns: int, origin_ns: int) -> float:
    return (int(ns) - origin_ns) / 1e6


def model_usage(row: Row) -> ModelUsage:
    """A row of ``session_reads.model_usage``."""
    return ModelUsage(model=row["model"], call_count=row["call_count"], input_tokens=row["input_tokens"],
                      output_tokens=row["output_tokens"], total_tokens=row["total_tokens"],
                      cost_usd=round(row["cost_usd"], 9))


def idle_gap(row: Row) -> IdleGap:
    """A row of ``session_reads.idle_gaps``."""
    return IdleGap(after_turn=row["after_turn"], gap_ms=row["gap_ms"])


def stats(session: Row, models: list[Row], ttft: Row | None, gaps: list[Row], *, idle_gap_s: float,
          idle_timeout_s: float) -> SessionStats:
    """The stats of a session: its rollup row (``queries.sessions.get_session``), per-model usage, time to first
    token (None when unreported) and idle gaps."""
    summary = present.session(session, idle_timeout_s)
    listed = [idle_gap(g) for g in gaps]
    return SessionStats(
        session_id=summary.session_id, trace_count=summary.trace_count, span_count=summary.span_count,
        llm_call_count=summary.llm_call_count, tool_call_count=summary.tool_call_count,
        error_count=summary.error_count, input_tokens=summary.input_tokens, output_tokens=summary.output_tokens,
        total_tokens=summary.total_tokens, total_cost_usd=summary.total_cost_usd,
        total_duration_ms=summary.total_duration_ms, wall_duration_ms=summary.wall_duration_ms,
        avg_latency_ms=summary.avg_latency_ms, p50_latency_ms=summary.p50_latency_ms,
        p95_latency_ms=summary.p95_latency_ms,
        time_to_first_token=TimeToFirstToken(**ttft) if ttft else None,
        models=[model_usage(m) for m in models], first_input=summary.first_input, last_output=summary.last_output,
        end_state=summary.end_state, quality_score=summary.quality_score, first_seen=summary.first_seen,
        last_seen=summary.last_seen, idle_gap_threshold_s=idle_gap_s, idle_gaps=listed,
        idle_time_ms=sum(g.gap_ms for g in listed), links={"session": present.session_path(summary.session_id)},
    )


def span_tree(spans: list[Row]) -> list[tuple[Row, int]]:
    """The spans of one trace depth first, each with its depth: roots (no parent, or a parent not among ``spans``)
    by start time, each followed by its children by start time. Spans caught in a parent cycle come last, from
    their earliest, so every span is listed exactly once."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[Row]] = defaultdict(list)
    for span in spans:
        children[span["parent_span_id"]].append(span)

    def order(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda s: (s["start_ns"], s["span_id"]))

    listed: list[tuple[Row, int]] = []
    seen: set[str] = set()
    roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in by_id]
    for root in order(roots) + order(spans):
        stack = [(root, 0)]
        while stack:
            span, depth = stack.pop()
            if span["span_id"] in seen:
                continue
            seen.add(span["span_id"])
            listed.append((span, depth))
            stack.extend((child, depth + 1) for child in reversed(order(children.get(span["span_id"], []))))
    return listed


def timeline_span(row: Row, depth: int, origin_ns: int) -> TimelineSpan:
    """A row of ``session_reads.turn_spans`` at ``depth``, offset from ``origin_ns``."""
    return TimelineSpan(
        span_id=row["span_id"], parent_span_id=_opt(row["parent_span_id"]), depth=depth, name=row["name"],
        kind=row["kind"], span_type=row["span_type"], model=_opt(row["model"]), status_code=row["status_code"],
        status_message=_opt(row["status_message"]), start_offset_ms=_offset_ms(row["start_ns"], origin_ns),
        duration_ms=row["duration_ns"] / 1e6, input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
        total_tokens=row["total_tokens"], cost_usd=round(row["cost_usd"], 9), event_count=row["event_count"])


def timeline_turn(trace: Row, spans: list[Row], origin_ns: int, gap_before_ms: float | None) -> TimelineTurn:
    """A turn (a ``session_traces`` row) with its spans' tree, offset from ``origin_ns``."""
    return TimelineTurn(
        turn=trace["turn"], trace_id=trace["trace_id"], name=trace["name"],
        start_time=present.iso(trace["start_ns"]), start_offset_ms=_offset_ms(trace["start_ns"], origin_ns),
        duration_ms=trace["duration_ms"], span_count=trace["span_count"], error_count=trace["error_count"],
        status_code=trace["status_code"], total_tokens=trace["total_tokens"], cost_usd=round(trace["cost_usd"], 9),
        input=_opt(trace["input"]), output=_opt(trace["output"]), idle_gap_before_ms=gap_before_ms,
        spans=[timeline_span(s, depth, origin_ns) for s, depth in span_tree(spans)])


def log_entry(row: Row) -> LogEntry:
    """A row of ``session_reads.session_logs``."""
    attributes = as_dict(row["attributes"])
    exception = None
    if row["source"] == "exception":
        exception = ExceptionInfo(type=_opt(attributes.get("exception.type", "")),
                                  message=_opt(attributes.get("exception.message", "")),
                                  stacktrace=_opt(attributes.get("exception.stacktrace", "")))
    return LogEntry(
        time=present.iso(row["time_ns"]), time_unix_nano=row["time_ns"], source=row["source"],
        severity=severity_level(row["severity_number"]),  # type: ignore[arg-type]
        severity_number=row["severity_number"], severity_text=_opt(row["severity_text"]), name=_opt(row["name"]),
        body=_opt(row["body"]), trace_id=_opt(row["trace_id"]), span_id=_opt(row["span_id"]), exception=exception,
        attributes=attributes)


def turn_metrics(trace: Row, origin_ns: int, ttft_ms: float | None) -> TurnMetrics:
    """One point of the per-turn series: a ``session_traces`` row and its time to first token."""
    return TurnMetrics(
        turn=trace["turn"], trace_id=trace["trace_id"], start_time=present.iso(trace["start_ns"]),
        start_offset_ms=_offset_ms(trace["start_ns"], origin_ns), duration_ms=trace["duration_ms"],
        input_tokens=trace["input_tokens"], output_tokens=trace["output_tokens"], total_tokens=trace["total_tokens"],
        cost_usd=round(trace["cost_usd"], 9), error_count=trace["error_count"], llm_call_count=trace["llm_call_count"],
        tool_call_count=trace["tool_call_count"], time_to_first_token_ms=ttft_ms)


def export_span(row: Row) -> ExportSpan:
    """A row of ``session_reads.export_spans``."""
    return ExportSpan(**present.span(row).model_dump(), trace_id=row["trace_id"])


def export_score(score: Score) -> ExportScore:
    """A stored score of the session."""
    value: Any = score.value
    return ExportScore(score_id=score.score_id, name=score.name, data_type=score.data_type, value=value,
                       comment=_opt(score.comment), source=score.source,
                       created_at=present.iso(score.created_at_ms * 1_000_000))
