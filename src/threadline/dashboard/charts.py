"""Charts as inline SVG, rendered on the server: bar, line and sparkline.

Each takes a series of ``(label, value)`` points (``value`` None: no data for that point, drawn as a gap) and returns
the SVG markup as :class:`markupsafe.Markup` (every label and value escaped), ready to place in a template. Every
chart is an image with an accessible name: ``role="img"``, a ``<title>`` (the chart's title) and a ``<desc>`` (the
number of points, the range and the last value, formatted by ``fmt``); each bar or point carries its own ``<title>``
(``label: value``), which browsers show as a tooltip. Geometry is in SVG user units; CSS scales the chart to its
container (``width: 100%``), so one ``viewBox`` fits every screen. Colours come from ``app.css`` classes
(``bar``, ``line``, ``point``, ``axis``, ``tick``, ``spark``), with an optional ``tone`` (``alt`` or ``bad``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Point = tuple[str, float | None]
Format = Callable[[float], str]
_ids = itertools.count(1)
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 4.0, 4.0, 14.0, 16.0


def _plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def _frame(title: str, desc: str, width: float, height: float, body: str, css: str) -> Markup:
    chart_id = f"chart-{next(_ids)}"
    return Markup(
        f'<svg class="{css}" viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>{body}</svg>')


def describe(points: Sequence[Point], fmt: Format = _plain) -> str:
    """A one-sentence summary of a series, for the chart's ``<desc>``: points, lowest, highest and last value."""
    values = [v for _, v in points if v is not None]
    if not values:
        return "No data."
    last = next(v for _, v in reversed(points) if v is not None)
    return (f"{len(points)} points from {points[0][0]} to {points[-1][0]}; lowest {fmt(min(values))}, highest "
            f"{fmt(max(values))}, last {fmt(last)}.")


def _empty(title: str, width: float, height: float) -> Markup:
    body = (f'<text class="tick" x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle">No data in this '
            "window</text>")
    return _frame(title, "No data.", width, height, body, "chart-svg")


def _axis(points: Sequence[Point], top: float, fmt: Format, width: float, height: float) -> str:
    base = height - PAD_BOTTOM
    first, last = escape(points[0][0]), escape(points[-1][0])
    return (f'<line class="axis" x1="{PAD_LEFT:g}" y1="{base:g}" x2="{width - PAD_RIGHT:g}" y2="{base:g}"/>'
            f'<text class="tick" x="{PAD_LEFT:g}" y="{height - 3:g}">{first}</text>'
            f'<text class="tick" x="{width - PAD_RIGHT:g}" y="{height - 3:g}" text-anchor="end">{last}</text>'
            f'<text class="tick" x="{PAD_LEFT:g}" y="10">max {escape(fmt(top))}</text>')


def bar_chart(points: Sequence[Point], *, title: str, fmt: Format = _plain, width: float = 320,
              height: float = 110, tone: str = "") -> Markup:
    """Vertical bars, one per point, from zero to the value (negative values are drawn as zero)."""
    if not points or all(v is None for _, v in points):
        return _empty(title, width, height)
    top = max((v for _, v in points if v is not None), default=0.0) or 1.0
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(points)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, (label, value) in enumerate(points):
        shown = max(value or 0.0, 0.0)
        bar_h = max(shown / top * plot_h, 1.0 if shown else 0.0)
        x, y = PAD_LEFT + index * slot + gap / 2, PAD_TOP + plot_h - bar_h
        tip = f"{label}: {fmt(value) if value is not None else 'no data'}"
        # A full-height transparent hit area keeps the tooltip reachable for small bars.
        bars.append(f'<g><title>{escape(tip)}</title>'
                    f'<rect class="hit" x="{x:.2f}" y="{PAD_TOP:g}" width="{slot - gap:.2f}" height="{plot_h:g}" '
                    'fill="transparent"/>'
                    f'<rect class="bar {escape(tone)}" x="{x:.2f}" y="{y:.2f}" width="{slot - gap:.2f}" '
                    f'height="{bar_h:.2f}"/></g>')
    return _frame(title, describe(points, fmt), width, height, _axis(points, top, fmt, width, height) + "".join(bars),
                  "chart-svg")


def line_chart(points: Sequence[Point], *, title: str, fmt: Format = _plain, width: float = 320,
               height: float = 110, tone: str = "", floor: float | None = 0.0) -> Markup:
    """A line through the points (a gap where a value is None), with a dot per point. The value axis starts at
    ``floor`` (default 0; None: at the lowest value)."""
    values = [v for _, v in points if v is not None]
    if not values:
        return _empty(title, width, height)
    low = min(values) if floor is None else min(floor, min(values))
    top = max(values)
    span = (top - low) or 1.0
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(points) - 1, 1)
    segments: list[list[tuple[float, float]]] = [[]]
    dots = []
    for index, (label, value) in enumerate(points):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        x = PAD_LEFT + (index * step if len(points) > 1 else plot_w / 2)
        y = PAD_TOP + plot_h - (value - low) / span * plot_h
        segments[-1].append((x, y))
        dots.append(f'<circle class="point {escape(tone)}" cx="{x:.2f}" cy="{y:.2f}" r="2.5">'
                    f'<title>{escape(f"{label}: {fmt(value)}")}</title></circle>')
    paths = "".join(
        f'<polyline class="line {escape(tone)}" points="{" ".join(f"{x:.2f},{y:.2f}" for x, y in segment)}"/>'
        for segment in segments if len(segment) > 1)
    return _frame(title, describe(points, fmt), width, height,
                  _axis(points, top, fmt, width, height) + paths + "".join(dots), "chart-svg")


def sparkline(points: Sequence[Point], *, title: str, fmt: Format = _plain, width: float = 100,
              height: float = 24) -> Markup:
    """A small line without axes, for a table cell or a stat (values scaled between their lowest and highest)."""
    values = [v for _, v in points if v is not None]
    if not values:
        return _frame(title, "No data.", width, height, "", "spark-svg")
    low, span = min(values), (max(values) - min(values)) or 1.0
    step = (width - 2) / max(len(points) - 1, 1)
    coords = " ".join(f"{1 + index * step:.2f},{height - 1 - (value - low) / span * (height - 2):.2f}"
                      for index, (_, value) in enumerate(points) if value is not None)
    return _frame(title, describe(points, fmt), width, height, f'<polyline class="spark" points="{coords}"/>',
                  "spark-svg")
