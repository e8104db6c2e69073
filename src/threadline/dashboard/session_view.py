"""What the session detail page shows, read through the query layer and the API presenters (one definition of every
stat): the session and its computed stats, a page of turns with their texts rendered and their span trees, the idle
gaps, the first entries of its log, its scores and its user-set fields.

One statement per section whatever the number of turns: the page's turns, their spans (one ``IN`` read), the idle
gaps, per-model usage, time to first token, the log page (and its count), the scores and the annotation.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from threadline.api import present, present_reads
from threadline.api.read_schemas import LogEntry, SessionStats, TimelineSpan, TimelineTurn
from threadline.api.routers.scores import score_out
from threadline.api.schemas import Session, Trace
from threadline.api.write_schemas import ScoreOut
from threadline.dashboard import render, waterfall
from threadline.queries import session_reads as reads
from threadline.queries import sessions as q
from threadline.queries.annotations import Annotation, get_annotation
from threadline.queries.scores import list_scores
from threadline.store.gateway import Row, Store

TURNS_PER_PAGE = 200
LOG_ENTRIES = 100
IDLE_GAP_S = 60.0  # default threshold of the idle gaps shown between turns (the API's default is 300 s)


@dataclass(frozen=True)
class TimelineBar:
    """One span of the waterfall: the presented span and its bar inside its turn's row."""

    span: TimelineSpan
    bar: waterfall.Bar


@dataclass(frozen=True)
class Turn:
    """One turn of the conversation: its trace rollup (``present.trace``), its texts as safe HTML, its spans for the
    waterfall (each on the turn's axis) and its own bar on the session's axis."""

    trace: Trace
    input_html: Markup
    output_html: Markup
    timeline: TimelineTurn
    bars: list[TimelineBar]
    in_session: waterfall.Bar

    @property
    def gap_before_ms(self) -> float | None:
        """The idle gap before this turn (ms), when longer than the page's threshold (kept on ``timeline``)."""
        return self.timeline.idle_gap_before_ms


@dataclass(frozen=True)
class SessionPage:
    """Everything the session page renders. ``offset`` and ``per_page`` place ``turns`` among the session's
    ``stats.trace_count`` turns; ``user_fields`` holds what the user set (the edit form's values), while ``session``
    merges them with what spans reported."""

    session: Session
    stats: SessionStats
    turns: list[Turn]
    offset: int
    per_page: int
    logs: list[LogEntry]
    log_total: int
    scores: list[ScoreOut]
    user_fields: Annotation

    @property
    def api_path(self) -> str:
        """The session's API path (``/v1/sessions/<percent-encoded id>``)."""
        return present.session_path(self.session.session_id)


def _turn(row: Row, spans: list[Row], origin_ns: int, gap_ms: float | None, wall_ms: float) -> Turn:
    timeline = present_reads.timeline_turn(row, spans, origin_ns, gap_ms)
    bars = [TimelineBar(s, waterfall.bar(s.start_offset_ms, s.duration_ms, timeline.start_offset_ms,
                                         timeline.duration_ms)) for s in timeline.spans]
    trace = present.trace(row)
    return Turn(trace, render.render(trace.input), render.render(trace.output), timeline, bars,
                waterfall.bar(timeline.start_offset_ms, timeline.duration_ms, 0.0, wall_ms))


def read_session_page(store: Store, project_id: str, session_id: str, *, offset: int = 0,
                      per_page: int = TURNS_PER_PAGE, idle_gap_s: float = IDLE_GAP_S,
                      idle_timeout_s: float = 1800.0) -> SessionPage | None:
    """The page of ``session_id`` in ``project_id`` showing turns ``offset + 1 .. offset + per_page``, idle gaps
    longer than ``idle_gap_s`` seconds, the first :data:`LOG_ENTRIES` log entries; None when the project has no
    such session. ``idle_timeout_s`` decides the ``active`` end state (settings). Raises StoreError."""
    row = q.get_session(store, project_id, session_id)
    if row is None:
        return None
    origin = int(row["first_seen_ns"])
    page = q.session_traces(store, project_id, session_id, limit=per_page, offset=offset, with_total=False)
    spans = reads.turn_spans(store, project_id, [t["trace_id"] for t in page.rows])
    gaps = reads.idle_gaps(store, project_id, session_id, idle_gap_s * 1000)
    stats = present_reads.stats(row, reads.model_usage(store, project_id, session_id),
                                reads.time_to_first_token(store, project_id, session_id), gaps,
                                idle_gap_s=idle_gap_s, idle_timeout_s=idle_timeout_s)
    logs = reads.session_logs(store, project_id, session_id, reads.LogQuery(
        first_seen_ns=origin, last_seen_ns=int(row["last_seen_ns"])), limit=LOG_ENTRIES, offset=0)
    scores = list_scores(store, project_id, "session", session_id)
    by_trace: dict[str, list[Row]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    gap_before = {g["after_turn"] + 1: float(g["gap_ms"]) for g in gaps}
    wall_ms = float(row["wall_duration_ms"])
    turns = [_turn(t, by_trace.get(t["trace_id"], []), origin, gap_before.get(t["turn"]), wall_ms)
             for t in page.rows]
    return SessionPage(
        session=present.session(row, idle_timeout_s), stats=stats, turns=turns, offset=offset, per_page=per_page,
        logs=[present_reads.log_entry(r) for r in logs.rows], log_total=logs.total,
        scores=[score_out(s) for s in scores],
        user_fields=get_annotation(store, project_id, session_id) or Annotation())
