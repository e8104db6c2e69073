"""GET /v1/sessions/metrics over real HTTP: the numbers of the known dataset of ``sessions_dataset`` over explicit,
clipped, one-sided and default windows, with list filters, and its 400s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import BACKENDS
from sessions_dataset import NOW, Dataset, assert_problem, serve_dataset


@pytest.fixture(scope="module", params=BACKENDS)
def dataset(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Dataset]:
    yield from serve_dataset(request, chdb_dir)


@pytest.fixture
def api(dataset: Dataset) -> httpx.Client:
    return dataset.client


def metrics(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/sessions/metrics", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def day(on: str, started: int = 0, active: int = 0, turns: int = 0, cost: float = 0.0,
        errors: int = 0) -> dict[str, Any]:
    return {"date": on, "sessions_started": started, "active_sessions": active, "turns": turns, "cost_usd": cost,
            "sessions_with_errors": errors}


def test_known_window(api: httpx.Client) -> None:
    body = metrics(api, start_time="2025-02-19T00:00:00Z", end_time="2025-03-04T23:59:59Z")
    assert (body["start_time"], body["end_time"]) == ("2025-02-19T00:00:00.000000Z", "2025-03-04T23:59:59.000000Z")
    # alpha, bravo, charlie, delta, echo (fox is active now, outside the window)
    assert (body["sessions"], body["sessions_with_errors"], body["total_tokens"]) == (5, 2, 6700)
    assert body["error_rate"] == pytest.approx(0.4)
    assert body["turns_per_session"] == {"total": 8, "avg": 1.6, "p50": 1, "p95": 3}  # turns 1, 1, 1, 2, 3
    cost = body["cost_per_session_usd"]  # costs 0, 0, 0.0006, 0.004, 0.0105
    assert cost["total"] == pytest.approx(0.0151) and cost["avg"] == pytest.approx(0.00302)
    assert (cost["p50"], cost["p95"]) == (pytest.approx(0.0006), pytest.approx(0.0105))
    days = {d["date"]: d for d in body["days"]}
    assert list(days) == [(date(2025, 2, 19) + timedelta(days=i)).isoformat() for i in range(14)]
    assert days["2025-02-20"] == day("2025-02-20", 1, 1, 1)
    assert days["2025-02-25"] == day("2025-02-25", 1, 1, 1)
    assert days["2025-03-01"] == day("2025-03-01", 1, 1, 3, pytest.approx(0.0105), 1)  # type: ignore[arg-type]
    assert days["2025-03-02"] == day("2025-03-02", 1, 1, 1, pytest.approx(0.0006))  # type: ignore[arg-type]
    assert days["2025-03-03"] == day("2025-03-03", 1, 1, 2, pytest.approx(0.004), 1)  # type: ignore[arg-type]
    assert days["2025-03-04"] == day("2025-03-04", 0, 1)  # charlie, started the day before, still active
    assert days["2025-02-21"] == day("2025-02-21")  # zero-filled
    assert sum(d["sessions_started"] for d in body["days"]) == 5


def test_clipped_window_counts_overlapping_sessions(api: httpx.Client) -> None:
    body = metrics(api, start_time="2025-03-04T00:00:00Z", end_time="1741219199")  # to 2025-03-05T23:59:59Z
    assert body["sessions"] == 1 and body["turns_per_session"]["p50"] == 2  # charlie overlaps the window
    assert body["days"] == [day("2025-03-04", 0, 1), day("2025-03-05")]


def test_filters_narrow_the_sessions(api: httpx.Client) -> None:
    body = metrics(api, start_time="2025-02-19T00:00:00Z", end_time="2025-03-04T23:59:59Z", user_id="u1")
    assert (body["sessions"], body["sessions_with_errors"], body["error_rate"]) == (2, 2, 1.0)
    body = metrics(api, start_time="2025-02-19T00:00:00Z", end_time="2025-03-04T23:59:59Z",
                   **{"metadata.plan": "enterprise"})
    assert body["sessions"] == 1 and body["cost_per_session_usd"]["total"] == pytest.approx(0.0006)


@pytest.mark.parametrize(("params", "sessions"), [
    ({"min_total_tokens": 2500}, 2),  # alpha, bravo (the summary's token sum once shadowed this column: a 500)
    ({"max_total_tokens": 2499}, 3),
    ({"min_trace_count": 2}, 2), ({"min_total_cost_usd": 0.001}, 2), ({"max_error_count": 0}, 3),
])
def test_range_filters_narrow_the_sessions(api: httpx.Client, params: dict[str, Any], sessions: int) -> None:
    body = metrics(api, start_time="2025-02-19T00:00:00Z", end_time="2025-03-04T23:59:59Z", **params)
    assert body["sessions"] == sessions


def test_one_sided_windows(api: httpx.Client) -> None:
    after = metrics(api, start_time="2025-03-01T00:00:00Z")  # to 30 days later
    assert after["end_time"] == "2025-03-31T00:00:00.000000Z" and after["sessions"] == 3
    before = metrics(api, end_time="2025-02-26T00:00:00Z")  # from 30 days before
    assert before["start_time"] == "2025-01-27T00:00:00.000000Z" and before["sessions"] == 2
    assert len(before["days"]) == 31


def test_default_window_is_the_last_30_days(api: httpx.Client) -> None:
    body = metrics(api)
    end = datetime.fromisoformat(body["end_time"].replace("Z", "+00:00"))
    start = datetime.fromisoformat(body["start_time"].replace("Z", "+00:00"))
    assert end - start == timedelta(days=30) and abs((end - datetime.now(end.tzinfo)).total_seconds()) < 60
    assert body["sessions"] == 1 and body["turns_per_session"]["total"] == 2  # s-fox only
    assert len(body["days"]) == 31
    fox_day = (NOW - timedelta(minutes=10)).date().isoformat()
    assert [d["date"] for d in body["days"] if d["sessions_started"]] == [fox_day]


def test_empty_window(api: httpx.Client) -> None:
    body = metrics(api, start_time="2020-01-01T00:00:00Z", end_time="2020-01-02T00:00:00Z")
    assert (body["sessions"], body["error_rate"], body["total_tokens"]) == (0, None, 0)
    assert body["turns_per_session"] == {"total": 0, "avg": None, "p50": None, "p95": None}
    assert body["days"] == [day("2020-01-01"), day("2020-01-02")]


@pytest.mark.parametrize(("params", "status", "word"), [
    ({"start_time": "2025-03-02T00:00:00Z", "end_time": "2025-03-01T00:00:00Z"}, 400, "after end_time"),
    ({"start_time": "2000-01-01T00:00:00Z", "end_time": "2025-03-01T00:00:00Z"}, 400, "1000 days"),
    ({"limit": 10}, 400, "limit"),
    ({"start_time": "tomorrow"}, 400, "start_time"),
])
def test_invalid_metrics_requests(api: httpx.Client, params: dict[str, Any], status: int, word: str) -> None:
    assert_problem(api.get("/v1/sessions/metrics", params=params), status, word)
