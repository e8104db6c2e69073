"""SVG chart helpers and display filters: well-formed, accessible, escaped markup; gaps for missing values; the
numbers people read (costs, tokens, durations, relative times) formatted as the templates show them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from threadline.dashboard import charts
from threadline.dashboard.templating import compact, duration_ms, percent, relative, time_tag, usd

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # the helpers emit SVG without a namespace (inline in HTML); add it to parse as XML
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_bar_chart_is_an_image_with_a_name_a_description_and_a_bar_per_point() -> None:
    points = [("Nov 1", 3.0), ("Nov 2", 0.0), ("Nov 3", 7.0)]
    svg = parse(charts.bar_chart(points, title="Sessions per day"))
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Sessions per day"
    assert desc is not None and desc.text == "3 points from Nov 1 to Nov 3; lowest 0, highest 7, last 7."
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    bars = svg.findall(f".//{SVG}rect[@class='bar ']")
    assert len(bars) == 3
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[1] == 0 and heights[2] > heights[0] > 0
    assert [t.text for t in svg.findall(f"{SVG}g/{SVG}title")] == ["Nov 1: 3", "Nov 2: 0", "Nov 3: 7"]


def test_labels_and_titles_are_escaped() -> None:
    markup = charts.bar_chart([("<script>alert(1)</script>", 1.0)], title='"quoted" & <b>')
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert parse(markup).find(f"{SVG}title").text == '"quoted" & <b>'  # type: ignore[union-attr]


def test_line_chart_breaks_at_missing_values_and_formats_tooltips() -> None:
    points = [("a", 0.1), ("b", 0.2), ("c", None), ("d", 0.4), ("e", 0.3)]
    svg = parse(charts.line_chart(points, title="Error rate", fmt=percent, tone="bad"))
    assert len(svg.findall(f"{SVG}polyline")) == 2
    assert [c.find(f"{SVG}title").text for c in svg.findall(f"{SVG}circle")] == [  # type: ignore[union-attr]
        "a: 10.0%", "b: 20.0%", "d: 40.0%", "e: 30.0%"]
    assert "highest 40.0%" in (svg.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("draw", [charts.bar_chart, charts.line_chart, charts.sparkline])
def test_no_data(draw: charts.Format) -> None:
    for points in ([], [("a", None)]):
        svg = parse(draw(points, title="Empty"))  # type: ignore[call-arg]
        assert svg.find(f"{SVG}desc").text == "No data."  # type: ignore[union-attr]


def test_single_point_and_sparkline() -> None:
    assert parse(charts.line_chart([("only", 5.0)], title="One")).find(f"{SVG}circle") is not None
    spark = parse(charts.sparkline([("1", 1.0), ("2", 3.0), ("3", 2.0)], title="Tokens per turn"))
    line = spark.find(f"{SVG}polyline")
    assert line is not None and len((line.get("points") or "").split()) == 3


def test_chart_ids_are_unique_on_a_page() -> None:
    first, second = (parse(charts.bar_chart([("a", 1.0)], title="t")) for _ in range(2))
    assert first.get("aria-labelledby") != second.get("aria-labelledby")


@pytest.mark.parametrize(("value", "shown"), [
    (None, "—"), (0, "$0"), (0.5, "$0.50"), (0.002147, "$0.00215"), (0.0000123456, "$0.0000123"), (1.234, "$1.23"),
    (1234.5, "$1,234"),
])
def test_usd(value: float | None, shown: str) -> None:
    assert usd(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(950, "950"), (12_345, "12.3k"), (4_560_000, "4.56M"), (1e9, "1B")])
def test_compact(value: float, shown: str) -> None:
    assert compact(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (0.5, "0.50 ms"), (850, "850 ms"), (12_340, "12.3 s"), (245_000, "4m 05s"), (7_380_000, "2h 03m"),
    (3 * 86_400_000 + 4 * 3_600_000, "3d 4h"),
])
def test_duration_ms(value: float, shown: str) -> None:
    assert duration_ms(value) == shown


def test_relative_times_and_time_tag() -> None:
    now = 1_764_547_200.0  # 2025-12-01T00:00:00Z
    assert relative("2025-11-30T23:59:40Z", now) == "just now"
    assert relative("2025-11-30T23:55:00Z", now) == "5 min ago"
    assert relative("2025-11-30T21:00:00.000000Z", now) == "3 h ago"
    assert relative("2025-11-28T00:00:00Z", now) == "3 d ago"
    assert relative("2025-10-01T00:00:00Z", now) == "2025-10-01"
    assert relative("2025-12-01T00:05:00Z", now) == "in 5 min"
    tag = time_tag("2025-11-30T23:55:00Z")
    assert tag.startswith('<time datetime="2025-11-30T23:55:00Z" title="2025-11-30 23:55:00 UTC" data-relative>')
