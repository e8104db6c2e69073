"""Project metrics helpers: day counting of a window and the window's bounds."""

from __future__ import annotations

import pytest

from threadline.queries.filters import SessionFilters
from threadline.queries.project_metrics import MAX_DAYS, day_count, project_metrics
from threadline.store.gateway import Store

DAY = 86400 * 10**9
T0 = 1_740_787_200 * 10**9  # 2025-03-01T00:00:00Z


def test_day_count() -> None:
    assert day_count(T0, T0) == 1
    assert day_count(T0, T0 + DAY - 1) == 1
    assert day_count(T0, T0 + DAY) == 2
    assert day_count(T0 - 1, T0) == 2


def test_window_must_be_bounded_and_not_too_long(store: Store) -> None:
    with pytest.raises(ValueError, match="both ends"):
        project_metrics(store, "p", SessionFilters(start_ns=T0), now_ns=T0, idle_timeout_ns=1)
    with pytest.raises(ValueError, match=f"more than {MAX_DAYS} days"):
        project_metrics(store, "p", SessionFilters(start_ns=T0, end_ns=T0 + MAX_DAYS * DAY), now_ns=T0,
                        idle_timeout_ns=1)
    empty = project_metrics(store, "p", SessionFilters(start_ns=T0, end_ns=T0 + DAY), now_ns=T0, idle_timeout_ns=1)
    assert empty.summary["sessions"] == 0 and [d["date"] for d in empty.days] == ["2025-03-01", "2025-03-02"]
