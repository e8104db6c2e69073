"""Waterfall bar geometry: percent of the row, clamped, never invisible."""

from __future__ import annotations

from threadline.dashboard.waterfall import MIN_WIDTH_PCT, Bar, bar


def test_a_span_sits_at_its_share_of_the_row() -> None:
    assert bar(1250.0, 500.0, 1000.0, 1000.0) == Bar(25.0, 50.0)
    assert bar(1000.0, 1000.0, 1000.0, 1000.0) == Bar(0.0, 100.0)


def test_a_zero_length_span_keeps_the_minimum_width_inside_the_row() -> None:
    assert bar(2000.0, 0.0, 1000.0, 1000.0) == Bar(100.0 - MIN_WIDTH_PCT, MIN_WIDTH_PCT)
    assert bar(5.0, 3.0, 5.0, 0.0) == Bar(0.0, MIN_WIDTH_PCT)


def test_spans_outside_the_row_are_clamped_into_it() -> None:
    early = bar(900.0, 300.0, 1000.0, 1000.0)  # starts before its trace (clock skew)
    assert early.left == 0.0 and early.width == 30.0
    late = bar(1800.0, 900.0, 1000.0, 1000.0)  # ends after it
    assert late.left == 80.0 and late.left + late.width == 100.0
