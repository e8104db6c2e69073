"""Geometry of waterfall bars: where a span's bar sits inside its trace's row, in percent of the row's width."""

from __future__ import annotations

from dataclasses import dataclass

# A bar is never narrower than this (percent of the row), so a 0 ms span stays visible and clickable.
MIN_WIDTH_PCT = 0.4


@dataclass(frozen=True)
class Bar:
    """A bar's ``left`` and ``width`` in percent of its row (0-100, ``left + width`` ≤ 100)."""

    left: float
    width: float


def bar(start_ms: float, duration_ms: float, row_start_ms: float, row_duration_ms: float) -> Bar:
    """The bar of a span starting at ``start_ms`` and lasting ``duration_ms`` in a row that spans
    ``row_start_ms`` .. ``row_start_ms + row_duration_ms`` (all ms on one axis, e.g. offsets from the session start).
    Spans reaching outside the row (clock skew between services) are clamped into it; a row of 0 ms puts every span
    at its start with the minimum width."""
    if row_duration_ms <= 0:
        return Bar(0.0, MIN_WIDTH_PCT)
    left = min(max((start_ms - row_start_ms) / row_duration_ms * 100, 0.0), 100.0 - MIN_WIDTH_PCT)
    width = min(max(duration_ms / row_duration_ms * 100, MIN_WIDTH_PCT), 100.0 - left)
    return Bar(round(left, 3), round(width, 3))
