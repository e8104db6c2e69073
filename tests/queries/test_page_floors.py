"""Bounded list scans (queries.page_floors) on real chDB: a repeated page is read with a bound on its leading sort
key, and every page is the one an unbounded scan gives, after new sessions, deletions and sessions that move down
the order (hypothesis over random histories)."""

from __future__ import annotations

import itertools
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan
from threadline.queries.annotations import Annotation, put_annotation
from threadline.queries.page_floors import PageFloors, request_key
from threadline.queries.sessions import Keyset, ListPage, list_sessions
from threadline.queries.sorting import Sort
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

P = "proj"
T0 = 1_740_823_200_000_000_000  # 2025-03-01T10:00:00Z
S = 10**9
_TRACES = itertools.count(1)


def turn(session: str, start_s: int) -> dict[str, object]:
    index = next(_TRACES)
    raw = RawSpan(f"{index:032x}", f"{index:016x}", "", "turn", T0 + start_s * S, T0 + start_s * S + S,
                  attributes={"session.id": session})
    return normalize(raw, P, PriceTable({}), time.time_ns() // 1000)


def shape(page: ListPage) -> tuple[object, ...]:
    return ([row["session_id"] for row in page.rows], page.total, page.position, page.has_more, page.keys)


def test_the_lru_keeps_the_newest_entries_and_none_forgets() -> None:
    floors = PageFloors(max_entries=2)
    floors.learn(("a",), 1)
    floors.learn(("b",), 2)
    assert floors.get(("a",)) == 1  # now the most recent
    floors.learn(("c",), 3)
    assert (floors.get(("a",)), floors.get(("b",)), floors.get(("c",))) == (1, None, 3)
    floors.learn(("a",), None)
    assert floors.get(("a",)) is None


def test_request_keys_ignore_dict_order() -> None:
    assert request_key("sql", {"a": 1, "b": [1, 2]}) == request_key("sql", {"b": [1, 2], "a": 1})
    assert request_key("sql", {"a": 1}) != request_key("sql", {"a": 2})
    hash(request_key("sql", {"ids": {"x", "y"}}, 5))


def test_a_repeated_page_is_read_bounded_and_stays_exact(store: Store) -> None:
    committer = BatchCommitter(store)
    committer.commit([turn(f"s-{i}", i * 60) for i in range(8)])
    floors = PageFloors()
    first = list_sessions(store, P, limit=3, floors=floors)
    assert [row["session_id"] for row in first.rows] == ["s-7", "s-6", "s-5"]
    assert (floors.hits, floors.misses) == (0, 0)
    assert shape(list_sessions(store, P, limit=3, floors=floors)) == shape(first) and floors.hits == 1
    # new activity lands above the floor: still one bounded scan
    committer.commit([turn("s-1", 1000), turn("s-new", 900)])
    page = list_sessions(store, P, limit=3, floors=floors)
    assert [row["session_id"] for row in page.rows] == ["s-1", "s-new", "s-7"] and floors.hits == 2
    assert shape(page) == shape(list_sessions(store, P, limit=3, floors=None))
    # a deleted session leaves the bounded prefix short: scanned again, same answer as without floors
    for session in ("s-1", "s-new"):
        put_annotation(store, P, session, Annotation(deleted=True))
    page = list_sessions(store, P, limit=3, floors=floors)
    assert [row["session_id"] for row in page.rows] == ["s-7", "s-6", "s-5"] and floors.misses == 1
    assert shape(page) == shape(list_sessions(store, P, limit=3, floors=None))


SORTS = [Sort.parse(text) for text in ("-last_seen", "last_seen", "-trace_count", "first_seen", "-total_tokens")]
Op = tuple[str, int, int]
OPS = st.lists(st.one_of(st.tuples(st.just("turn"), st.integers(0, 7), st.integers(0, 600)),
                         st.tuples(st.just("delete"), st.integers(0, 7), st.just(0)),
                         st.tuples(st.just("undelete"), st.integers(0, 7), st.just(0))), min_size=1, max_size=6)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(OPS, min_size=1, max_size=3), limit=st.integers(1, 3), offset=st.integers(0, 2))
def test_bounded_pages_equal_unbounded_pages(store: Store, history: list[list[Op]], limit: int, offset: int) -> None:
    project = f"p{next(_TRACES)}"
    committer = BatchCommitter(store)
    floors = PageFloors()
    for batch in history:
        spans = []
        for action, session, start_s in batch:
            if action == "turn":
                span = turn(f"s-{session}", start_s)
                spans.append(span | {"project_id": project})
            else:
                put_annotation(store, project, f"s-{session}", Annotation(deleted=action == "delete"))
        if spans:
            committer.commit(spans)
        for sort in SORTS:
            for _ in range(2):  # the second ask is the bounded one
                bounded = list_sessions(store, project, limit=limit, offset=offset, sort=sort, floors=floors)
                plain = list_sessions(store, project, limit=limit, offset=offset, sort=sort, floors=None)
                assert shape(bounded) == shape(plain), (sort, batch)
            if plain.keys:
                keyset = Keyset(plain.keys[-1])
                after = list_sessions(store, project, limit=limit, sort=sort, keyset=keyset, floors=floors)
                again = list_sessions(store, project, limit=limit, sort=sort, keyset=keyset, floors=floors)
                assert shape(after) == shape(again) == shape(
                    list_sessions(store, project, limit=limit, sort=sort, keyset=keyset, floors=None))
                back = Keyset(plain.keys[0], before=True)
                assert shape(list_sessions(store, project, limit=limit, sort=sort, keyset=back, floors=floors)) == \
                    shape(list_sessions(store, project, limit=limit, sort=sort, keyset=back, floors=floors)) == \
                    shape(list_sessions(store, project, limit=limit, sort=sort, keyset=back, floors=None))
