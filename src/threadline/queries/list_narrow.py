"""The sessions list's scan (its first statement) over only the columns a request needs.

Why: the list's first statement scans every session of the project (``session_rollups FINAL``) to filter and sort
it. Joined with the annotations and the quality scores for every row (``queries.session_row.LIST_SOURCE``), each
scanned row also probes two hash tables, which at 200k sessions doubled the statement's time even with both tables
empty (measured ~12 ms against ~25 ms). So :func:`source` selects only the aliases the filters and sort read, joins
the annotations only when one of those comes from them (a user id, tags, metadata, bookmark or end state filter),
and the quality scores only for the quality sort. Without the annotation join, sessions deleted through the API are
left out by an anti-join against the project's (few) deleted annotations. The values of the page's rows that come
from annotations and scores (the row cache's annotation stamp, ``quality_score``, the annotated end state) are then
read for the page's ids only (:func:`page_extras`), and ``derived_end_state`` follows from them by
:func:`threadline.queries.end_state.derive`, the Python twin of the SQL rule.
"""

from __future__ import annotations

from typing import Any

from threadline.queries.end_state import END_STATE_SQL, derive
from threadline.queries.scores import QUALITY_BY_SESSION
from threadline.queries.session_row import ANNOTATED, ANNOTATION_JOIN, QUALITY_JOIN, SCORED, SESSION_FIELDS
from threadline.store.gateway import Row, Store

_NS = "toUnixTimestamp64Nano"

# What the scan returns of every row besides the sort key, for page_extras and the row cache.
SCANNED: tuple[str, ...] = ("version_ns", "reported_end_state", "last_seen_ns")
_END_STATE_INPUTS = frozenset({"annotated_end_state", "reported_end_state", "last_seen_ns"})
# A session deleted through the API has a live annotation with ``deleted = 1`` (and stays out of every list).
_DELETED = ("SELECT session_id FROM {db}.session_annotations FINAL "
            "WHERE project_id = {project_id:String} AND deleted = 1")
_LIVE_WITH_ANNOTATION = "a.deleted = 0"
_LIVE_WITHOUT = f"r.session_id NOT IN ({_DELETED})"

# The number of live sessions of the project: all of them less those deleted through the API. Counted this way, the
# primary key finds the (few) deleted ones, where the anti-join of _LIVE_WITHOUT read and looked up every session id
# (1M sessions: 7 ms against 12 ms).
COUNT_LIVE = f"""
SELECT (SELECT count() FROM {{db}}.session_rollups FINAL WHERE project_id = {{project_id:String}})
     - (SELECT count() FROM {{db}}.session_rollups FINAL WHERE project_id = {{project_id:String}}
        AND session_id IN ({_DELETED})) AS total
"""

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


def source(columns: frozenset[str]) -> str:
    """A SELECT of the project's live session rows with the aliases ``columns`` (of
    :data:`~threadline.queries.session_row.SESSION_FIELDS`, or ``derived_end_state``) and :data:`SCANNED`, joining
    annotations and quality scores only when those aliases need them. Binds ``project_id`` (and ``now_ns``,
    ``idle_ns`` with ``derived_end_state``). Raises KeyError on an unknown alias."""
    needed = set(columns) | {"session_id", *SCANNED}
    derived = "derived_end_state" in needed
    if derived:
        needed |= _END_STATE_INPUTS
        needed.remove("derived_end_state")
    unknown = needed - SESSION_FIELDS.keys()
    if unknown:
        raise KeyError(f"not a session row column: {', '.join(sorted(unknown))}")
    selected = [f"{expression} AS {alias}" for alias, expression in SESSION_FIELDS.items() if alias in needed]
    if derived:
        selected.append(f"{END_STATE_SQL} AS derived_end_state")
    annotated = bool(needed & ANNOTATED)
    joins = (ANNOTATION_JOIN if annotated else "") + (QUALITY_JOIN if needed & SCORED else "")
    live = _LIVE_WITH_ANNOTATION if annotated else _LIVE_WITHOUT
    return (f"SELECT {', '.join(selected)} FROM {{db}}.session_rollups AS r FINAL{joins}\n"
            f"WHERE r.project_id = {{project_id:String}} AND {live}")


def page_extras(store: Store, project_id: str, found: list[Row], now_ns: int, idle_timeout_ns: int) -> None:
    """Complete the rows ``found`` by a :func:`source` scan (each with ``session_id``, ``reported_end_state``
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
