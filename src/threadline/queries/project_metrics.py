"""Project-level session metrics over a time window: what a dashboard's charts need.

Over the sessions whose activity overlaps the window (and match any other list filter): how many, how many had an
error span (and the rate), tokens, and the distribution of turns and of cost per session (sum, mean, exact
nearest-rank p50/p95, ``quantileExact``). Per UTC day of the window: sessions started that day, sessions active that
day (a session spanning days counts on each), and turns, cost and sessions with errors of the sessions started
that day. Days without sessions are zero-filled here, so a chart gets every day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from threadline.queries.filters import SessionFilters, where
from threadline.queries.session_row import LIST_SOURCE
from threadline.store.gateway import Row, Store

MAX_DAYS = 1000

# No alias may take the name of a column the filters use: ClickHouse resolves the WHERE's names to the aliases first
# (``sum(total_tokens) AS total_tokens`` made ``min_total_tokens`` an aggregate in WHERE, a query error).
SUMMARY = """
SELECT count() AS sessions, countIf(error_count > 0) AS sessions_with_errors, sum(total_tokens) AS tokens_total,
       sum(trace_count) AS turns_total, avg(trace_count) AS turns_avg,
       quantileExact(0.5)(trace_count) AS turns_p50, quantileExact(0.95)(trace_count) AS turns_p95,
       sum(total_cost_usd) AS cost_total, avg(total_cost_usd) AS cost_avg,
       quantileExact(0.5)(total_cost_usd) AS cost_p50, quantileExact(0.95)(total_cost_usd) AS cost_p95
FROM ({source}) WHERE {conditions}
"""

# Each session is expanded to the days of the window it was active on (first to last activity, clipped).
DAYS = """
SELECT toString(day) AS date, count() AS active_sessions, countIf(day = first_day) AS sessions_started,
       sumIf(trace_count, day = first_day) AS turns, sumIf(total_cost_usd, day = first_day) AS cost_usd,
       countIf(day = first_day AND error_count > 0) AS sessions_with_errors
FROM (
    SELECT toDate(fromUnixTimestamp64Nano(first_seen_ns)) AS first_day,
           toDate(fromUnixTimestamp64Nano(last_seen_ns)) AS last_day, trace_count, total_cost_usd, error_count
    FROM ({source}) WHERE {conditions}
)
ARRAY JOIN arrayMap(d -> toDate(d), range(toUInt32(greatest(first_day, {{first_day:Date}})),
                                            toUInt32(least(last_day, {{last_day:Date}})) + 1)) AS day
GROUP BY day
ORDER BY day
"""


@dataclass(frozen=True)
class ProjectMetrics:
    """The summary row (see :data:`SUMMARY`; quantiles/averages are None without sessions) and one row per day of
    the window, in order (date as YYYY-MM-DD)."""

    summary: Row
    days: list[Row]


def utc_day(ns: int) -> dt.date:
    """The UTC date of a time in ns since the epoch (exact: no float rounding up to the next day)."""
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).date()


def day_count(start_ns: int, end_ns: int) -> int:
    """How many UTC days the window touches."""
    return (utc_day(end_ns) - utc_day(start_ns)).days + 1


def project_metrics(store: Store, project_id: str, filters: SessionFilters, *, now_ns: int,
                    idle_timeout_ns: int) -> ProjectMetrics:
    """Metrics of ``project_id``'s sessions matching ``filters``, whose ``start_ns`` and ``end_ns`` must be set
    (the window). Raises ValueError when the window spans more than MAX_DAYS days; StoreError."""
    if filters.start_ns is None or filters.end_ns is None:
        raise ValueError("the metrics window needs both ends")
    if day_count(filters.start_ns, filters.end_ns) > MAX_DAYS:
        raise ValueError(f"the window spans more than {MAX_DAYS} days")
    conditions, params = where(filters.filters())
    first, last = utc_day(filters.start_ns), utc_day(filters.end_ns)
    params |= {"project_id": project_id, "now_ns": now_ns, "idle_ns": idle_timeout_ns, "first_day": first,
               "last_day": last}
    summary = store.select(SUMMARY.format(source=LIST_SOURCE, conditions=conditions), params,
                           tag="sessions.metrics_summary")[0]
    found = {row["date"]: row for row in store.select(DAYS.format(source=LIST_SOURCE, conditions=conditions), params,
                                                      tag="sessions.metrics_days")}
    days: list[Row] = []
    for offset in range((last - first).days + 1):
        date = (first + dt.timedelta(days=offset)).isoformat()
        empty: dict[str, Any] = {"date": date, "active_sessions": 0, "sessions_started": 0, "turns": 0,
                                 "cost_usd": 0.0, "sessions_with_errors": 0}
        days.append(found.get(date, empty))
    if not summary["sessions"]:
        summary |= {key: None for key in ("turns_avg", "turns_p50", "turns_p95", "cost_avg", "cost_p50", "cost_p95")}
    return ProjectMetrics(summary, days)
