"""The sessions list's first statement without joins, when neither its filters nor its sort read annotations or
scores.

Why: the list's first statement scans every session of the project (``session_rollups FINAL``) to filter and sort
it. Joined with the annotations and the quality scores (``queries.sessions.LIST_SOURCE``), every scanned row also
probes two hash tables, which at 200k sessions doubled the statement's time even with both tables empty (measured
~12 ms against ~25 ms). Most lists (the default ``-last_seen``, the cost and token sorts, range, model, error and
time filters) read rollup columns only, so for them the scan reads :data:`NARROW_SOURCE`: rollup columns, and sessions
deleted through the API left out by an anti-join against the project's (few) deleted annotations. The values of the
page's rows that come from annotations and scores (the row cache's annotation stamp, ``quality_score``, the annotated
end state) are then read for the page's ids only (:func:`page_extras`), and ``derived_end_state`` follows from them
by :func:`threadline.queries.end_state.derive`, the Python twin of the SQL rule.
"""

from __future__ import annotations

from typing import Any

from threadline.queries.end_state import derive
from threadline.queries.scores import QUALITY_BY_SESSION
from threadline.store.gateway import Row, Store

_NS = "toUnixTimestamp64Nano"

# alias → expression over session_rollups ``r``: the list row columns that come from the rollup alone (same aliases
# and values as queries.sessions.SESSION_COLUMNS).
ROLLUP_COLUMNS: dict[str, str] = {
    "session_id": "r.session_id",
    "version_ns": "r.version",
    "reported_end_state": "r.end_state",
    "models": "r.models",
    "first_seen_ns": f"{_NS}(r.first_seen)",
    "last_seen_ns": f"{_NS}(r.last_seen)",
    **{name: f"r.{name}" for name in (
        "trace_count", "span_count", "llm_call_count", "tool_call_count", "error_count", "input_tokens",
        "output_tokens", "total_tokens", "total_cost_usd", "total_duration_ms", "wall_duration_ms")},
}
NARROW_COLUMNS = frozenset(ROLLUP_COLUMNS)

# A session deleted through the API has a live annotation with ``deleted = 1`` (and stays out of every list).
NARROW_SOURCE = (
    "SELECT " + ", ".join(f"{expression} AS {alias}" for alias, expression in ROLLUP_COLUMNS.items())
    + """
FROM {db}.session_rollups AS r FINAL
WHERE r.project_id = {project_id:String} AND r.session_id NOT IN (
    SELECT session_id FROM {db}.session_annotations FINAL WHERE project_id = {project_id:String} AND deleted = 1)
""")

# Of the page's ids: their annotations' stamps and end states, and their quality scores, as one row per annotation
# and one per scored session (a UNION: chDB plans two small selects faster than two joins, measured 4.6 ms vs 8.6).
PAGE_EXTRAS = f"""
SELECT 'annotation' AS kind, session_id, {_NS}(updated_at) AS annotation_updated_ns,
       end_state AS annotated_end_state, CAST(NULL, 'Nullable(Float64)') AS quality_score
FROM {{db}}.session_annotations FINAL
WHERE project_id = {{project_id:String}} AND session_id IN {{ids:Array(String)}}
UNION ALL
SELECT 'quality', session_id, 0, '', quality_score FROM ({QUALITY_BY_SESSION}) WHERE session_id IN {{ids:Array(String)}}
"""


def usable(columns: frozenset[str], search: str | None) -> bool:
    """Whether a list whose filters and sort read ``columns`` (aliases) can scan :data:`NARROW_SOURCE`."""
    return search is None and columns <= NARROW_COLUMNS


def page_extras(store: Store, project_id: str, found: list[Row], now_ns: int, idle_timeout_ns: int) -> None:
    """Complete the rows ``found`` by a :data:`NARROW_SOURCE` scan (each with ``session_id``, ``reported_end_state``
    and ``last_seen_ns``, ns) in place with ``annotation_updated_ns`` (ns; 0 without an annotation),
    ``quality_score`` (None when unscored) and ``derived_end_state`` at ``now_ns`` (ns since the epoch). One
    statement over the page's ids. Raises StoreError."""
    if not found:
        return
    params: dict[str, Any] = {"project_id": project_id, "ids": [row["session_id"] for row in found]}
    annotations: dict[str, Row] = {}
    quality: dict[str, float] = {}
    for extra in store.select(PAGE_EXTRAS, params, tag="sessions.list_extras"):
        if extra["kind"] == "annotation":
            annotations[extra["session_id"]] = extra
        else:
            quality[extra["session_id"]] = extra["quality_score"]
    for row in found:
        annotation = annotations.get(row["session_id"], {})
        row["annotation_updated_ns"] = int(annotation.get("annotation_updated_ns", 0))
        row["quality_score"] = quality.get(row["session_id"])
        row["derived_end_state"] = derive(annotation.get("annotated_end_state", ""), row["reported_end_state"],
                                          int(row["last_seen_ns"]), now_ns, idle_timeout_ns)
