"""Parsing of the list's time parameters (ISO 8601 or epoch seconds) into ns, and their errors."""

from __future__ import annotations

import pytest

from threadline.api.list_params import parse_time
from threadline.api.problems import Problem

T = 1_740_823_200  # 2025-03-01T10:00:00Z


@pytest.mark.parametrize(("text", "ns"), [
    ("2025-03-01T10:00:00Z", T * 10**9),
    ("2025-03-01T10:00:00", T * 10**9),  # no offset: UTC
    ("2025-03-01T11:00:00+01:00", T * 10**9),
    ("2025-03-01T10:00:00.123456Z", T * 10**9 + 123_456_000),
    ("2025-03-01", (T - 10 * 3600) * 10**9),
    (str(T), T * 10**9),
    (f"{T}.5", T * 10**9 + 500_000_000),
    (" 0 ", 0),
    ("1970-01-01T00:00:00Z", 0),
])
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time("start_time", text) == ns


@pytest.mark.parametrize("text", ["", "soon", "nan", "inf", "-inf", "2025-02-30", "-1", "1e30",
                                  "1969-12-31T23:59:59Z", "9999-01-01T00:00:00Z"])
def test_bad_times_are_400(text: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_time("end_time", text)
    assert caught.value.status == 400 and "end_time" in caught.value.detail
