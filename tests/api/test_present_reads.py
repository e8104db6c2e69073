"""The span tree order of the timeline: depth first, siblings by start, orphans as roots, cycles listed once."""

from __future__ import annotations

from typing import Any

from threadline.api.present_reads import span_tree


def row(span_id: str, parent: str, start: int) -> dict[str, Any]:
    return {"span_id": span_id, "parent_span_id": parent, "start_ns": start}


def shape(spans: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(span["span_id"], depth) for span, depth in span_tree(spans)]


def test_depth_first_with_siblings_by_start_time() -> None:
    spans = [row("c2", "b", 30), row("b", "a", 10), row("a", "", 0), row("c1", "b", 20), row("d", "a", 15)]
    assert shape(spans) == [("a", 0), ("b", 1), ("c1", 2), ("c2", 2), ("d", 1)]


def test_spans_whose_parent_is_missing_are_roots() -> None:
    spans = [row("late-root", "", 50), row("orphan", "ffffffffffffffff", 5), row("child", "orphan", 6)]
    assert shape(spans) == [("orphan", 0), ("child", 1), ("late-root", 0)]


def test_equal_starts_order_by_span_id() -> None:
    assert shape([row("b", "", 0), row("a", "", 0)]) == [("a", 0), ("b", 0)]


def test_a_parent_cycle_lists_every_span_once() -> None:
    spans = [row("root", "", 0), row("x", "y", 5), row("y", "x", 6)]
    assert shape(spans) == [("root", 0), ("x", 0), ("y", 1)]


def test_no_spans() -> None:
    assert span_tree([]) == []
