"""Scores of sessions and traces, and the one definition of a session's ``quality_score``.

``quality_score`` is the mean of the session's live numeric scores named ``quality`` (null when it has none);
boolean scores count as 0/1 only when named ``quality``; categorical scores never count.
"""

from __future__ import annotations

# Per-session quality of one project: join it ``USING (session_id)`` / ``ON q.session_id = r.session_id``.
QUALITY_BY_SESSION = """
SELECT target_id AS session_id, avg(numeric_value) AS quality_score
FROM {db}.scores FINAL
WHERE project_id = {project_id:String} AND target = 'session' AND name = 'quality' AND deleted = 0
  AND data_type IN ('numeric', 'boolean')
GROUP BY target_id
"""
