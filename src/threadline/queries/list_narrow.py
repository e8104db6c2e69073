"""The sessions list's scan (its first statement) over only the columns a request needs.

Why: the list's first statement scans every session of the project (``session_rollups FINAL``) to filter and sort
it. Joined with the annotations and the quality scores for every row (``queries.session_row.LIST_SOURCE``), each
scanned row also probes two hash tables, which at 200k sessions doubled the statement's time even with both tables
empty (measured ~12 ms against ~25 ms). So :func:`source` selects only the aliases the filters and sort read, joins
the annotations only when one of those comes from them (a user id, tags, metadata, bookmark or end state filter),
and the quality scores only for the quality sort. Without the annotation join, sessions deleted through the API are
left out by an anti-join against the project's (few) deleted annotations. The values of the page's rows that come
from annotations and scores (the row cache's annotation stamp, ``quality_score``, the annotated end state) are then
read for the page's ids only (:func:`page_extras`, which also serve the page's full rows,
:mod:`threadline.queries.session_parts`), and ``derived_end_state`` follows from them by
:func:`threadline.queries.end_state.derive`, the Python twin of the SQL rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.queries import session_parts as parts
from threadline.queries.end_state import END_STATE_SQL, derive
from threadline.queries.session_row import (
    ANNOTATED,
    ANNOTATION_JOIN,
    FILTER_ONLY,
    NO_ANNOTATION,
    QUALITY_JOIN,
    SCORED,
    SESSION_FIELDS,
)
from threadline.queries.side_by_side import both
from threadline.store.gateway import Row, Store

# What the scan returns of every row besides the sort key, for page_extras and the row cache.
SCANNED: tuple[str, ...] = ("version_ns", "reported_end_state", "last_seen_ns")
_END_STATE_INPUTS = frozenset({"annotated_end_state", "reported_end_state", "last_seen_ns"})
# A session deleted through the API has a live annotation with ``deleted = 1`` (and stays out of every list).
_DELETED = ("SELECT session_id FROM {db}.session_annotations FINAL "
            "WHERE project_id = {project_id:String} AND deleted = 1")
_LIVE_WITH_ANNOTATION = "a.deleted = 0"
_LIVE_WITHOUT = f"r.session_id NOT IN ({_DELETED})"

_COUNT = "SELECT count() AS total FROM {db}.session_rollups FINAL WHERE project_id = {project_id:String}"


def count_live(store: Store, project_id: str) -> int:
    """The number of live sessions of the project: all of them less those deleted through the API (and not yet
    tombstoned by their deletion job). The deleted ones are few and rare, so they are read first and, when there
    are any, counted by primary key; the anti-join of :func:`source` would read and look up every session id, and a
    single statement with both as subqueries cost chDB more than the two (50k sessions: 8 ms against 4)."""
    params: dict[str, Any] = {"project_id": project_id}
    deleted = [row["session_id"] for row in store.select(_DELETED, params, tag="sessions.list_deleted")]
    sql = _COUNT if not deleted else (
        f"SELECT ({_COUNT}) - ({_COUNT} AND session_id IN {{deleted:Array(String)}}) AS total")
    return int(store.select(sql, params | {"deleted": deleted}, tag="sessions.list_count")[0]["total"])


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
    known = SESSION_FIELDS | FILTER_ONLY
    unknown = needed - known.keys()
    if unknown:
        raise KeyError(f"not a session row column: {', '.join(sorted(unknown))}")
    selected = [f"{expression} AS {alias}" for alias, expression in known.items() if alias in needed]
    if derived:
        selected.append(f"{END_STATE_SQL} AS derived_end_state")
    annotated = bool(needed & ANNOTATED)
    joins = (ANNOTATION_JOIN if annotated else "") + (QUALITY_JOIN if needed & SCORED else "")
    live = _LIVE_WITH_ANNOTATION if annotated else _LIVE_WITHOUT
    return (f"SELECT {', '.join(selected)} FROM {{db}}.session_rollups AS r FINAL{joins}\n"
            f"WHERE r.project_id = {{project_id:String}} AND {live}")


@dataclass(frozen=True)
class PageExtras:
    """The annotations and quality scores of a page's sessions, by session id (as
    :func:`threadline.queries.session_parts.annotation_rows` and ``quality_scores`` return them)."""

    annotations: dict[str, Row]
    quality: dict[str, float]


def page_extras(store: Store, project_id: str, found: list[Row], now_ns: int, idle_timeout_ns: int) -> PageExtras:
    """Complete the rows ``found`` by a :func:`source` scan (each with ``session_id``, ``reported_end_state``
    and ``last_seen_ns``, ns) in place with ``annotation_updated_ns`` (ns; 0 without an annotation),
    ``quality_score`` (None when unscored) and ``derived_end_state`` at ``now_ns`` (ns since the epoch); returns
    the annotations and scores read, for the page's full rows. Two statements over the page's ids, run side by side
    (two small selects cost chDB what one UNION of them does, and their rows complete the full rows without joins).
    Raises StoreError."""
    ids = [row["session_id"] for row in found]
    extras = PageExtras(*both(lambda: parts.annotation_rows(store, project_id, ids),
                              lambda: parts.quality_scores(store, project_id, ids)))
    for row in found:
        annotation = extras.annotations.get(row["session_id"], NO_ANNOTATION)
        row["annotation_updated_ns"] = int(annotation["updated_ns"])
        row["quality_score"] = extras.quality.get(row["session_id"])
        row["derived_end_state"] = derive(str(annotation["end_state"]), row["reported_end_state"],
                                          int(row["last_seen_ns"]), now_ns, idle_timeout_ns)
    return extras
