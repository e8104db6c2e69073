"""What the trace detail page shows: the trace's rollup and its span tree (depth first), each span with its bar on
the trace's time axis, texts rendered, attributes and events. Read with ``queries.sessions.get_trace`` and presented
with the API's presenters (``present.trace``/``present.span``, ``present_reads.span_tree``)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from threadline.api import present, present_reads
from threadline.api.schemas import Span, SpanEvent, Trace
from threadline.dashboard import render, waterfall
from threadline.queries import sessions as q
from threadline.store.gateway import Store

# Span texts are shown whole up to this many characters (the conversation view cuts sooner).
TEXT_LIMIT = 200_000


@dataclass(frozen=True)
class Attribute:
    """One attribute of a span: its key and its value as safe HTML (JSON values pretty-printed)."""

    key: str
    value: Markup


@dataclass(frozen=True)
class Event:
    """A span event with its time as an offset from the trace start (ms)."""

    event: SpanEvent
    offset_ms: float
    attributes: list[Attribute]


@dataclass(frozen=True)
class TraceSpan:
    """One span of the tree: the presented span, its depth (0 for a root), whether it has children, its bar on the
    trace's axis, its start as an offset from the trace start (ms), its texts, attributes and events."""

    span: Span
    depth: int
    has_children: bool
    bar: waterfall.Bar
    offset_ms: float
    input_html: Markup
    output_html: Markup
    attributes: list[Attribute]
    resource_attributes: list[Attribute]
    events: list[Event]


@dataclass(frozen=True)
class TracePage:
    """The trace's rollup and its spans, depth first."""

    trace: Trace
    spans: list[TraceSpan]


def attributes(values: dict[str, str], *, skip: frozenset[str] = frozenset()) -> list[Attribute]:
    """``values`` sorted by key, without the values in ``skip`` (texts shown elsewhere); JSON objects and arrays
    pretty-printed, other values escaped as they are."""
    out = []
    for key in sorted(values):
        value = values[key]
        if value in skip:
            continue
        parsed = render.parse_json(value)
        shown = render.json_block(parsed) if parsed is not None else Markup("{}").format(value)
        out.append(Attribute(key, shown))
    return out


def read_trace_page(store: Store, project_id: str, trace_id: str) -> TracePage | None:
    """The page of ``trace_id`` (lower-cased, as the API does) in ``project_id``; None when unknown there.
    Raises StoreError."""
    found = q.get_trace(store, project_id, trace_id.lower())
    if found is None:
        return None
    rollup, rows = found
    origin = int(rollup["start_ns"])
    duration_ms = (int(rollup["end_ns"]) - origin) / 1e6
    parents = {r["parent_span_id"] for r in rows}
    spans = []
    for row, depth in present_reads.span_tree(rows):
        span = present.span(row)
        offset = (int(row["start_ns"]) - origin) / 1e6
        texts = frozenset(t for t in (span.input, span.output) if t)
        events = [Event(e, (int(t) - origin) / 1e6, attributes(e.attributes))
                  for e, t in zip(span.events, row["events_time_ns"], strict=True)]
        spans.append(TraceSpan(
            span=span, depth=depth, has_children=span.span_id in parents,
            bar=waterfall.bar(offset, span.duration_ms, 0.0, duration_ms), offset_ms=offset,
            input_html=render.render(span.input, limit=TEXT_LIMIT),
            output_html=render.render(span.output, limit=TEXT_LIMIT),
            attributes=attributes(span.attributes, skip=texts),
            resource_attributes=attributes(span.resource_attributes), events=events))
    return TracePage(present.trace(rollup), spans)
