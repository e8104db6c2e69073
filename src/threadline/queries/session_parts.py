"""Full session rows read in parts by session id, without joins: rollups, annotations and quality scores.

Why: chDB plans and runs each join for several ms whatever its size. ``GET /v1/sessions/{id}`` read its one row
through the two joins of ``session_row.SESSION_FROM`` in 19-22 ms at 50k sessions, against ~7 ms for the rollup row
alone and ~2 ms each for the annotation and the quality score found by primary key (the three are read side by
side). The parts are assembled by :func:`threadline.queries.session_row.combine`, the Python twin of the joined
expressions. Sessions deleted through the API (annotation ``deleted``) are left out, as ``SESSION_FROM``'s
``a.deleted = 0`` does.
"""

from __future__ import annotations

from collections.abc import Mapping

from threadline.queries.scores import QUALITY_OF_SESSIONS
from threadline.queries.session_row import ANNOTATION_COLUMNS, ROLLUP_COLUMNS, combine
from threadline.queries.side_by_side import all_three
from threadline.store.gateway import Row, Store


def _by_session_id(store: Store, columns: str, source: str, project_id: str, session_ids: list[str],
                   tag: str) -> dict[str, Row]:
    """``columns`` of the rows of ``source`` (a table, ``FINAL`` and alias included) of ``session_ids``, by
    session id (one primary-key read). Raises StoreError."""
    if not session_ids:
        return {}
    rows = store.select(
        f"SELECT {columns} FROM {{db}}.{source} WHERE project_id = {{project_id:String}} "
        "AND session_id IN {ids:Array(String)}", {"project_id": project_id, "ids": session_ids}, tag=tag)
    return {row["session_id"]: row for row in rows}


def annotation_rows(store: Store, project_id: str, session_ids: list[str]) -> dict[str, Row]:
    """The annotation rows (:data:`~threadline.queries.session_row.ANNOTATION_COLUMNS`; times as ns since the
    epoch) of those of ``session_ids`` that have one, by session id. Raises StoreError."""
    return _by_session_id(store, ANNOTATION_COLUMNS, "session_annotations FINAL", project_id, session_ids,
                          "sessions.annotations")


def quality_scores(store: Store, project_id: str, session_ids: list[str]) -> dict[str, float]:
    """The quality scores (:mod:`threadline.queries.scores`) of those of ``session_ids`` that are scored, by session
    id. Raises StoreError."""
    if not session_ids:
        return {}
    rows = store.select(QUALITY_OF_SESSIONS, {"project_id": project_id, "ids": session_ids}, tag="sessions.quality")
    return {row["session_id"]: row["quality_score"] for row in rows}


def rollup_rows(store: Store, project_id: str, session_ids: list[str]) -> dict[str, Row]:
    """The ``session_rollups`` rows (:data:`~threadline.queries.session_row.ROLLUP_COLUMNS`) of those of
    ``session_ids`` that have one, by session id. Raises StoreError."""
    return _by_session_id(store, ROLLUP_COLUMNS, "session_rollups AS r FINAL", project_id, session_ids,
                          "sessions.rollups")


def session_rows(store: Store, project_id: str, session_ids: list[str], *,
                 annotated: Mapping[str, Row] | None = None, quality: Mapping[str, float] | None = None) -> list[Row]:
    """The full session rows (:data:`~threadline.queries.session_row.SESSION_FIELDS`' aliases) of ``session_ids``,
    in that order, leaving out ids without a rollup and sessions deleted through the API. ``annotated`` and
    ``quality``: the annotations and quality scores of these ids when the caller has read them already (as
    :func:`annotation_rows` and :func:`quality_scores` return them), else they are read here, beside the rollups
    (:mod:`threadline.queries.side_by_side`). Raises StoreError."""
    if not session_ids:
        return []
    annotations: Mapping[str, Row]
    scores: Mapping[str, float]
    if annotated is None or quality is None:
        rollups, annotations, scores = all_three(lambda: rollup_rows(store, project_id, session_ids),
                                                 lambda: annotation_rows(store, project_id, session_ids),
                                                 lambda: quality_scores(store, project_id, session_ids))
    else:  # the list's page: its annotations and scores are read, only the rollups are left
        rollups, annotations, scores = rollup_rows(store, project_id, session_ids), annotated, quality
    out = []
    for session_id in session_ids:
        rollup, annotation = rollups.get(session_id), annotations.get(session_id)
        if rollup is not None and not (annotation and annotation["deleted"]):
            out.append(combine(rollup, annotation, scores.get(session_id)))
    return out
