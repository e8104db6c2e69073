"""The columns of a session row, defined once: the rollup, the annotation and the quality score joined.

A session row is its ``session_rollups`` row (``r``), the user-owned fields of its ``session_annotations`` row
(``a``; LEFT JOIN, so defaults when it has none) and its ``quality_score`` (``q``, see
:mod:`threadline.queries.scores`). :data:`SESSION_FIELDS` names each column once (alias → SQL expression); the
reads over many sessions select all of them (:data:`LIST_SOURCE`, project metrics) or, for the sessions list's scan,
only the ones a request needs (:mod:`threadline.queries.list_narrow`). Reads of given sessions (one session, a list
page's rows) take the three parts by primary key instead, without joins (:mod:`threadline.queries.session_parts`),
and :func:`combine` computes the mixed columns as the SQL does.
"""

from __future__ import annotations

from typing import Any

from threadline.queries.end_state import END_STATE_SQL
from threadline.queries.scores import QUALITY_BY_SESSION

_NS = "toUnixTimestamp64Nano"

# The columns of a session row: alias → expression over the rollup ``r``, its annotation ``a`` (LEFT JOIN: defaults
# when none) and its quality ``q``. Filters (queries.filters), sort keys (queries.sorting) and the end state rule
# refer to these aliases.
SESSION_FIELDS: dict[str, str] = {
    "session_id": "r.session_id", "project_id": "r.project_id", "name": "a.name",
    "user_id": "if(r.user_id != '', r.user_id, a.user_id)",
    **{name: f"r.{name}" for name in (
        "trace_count", "span_count", "llm_call_count", "tool_call_count", "error_count", "input_tokens",
        "output_tokens", "total_tokens", "total_cost_usd", "total_duration_ms", "wall_duration_ms", "avg_latency_ms",
        "p50_latency_ms", "p95_latency_ms")},
    "first_seen_ns": f"{_NS}(r.first_seen)", "last_seen_ns": f"{_NS}(r.last_seen)", "models": "r.models",
    "first_input": "r.first_input", "last_output": "r.last_output", "reported_end_state": "r.end_state",
    "annotated_end_state": "a.end_state", "previous_session_id": "r.previous_session_id",
    "metadata": "mapUpdate(CAST(r.metadata, 'Map(String, String)'), CAST(a.metadata, 'Map(String, String)'))",
    "tags": "arraySort(arrayDistinct(arrayConcat(r.tags, a.tags)))", "bookmarked": "a.bookmarked",
    "version_ns": "r.version", "annotation_created_ns": f"{_NS}(a.created_at)",
    "annotation_updated_ns": f"{_NS}(a.updated_at)",
    "quality_score": "if(q.session_id = '', NULL, q.quality_score)",
}
# The aliases read from the annotation, and from the quality scores (the others come from the rollup alone).
ANNOTATED = frozenset({"name", "user_id", "annotated_end_state", "metadata", "tags", "bookmarked",
                       "annotation_created_ns", "annotation_updated_ns"})
SCORED = frozenset({"quality_score"})
SESSION_COLUMNS = ",\n".join(f"    {expression} AS {alias}" for alias, expression in SESSION_FIELDS.items())

ANNOTATION_JOIN = """
LEFT JOIN (
    SELECT session_id, name, user_id, metadata, tags, bookmarked, end_state, deleted, created_at, updated_at
    FROM {db}.session_annotations FINAL WHERE project_id = {project_id:String}
) AS a ON a.session_id = r.session_id"""
QUALITY_JOIN = f"""
LEFT JOIN ({QUALITY_BY_SESSION}) AS q ON q.session_id = r.session_id"""

SESSION_FROM = f"""
FROM {{db}}.session_rollups AS r FINAL{ANNOTATION_JOIN}{QUALITY_JOIN}
WHERE r.project_id = {{project_id:String}} AND a.deleted = 0
"""

# A session row read in parts (queries.session_parts): the rollup's own columns, with the rollup's values of the
# fields an annotation overrides or extends under names of their own...
ROLLUP_OWN: dict[str, str] = {"rollup_user_id": "r.user_id", "rollup_metadata": "r.metadata", "rollup_tags": "r.tags"}
ROLLUP_COLUMNS = ", ".join([*(f"{expression} AS {alias}" for alias, expression in SESSION_FIELDS.items()
                              if alias not in ANNOTATED | SCORED),
                            *(f"{expression} AS {alias}" for alias, expression in ROLLUP_OWN.items())])
# ... and the annotation's columns (``a``), with the values a LEFT JOIN gives a session that has none.
ANNOTATION_COLUMNS = ("session_id, name, user_id, metadata, tags, bookmarked, end_state, deleted, "
                      f"{_NS}(created_at) AS created_ns, {_NS}(updated_at) AS updated_ns")
NO_ANNOTATION: dict[str, Any] = {"name": "", "user_id": "", "metadata": [], "tags": [], "bookmarked": 0,
                                 "end_state": "", "deleted": 0, "created_ns": 0, "updated_ns": 0}

# Columns that filters read besides the row's own (queries.filters.UserIs: the rollup's user id, for its index).
FILTER_ONLY: dict[str, str] = {"rollup_user_id": ROLLUP_OWN["rollup_user_id"]}

# A session row for lists: SESSION_COLUMNS plus the end state derived in SQL (the ``end_state`` filter and the value
# shown agree: same expression, same *now*). Filters (queries.filters) and sort keys (queries.sorting) refer to its
# column aliases.
LIST_SOURCE = (f"SELECT {SESSION_COLUMNS}, {END_STATE_SQL} AS derived_end_state, "
               f"{', '.join(f'{expression} AS {alias}' for alias, expression in FILTER_ONLY.items())} {SESSION_FROM}")


def combine(rollup: dict[str, Any], annotation: dict[str, Any] | None, quality: float | None) -> dict[str, Any]:
    """The session row (:data:`SESSION_FIELDS`' aliases, in order) of a rollup row read with
    :data:`ROLLUP_COLUMNS`, its annotation row read with :data:`ANNOTATION_COLUMNS` (None: it has none) and its
    quality score (None: unscored). The Python twin of SESSION_FIELDS' expressions over ``a`` and ``q``, value for
    value: ``mapUpdate`` keeps the rollup's entries whose key the annotation does not set, in order, then the
    annotation's; ``arraySort(arrayDistinct(...))`` sorts by code point, which is UTF-8's byte order. Maps are
    lists of (key, value) pairs, as rows carry them."""
    a = annotation or NO_ANNOTATION
    overridden = {key for key, _ in a["metadata"]}
    mixed = {
        "name": a["name"], "user_id": rollup["rollup_user_id"] or a["user_id"],
        "annotated_end_state": a["end_state"],
        "metadata": [(k, v) for k, v in rollup["rollup_metadata"] if k not in overridden] + list(a["metadata"]),
        "tags": sorted(set(rollup["rollup_tags"]) | set(a["tags"])), "bookmarked": a["bookmarked"],
        "annotation_created_ns": a["created_ns"], "annotation_updated_ns": a["updated_ns"], "quality_score": quality,
    }
    return {alias: mixed[alias] if alias in mixed else rollup[alias] for alias in SESSION_FIELDS}
