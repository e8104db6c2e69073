"""Turning query rows into API models: times as ISO 8601, empty strings as null, the derived end state."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from threadline.api.schemas import Links, Pagination, Session, Span, SpanEvent, Trace, as_dict
from threadline.api.session_paths import session_path as session_path  # re-exported: links are built here
from threadline.queries import end_state as end_states
from threadline.store.gateway import Row


def iso(ns: int) -> str:
    """ns since the epoch → ISO 8601 UTC with microseconds (``2026-11-22T03:03:22.123456Z``)."""
    moment = datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _opt(value: str) -> str | None:
    return value or None


def end_state(row: Row, idle_timeout_s: float, now_ns: int | None = None) -> str:
    """End state by the rule of :mod:`threadline.queries.end_state`: set by the API, else reported on a span
    (``session.end_state``), else ``active`` while the last activity is within the idle timeout, else
    ``indeterminate`` (never ``success`` by guessing). A row whose query computed it in SQL (``derived_end_state``,
    the list and search, whose ``end_state`` filter uses the same expression and the same *now*) keeps that value."""
    if row.get("derived_end_state"):
        return str(row["derived_end_state"])
    now = now_ns if now_ns is not None else time.time_ns()
    return end_states.derive(row.get("annotated_end_state"), row.get("reported_end_state"), int(row["last_seen_ns"]),
                             now, end_states.idle_ns(idle_timeout_s))


def session(row: Row, idle_timeout_s: float) -> Session:
    """A session row of :mod:`threadline.queries.sessions` as the API model."""
    path = session_path(row["session_id"])
    created = row.get("annotation_created_ns") or 0
    updated = max(int(row.get("annotation_updated_ns") or 0), int(row["version_ns"]))
    return Session(
        session_id=row["session_id"], project_id=row["project_id"], name=_opt(row.get("name") or ""),
        user_id=_opt(row["user_id"]), trace_count=row["trace_count"], span_count=row["span_count"],
        llm_call_count=row["llm_call_count"], tool_call_count=row["tool_call_count"],
        error_count=row["error_count"], input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
        total_tokens=row["total_tokens"], total_cost_usd=round(row["total_cost_usd"], 9),
        total_duration_ms=row["total_duration_ms"], wall_duration_ms=row["wall_duration_ms"],
        avg_latency_ms=row["avg_latency_ms"], p50_latency_ms=row["p50_latency_ms"],
        p95_latency_ms=row["p95_latency_ms"], models=list(row["models"]),
        first_seen=iso(row["first_seen_ns"]), last_seen=iso(row["last_seen_ns"]),
        first_input=_opt(row["first_input"]), last_output=_opt(row["last_output"]),
        end_state=end_state(row, idle_timeout_s),  # type: ignore[arg-type]
        previous_session_id=_opt(row["previous_session_id"]), metadata=as_dict(row["metadata"]),
        tags=list(row["tags"]), bookmarked=bool(row.get("bookmarked")), quality_score=row.get("quality_score"),
        created_at=iso(min(int(created), int(row["first_seen_ns"])) if created else int(row["first_seen_ns"])),
        updated_at=iso(updated),
        links={"self": path, "traces": f"{path}/traces"},
    )


def trace(row: Row) -> Trace:
    """A trace rollup row as the API model."""
    return Trace(
        trace_id=row["trace_id"], session_id=_opt(row["session_id"]), turn=row.get("turn"), name=row["name"],
        user_id=_opt(row["user_id"]), start_time=iso(row["start_ns"]), end_time=iso(row["end_ns"]),
        duration_ms=row["duration_ms"], span_count=row["span_count"], llm_call_count=row["llm_call_count"],
        tool_call_count=row["tool_call_count"], error_count=row["error_count"], input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], total_tokens=row["total_tokens"], cost_usd=round(row["cost_usd"], 9),
        models=list(row["models"]), input=_opt(row["input"]), output=_opt(row["output"]),
        status_code=row["status_code"], metadata=as_dict(row["metadata"]), tags=list(row["tags"]),
        links={"self": f"/v1/traces/{row['trace_id']}"}
        | ({"session": session_path(row["session_id"])} if row["session_id"] else {}),
    )


def span(row: Row) -> Span:
    """A span row as the API model."""
    events = [SpanEvent(time=iso(t), name=n, attributes=as_dict(a))
              for t, n, a in zip(row["events_time_ns"], row["events_name"], row["events_attributes"], strict=True)]
    return Span(
        span_id=row["span_id"], parent_span_id=_opt(row["parent_span_id"]), name=row["name"], kind=row["kind"],
        span_type=row["span_type"], start_time=iso(row["start_ns"]), end_time=iso(row["end_ns"]),
        duration_ms=row["duration_ns"] / 1e6, status_code=row["status_code"],
        status_message=_opt(row["status_message"]), service_name=_opt(row["service_name"]),
        scope_name=_opt(row["scope_name"]), model=_opt(row["model"]), input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], total_tokens=row["total_tokens"], cost_usd=round(row["cost_usd"], 9),
        input=_opt(row["input"]), output=_opt(row["output"]), attributes=as_dict(row["attributes"]),
        resource_attributes=as_dict(row["resource_attributes"]), events=events,
    )


def page_meta(path: str, query: dict[str, Any], *, limit: int, offset: int, total: int) -> tuple[Pagination, Links]:
    """Pagination and self/next/prev links (carrying the other query parameters) of an offset page."""
    def link(at: int) -> str:
        return f"{path}?{urlencode({**query, 'limit': limit, 'offset': at})}"

    has_more = offset + limit < total
    return (
        Pagination(limit=limit, offset=offset, total=total, has_more=has_more),
        Links(self=link(offset), next=link(offset + limit) if has_more else None,
              prev=link(max(offset - limit, 0)) if offset > 0 else None),
    )
