"""The sessions list without joins (``queries.list_narrow``) on real chDB: it is chosen only for rollup-only filters
and sorts, and it returns exactly the rows, totals and fresh values of the joined statement: deleted sessions left
out, annotated end states, annotation stamps and quality scores read for the page."""

from __future__ import annotations

from tests.queries.test_session_list import T0, P, S, names, seed
from threadline.queries import list_narrow
from threadline.queries.annotations import Annotation, put_annotation
from threadline.queries.end_state import END_STATES
from threadline.queries.filters import SessionFilters
from threadline.queries.row_cache import RowCache
from threadline.queries.scores import add_score
from threadline.queries.sessions import Keyset, list_sessions
from threadline.queries.sorting import SORT_FIELDS, Sort
from threadline.store.gateway import Store


def test_chosen_for_rollup_columns_only() -> None:
    assert list_narrow.usable(Sort.parse("-total_cost_usd").columns, None)
    assert not list_narrow.usable(Sort.parse("-total_cost_usd").columns, "needle")
    assert not list_narrow.usable(Sort.parse("-quality_score").columns, None)
    for filters, narrow in ((SessionFilters(models=("gpt-4o",), has_errors=True, start_ns=1), True),
                            (SessionFilters(ranges=(("total_cost_usd", "min", 0.5),)), True),
                            (SessionFilters(user_ids=("u",)), False), (SessionFilters(tags=("t",)), False),
                            (SessionFilters(end_states=("active",)), False), (SessionFilters(bookmarked=True), False),
                            (SessionFilters(metadata=(("k", "v"),)), False)):
        columns = Sort.parse("-last_seen").columns.union(*(item.columns for item in filters.filters()))
        assert list_narrow.usable(columns, None) is narrow, filters


def test_same_rows_as_the_joined_statement(store: Store) -> None:
    seed(store, 6)
    put_annotation(store, P, "s-1", Annotation(name="renamed", end_state="failure", user_id="ann-user"))
    put_annotation(store, P, "s-2", Annotation(deleted=True))
    put_annotation(store, P, "s-3", Annotation(tags=["kept"]))
    add_score(store, P, "session", "s-4", name="quality", value=0.25, comment="", source="human")
    add_score(store, P, "session", "s-4", name="quality", value=0.75, comment="", source="human")
    add_score(store, P, "session", "s-5", name="helpful", value=1.0, comment="", source="human")
    now = T0 + 300 * S + S  # s-5's last turn ended at T0 + 301 s: active with a 10 s timeout, the rest idle
    every_state = SessionFilters(end_states=END_STATES)  # reads derived_end_state: the joined statement
    for field in SORT_FIELDS:
        if field == "quality_score":
            continue
        for sort in (Sort(field, True), Sort(field, False)):
            narrow = list_sessions(store, P, limit=3, sort=sort, now_ns=now, idle_timeout_ns=10 * S, cache=None)
            joined = list_sessions(store, P, limit=3, sort=sort, now_ns=now, idle_timeout_ns=10 * S, cache=None,
                                   filters=every_state)
            assert narrow == joined, sort
            assert narrow.total == 5 and "s-2" not in names(narrow.rows)
            after = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(narrow.keys[-1]), now_ns=now,
                                  idle_timeout_ns=10 * S, cache=None)
            assert names(narrow.rows) + names(after.rows) == names(list_sessions(
                store, P, limit=5, sort=sort, now_ns=now, idle_timeout_ns=10 * S, filters=every_state).rows)
    rows = {row["session_id"]: row for row in list_sessions(store, P, limit=10, now_ns=now, idle_timeout_ns=10 * S,
                                                              cache=RowCache()).rows}
    assert (rows["s-1"]["name"], rows["s-1"]["user_id"], rows["s-1"]["derived_end_state"]) == (
        "renamed", "ann-user", "failure")
    assert rows["s-4"]["quality_score"] == 0.5 and rows["s-5"]["quality_score"] is None
    assert rows["s-5"]["derived_end_state"] == "active" and rows["s-0"]["derived_end_state"] == "indeterminate"
    assert rows["s-3"]["tags"] == ["kept"] and rows["s-1"]["annotation_updated_ns"] > 0
    assert rows["s-0"]["annotation_updated_ns"] == 0
