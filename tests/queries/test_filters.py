"""Session list filters as (SQL, params): every value is a bind parameter, names are prefixed per filter, and the
canonical form (for cursors) ignores the order of repeatable values."""

from __future__ import annotations

import pytest

from threadline.queries.filters import (
    ActivityOverlaps,
    ArrayContains,
    Bookmarked,
    Bound,
    HasErrors,
    MetadataEquals,
    OneOf,
    SessionFilters,
    UserIs,
    where,
)

HOSTILE = "x' OR 1=1 --{project_id:String}"


@pytest.mark.parametrize(("item", "sql", "params"), [
    (ActivityOverlaps(1, 2), "last_seen_ns >= {f_start:Int64} AND first_seen_ns <= {f_end:Int64}",
     {"f_start": 1, "f_end": 2}),
    (ActivityOverlaps(None, 2), "first_seen_ns <= {f_end:Int64}", {"f_end": 2}),
    (ActivityOverlaps(None, None), "1", {}),
    (OneOf("derived_end_state", (HOSTILE, "b")), "derived_end_state IN {f:Array(String)}", {"f": [HOSTILE, "b"]}),
    (UserIs((HOSTILE, "b")), "(rollup_user_id IN {f:Array(String)} OR rollup_user_id = '') "
     "AND user_id IN {f:Array(String)}", {"f": [HOSTILE, "b"]}),
    (ArrayContains("tags", ("a",)), "hasAny(tags, {f:Array(String)})", {"f": ["a"]}),
    (ArrayContains("tags", ("a", "b"), every=True), "hasAll(tags, {f:Array(String)})", {"f": ["a", "b"]}),
    (Bound("trace_count", "min", 3), "trace_count >= {f:Int64}", {"f": 3}),
    (Bound("total_cost_usd", "max", 0.5), "total_cost_usd <= {f:Float64}", {"f": 0.5}),
    (Bookmarked(False), "bookmarked = {f:UInt8}", {"f": 0}),
    (HasErrors(True), "error_count > 0", {}),
    (HasErrors(False), "error_count = 0", {}),
    (MetadataEquals(HOSTILE, HOSTILE),
     "mapContains(metadata, {f_k:String}) AND metadata[{f_k:String}] = {f_v:String}", {"f_k": HOSTILE, "f_v": HOSTILE}),
])
def test_render(item: object, sql: str, params: dict[str, object]) -> None:
    assert item.render("f") == (sql, params)  # type: ignore[attr-defined]


def test_bound_rejects_unknown_columns() -> None:
    with pytest.raises(ValueError, match="takes no range"):
        Bound("span_count; DROP TABLE spans", "min", 1).render("f")


def test_where_joins_filters_with_distinct_parameter_names() -> None:
    filters = SessionFilters(user_ids=("u",), metadata=(("k", "v"), ("k2", "v2")),
                             ranges=(("trace_count", "min", 2),), has_errors=True)
    sql, params = where(filters.filters())
    assert sql == ("((rollup_user_id IN {f0:Array(String)} OR rollup_user_id = '') AND user_id IN {f0:Array(String)}) "
                   "AND (mapContains(metadata, {f1_k:String}) AND "
                   "metadata[{f1_k:String}] = {f1_v:String}) AND (mapContains(metadata, {f2_k:String}) AND "
                   "metadata[{f2_k:String}] = {f2_v:String}) AND (trace_count >= {f3:Int64}) AND (error_count > 0)")
    assert params == {"f0": ["u"], "f1_k": "k", "f1_v": "v", "f2_k": "k2", "f2_v": "v2", "f3": 2}
    assert where([]) == ("1", {})


def test_every_field_makes_a_filter() -> None:
    filters = SessionFilters(start_ns=1, end_ns=2, user_ids=("u",), tags=("t",), tags_all=True,
                             end_states=("active",), models=("m",), bookmarked=True, metadata=(("k", "v"),),
                             ranges=(("error_count", "max", 1),), has_errors=False)
    kinds = [type(item).__name__ for item in filters.filters()]
    assert kinds == ["ActivityOverlaps", "UserIs", "ArrayContains", "OneOf", "ArrayContains", "Bookmarked",
                     "MetadataEquals", "Bound", "HasErrors"]


def test_canonical_ignores_the_order_of_repeatable_values() -> None:
    one = SessionFilters(user_ids=("a", "b"), metadata=(("k", "1"), ("j", "2")))
    two = SessionFilters(user_ids=("b", "a"), metadata=(("j", "2"), ("k", "1")))
    assert one.canonical() == two.canonical()
    assert one.canonical() != SessionFilters(user_ids=("a",)).canonical()
    assert SessionFilters(tags=("a",)).canonical() != SessionFilters(tags=("a",), tags_all=True).canonical()
