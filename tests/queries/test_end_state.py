"""The end-state rule in SQL (what the list filters on) and in Python (what a session read shows) agree, on real
ClickHouse, at and around the idle-timeout boundary."""

from __future__ import annotations

import itertools

from threadline.queries.end_state import END_STATE_SQL, derive, idle_ns
from threadline.store.gateway import Store

NOW = 1_740_823_200_000_000_000
IDLE = idle_ns(1800)


def test_sql_and_python_agree(store: Store) -> None:
    cases = list(itertools.product(["", "success"], ["", "failure"],
                                   [NOW, NOW - IDLE + 1, NOW - IDLE, NOW - IDLE - 1, 0, NOW + 10**9]))
    rows = store.select(
        f"SELECT {END_STATE_SQL} AS state FROM (SELECT c.1 AS annotated_end_state, c.2 AS reported_end_state, "
        "c.3 AS last_seen_ns, c.4 AS n FROM (SELECT arrayJoin({cases:Array(Tuple(String, String, Int64, UInt32))}) "
        "AS c)) ORDER BY n",
        {"cases": [(a, r, last, n) for n, (a, r, last) in enumerate(cases)], "now_ns": NOW, "idle_ns": IDLE},
        tag="test.end_state")
    assert [row["state"] for row in rows] == [derive(a, r, last, NOW, IDLE) for a, r, last in cases]
    assert derive("", "", NOW - IDLE + 1, NOW, IDLE) == "active"
    assert derive("", "", NOW - IDLE, NOW, IDLE) == "indeterminate"
    assert derive("success", "failure", 0, NOW, IDLE) == "success"
    assert derive(None, "failure", NOW, NOW, IDLE) == "failure"


def test_idle_ns() -> None:
    assert idle_ns(1800) == 1_800_000_000_000 and idle_ns(0.5) == 500_000_000
