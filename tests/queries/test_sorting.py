"""Sort orders: parsing, keys (session id last, unscored quality last in both directions) and keyset conditions."""

from __future__ import annotations

import pytest

from threadline.queries.sorting import DEFAULT_SORT, SORT_FIELDS, Sort


def test_parse_and_print() -> None:
    assert Sort.parse("-total_cost_usd") == Sort("total_cost_usd", True)
    assert Sort.parse("first_seen") == Sort("first_seen", False)
    assert str(Sort.parse("-quality_score")) == "-quality_score"
    assert Sort.parse("-last_seen") == DEFAULT_SORT
    for bad in ("colour", "--last_seen", "", "last_seen DESC", "-"):
        with pytest.raises(ValueError, match="cannot sort by"):
            Sort.parse(bad)


@pytest.mark.parametrize("field", SORT_FIELDS)
def test_every_key_ends_with_the_session_id(field: str) -> None:
    for descending in (True, False):
        key = Sort(field, descending).key()
        assert key[-1] == ("session_id", "String")


def test_order_by_and_reverse() -> None:
    sort = Sort.parse("-total_cost_usd")
    assert sort.order_by() == "total_cost_usd DESC, session_id DESC"
    assert sort.order_by(reverse=True) == "total_cost_usd ASC, session_id ASC"
    assert sort.select_key() == "total_cost_usd AS k0, session_id AS k1"


def test_unscored_quality_sorts_last_both_ways() -> None:
    assert Sort.parse("-quality_score").order_by() == (
        "isNotNull(quality_score) DESC, ifNull(quality_score, 0) DESC, session_id DESC")
    assert Sort.parse("quality_score").order_by() == (
        "isNull(quality_score) ASC, ifNull(quality_score, 0) ASC, session_id ASC")


@pytest.mark.parametrize(("sort", "before", "inclusive", "operator"), [
    ("-last_seen", False, False, "<"), ("-last_seen", True, False, ">"), ("-last_seen", True, True, ">="),
    ("last_seen", False, False, ">"), ("last_seen", True, False, "<"), ("last_seen", False, True, ">="),
])
def test_beyond(sort: str, before: bool, inclusive: bool, operator: str) -> None:
    sql, params = Sort.parse(sort).beyond((5, "s-1"), "key", before=before, inclusive=inclusive)
    assert sql == f"(last_seen_ns, session_id) {operator} ({{key_0:Int64}}, {{key_1:String}})"
    assert params == {"key_0": 5, "key_1": "s-1"}


def test_beyond_rejects_a_key_of_another_sort() -> None:
    with pytest.raises(ValueError, match="does not match"):
        Sort.parse("-quality_score").beyond((5, "s-1"), "key")
