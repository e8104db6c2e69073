"""Scores of sessions and traces, and the one definition of a session's ``quality_score``.

``quality_score`` is the mean of the session's live numeric scores named ``quality`` (null when it has none);
boolean scores count as 0/1 only when named ``quality``; categorical scores never count.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pyarrow as pa

from threadline.store.gateway import Store

# Per-session quality of one project: join it ``USING (session_id)`` / ``ON q.session_id = r.session_id``.
_QUALITY = """
SELECT target_id AS session_id, avg(numeric_value) AS quality_score
FROM {{db}}.scores FINAL
WHERE project_id = {{project_id:String}} AND target = 'session' AND name = 'quality' AND deleted = 0
  AND data_type IN ('numeric', 'boolean'){sessions}
GROUP BY target_id
"""
QUALITY_BY_SESSION = _QUALITY.format(sessions="")
# The same, of the sessions bound as ``{ids:Array(String)}`` only (their keys found through the primary key).
QUALITY_OF_SESSIONS = _QUALITY.format(sessions=" AND target_id IN {ids:Array(String)}")


@dataclass(frozen=True)
class Score:
    """A score of a session or trace. ``value`` is a float (numeric), bool (boolean) or str (categorical)."""

    score_id: str
    target: str
    target_id: str
    name: str
    data_type: str
    value: float | bool | str
    comment: str
    source: str
    created_at_ms: int


def _value(data_type: str, numeric: float, text: str) -> float | bool | str:
    if data_type == "boolean":
        return bool(numeric)
    if data_type == "categorical":
        return text
    return numeric


def add_score(store: Store, project_id: str, target: str, target_id: str, *, name: str,
              value: float | bool | str, comment: str, source: str) -> Score:
    """Record a score; its data type follows the value (bool → boolean, number → numeric, str → categorical)."""
    data_type = "boolean" if isinstance(value, bool) else "categorical" if isinstance(value, str) else "numeric"
    score = Score(uuid.uuid4().hex, target, target_id, name, data_type, value, comment, source,
                  time.time_ns() // 1_000_000)
    _write(store, project_id, score, deleted=False)
    return score


def _write(store: Store, project_id: str, score: Score, *, deleted: bool) -> None:
    numeric = float(score.value) if not isinstance(score.value, str) else 0.0
    store.insert("scores", pa.table({
        "project_id": [project_id], "target": [score.target], "target_id": [score.target_id],
        "score_id": [score.score_id], "name": [score.name], "data_type": [score.data_type],
        "numeric_value": pa.array([numeric], pa.float64()),
        "string_value": [score.value if isinstance(score.value, str) else ""], "comment": [score.comment],
        "source": [score.source], "created_at": pa.array([score.created_at_ms], pa.timestamp("ms", tz="UTC")),
        "deleted": pa.array([int(deleted)], pa.uint8()), "version": pa.array([time.time_ns()], pa.uint64()),
    }), tag="scores.write")


def list_scores(store: Store, project_id: str, target: str, target_id: str) -> list[Score]:
    """Live scores of a session or trace, oldest first."""
    rows = store.select(
        "SELECT score_id, name, data_type, numeric_value, string_value, comment, source, "
        "toUnixTimestamp64Milli(created_at) AS created_ms FROM {db}.scores FINAL "
        "WHERE project_id = {project_id:String} AND target = {target:String} AND target_id = {target_id:String} "
        "AND deleted = 0 ORDER BY created_at, score_id",
        {"project_id": project_id, "target": target, "target_id": target_id}, tag="scores.list")
    return [Score(r["score_id"], target, target_id, r["name"], r["data_type"],
                  _value(r["data_type"], r["numeric_value"], r["string_value"]), r["comment"], r["source"],
                  int(r["created_ms"])) for r in rows]


def delete_scores(store: Store, project_id: str, target: str, target_id: str) -> int:
    """Mark every live score of a session or trace deleted; returns how many."""
    scores = list_scores(store, project_id, target, target_id)
    for score in scores:
        _write(store, project_id, score, deleted=True)
    return len(scores)
