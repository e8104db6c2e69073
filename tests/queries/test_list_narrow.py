"""The sessions list's scan over only the columns it needs (``queries.list_narrow``) on real chDB: joins only where
filters or sort need them, and exactly the rows, totals and fresh values of the full joined session row
(``LIST_SOURCE``): deleted sessions left out, annotated user ids and end states, annotation stamps and quality
scores of the page."""

from __future__ import annotations

import time

import pytest

from tests.queries.test_session_list import T0, P, S, names, seed
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan
from threadline.queries.annotations import Annotation, put_annotation
from threadline.queries.end_state import END_STATES
from threadline.queries.filters import SessionFilters, where
from threadline.queries.list_narrow import source
from threadline.queries.row_cache import RowCache
from threadline.queries.scores import add_score
from threadline.queries.session_row import LIST_SOURCE
from threadline.queries.sessions import Keyset, list_sessions
from threadline.queries.sorting import SORT_FIELDS, Sort
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter


def test_joins_only_what_the_columns_need() -> None:
    plain = source(Sort.parse("-total_cost_usd").columns | {"models", "error_count"})
    assert "session_annotations FINAL WHERE project_id = {project_id:String} AND deleted = 1" in plain
    assert " AS a ON " not in plain and " AS q ON " not in plain and "first_input" not in plain
    by_user = source(frozenset({"user_id", "last_seen_ns"}))
    assert " AS a ON " in by_user and " AS q ON " not in by_user and "a.deleted = 0" in by_user
    assert " AS q ON " in source(Sort.parse("-quality_score").columns)
    assert "derived_end_state" in source(frozenset({"derived_end_state"}))
    with pytest.raises(KeyError, match="not a session row column: nope"):
        source(frozenset({"nope"}))


FILTERS = (SessionFilters(), SessionFilters(user_ids=("ann-user", "")), SessionFilters(end_states=END_STATES),
           SessionFilters(tags=("kept",)), SessionFilters(models=("none",)), SessionFilters(start_ns=T0 + 100 * S))


def test_same_rows_as_the_full_session_row(store: Store) -> None:
    seed(store, 6)
    put_annotation(store, P, "s-1", Annotation(name="renamed", end_state="failure", user_id="ann-user"))
    put_annotation(store, P, "s-2", Annotation(deleted=True))
    put_annotation(store, P, "ghost", Annotation(deleted=True))  # no rollup: counts for nothing
    put_annotation(store, P, "s-3", Annotation(tags=["kept"]))
    add_score(store, P, "session", "s-4", name="quality", value=0.25, comment="", source="human")
    add_score(store, P, "session", "s-4", name="quality", value=0.75, comment="", source="human")
    add_score(store, P, "session", "s-5", name="helpful", value=1.0, comment="", source="human")
    now = T0 + 301 * S  # s-5's turn ended at T0 + 301 s: active with a 10 s timeout, the others idle
    timing = {"now_ns": now, "idle_timeout_ns": 10 * S}
    for filters in FILTERS:
        conditions, params = where(filters.filters())
        params |= {"project_id": P, "now_ns": now, "idle_ns": 10 * S}
        for sort in (Sort(field, descending) for field in SORT_FIELDS for descending in (True, False)):
            expected = store.select(f"SELECT * EXCEPT (rollup_user_id) FROM ({LIST_SOURCE}) WHERE {conditions} "
                                    f"ORDER BY {sort.order_by()}", params, tag="test.reference")
            page = list_sessions(store, P, limit=3, sort=sort, filters=filters, cache=None, **timing)
            assert (page.rows, page.total) == (expected[:3], len(expected)), (filters, sort)
            if page.has_more:
                rest = list_sessions(store, P, limit=9, sort=sort, filters=filters, keyset=Keyset(page.keys[-1]),
                                     cache=RowCache(), **timing)
                assert rest.rows == expected[3:] and rest.position == 3, (filters, sort)
    rows = {row["session_id"]: row for row in list_sessions(store, P, limit=9, **timing).rows}
    assert "s-2" not in rows and len(rows) == 5
    assert (rows["s-1"]["name"], rows["s-1"]["user_id"], rows["s-1"]["derived_end_state"]) == (
        "renamed", "ann-user", "failure")
    assert rows["s-4"]["quality_score"] == 0.5 and rows["s-5"]["quality_score"] is None
    assert rows["s-5"]["derived_end_state"] == "active" and rows["s-0"]["derived_end_state"] == "indeterminate"
    assert rows["s-1"]["annotation_updated_ns"] > 0 and rows["s-0"]["annotation_updated_ns"] == 0
    assert names(list_sessions(store, P, limit=9, filters=FILTERS[1], **timing).rows) == [
        "s-5", "s-4", "s-3", "s-1", "s-0"]


def test_the_user_filter_matches_the_row_user_id_whatever_its_source(store: Store) -> None:
    """queries.filters.UserIs: the spans' user id wins over an annotation's; an annotation's applies when the spans
    had none; the same sessions as the plain ``user_id IN`` over the full row."""
    committer = BatchCommitter(store)
    spans = []
    for index, (session, user) in enumerate((("by-spans", "u-1"), ("overridden", "u-1"), ("anonymous", ""),
                                             ("other", "u-2"))):
        raw = RawSpan(f"{index + 500:032x}", f"{index + 500:016x}", "", "turn", T0 + index * S, T0 + index * S + S,
                      attributes={"session.id": session, "user.id": user} if user else {"session.id": session})
        spans.append(normalize(raw, P, PriceTable({}), time.time_ns() // 1000))
    committer.commit(spans)
    put_annotation(store, P, "overridden", Annotation(user_id="u-2"))  # the spans' u-1 still wins
    put_annotation(store, P, "anonymous", Annotation(user_id="u-2"))
    for users, expected in ((("u-1",), {"by-spans", "overridden"}), (("u-2",), {"anonymous", "other"}),
                            (("u-1", "u-2"), {"by-spans", "overridden", "anonymous", "other"}), (("u-3",), set())):
        page = list_sessions(store, P, limit=10, filters=SessionFilters(user_ids=users), cache=None)
        plain = store.select(f"SELECT session_id FROM ({LIST_SOURCE}) WHERE user_id IN {{u:Array(String)}}",
                             {"project_id": P, "u": list(users), "now_ns": T0, "idle_ns": S}, tag="test.reference")
        assert set(names(page.rows)) == expected == {row["session_id"] for row in plain} and page.total == len(expected)
