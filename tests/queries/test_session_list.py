"""The sessions list query on real chDB: keyset pages after and before a key with their positions, uncounted
pages, project isolation, the row cache (served only while unchanged; scores and end states always fresh), and
content search columns."""

from __future__ import annotations

import time

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan
from threadline.queries.annotations import Annotation, put_annotation
from threadline.queries.filters import SessionFilters
from threadline.queries.row_cache import RowCache
from threadline.queries.scores import add_score
from threadline.queries.sessions import Keyset, list_sessions
from threadline.queries.sorting import Sort
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

P = "proj"
T0 = 1_740_823_200_000_000_000  # 2025-03-01T10:00:00Z
S = 10**9


def turn(index: int, session: str, start_s: int, text: str = "", project: str = P) -> list[dict[str, object]]:
    raw = RawSpan(f"{index + 1:032x}", f"{index + 1:016x}", "", "turn", T0 + start_s * S, T0 + start_s * S + S,
                  attributes={"session.id": session, "input.value": text})
    return [normalize(raw, project, PriceTable({}), time.time_ns() // 1000)]


def seed(store: Store, count: int = 7) -> BatchCommitter:
    committer = BatchCommitter(store)
    rows = [row for i in range(count) for row in turn(i, f"s-{i}", i * 60)]
    committer.commit(rows + turn(99, "s-0", 0, project="other"))
    return committer


def names(rows: list[dict[str, object]]) -> list[object]:
    return [row["session_id"] for row in rows]


def test_keyset_pages_after_and_before(store: Store) -> None:
    seed(store)
    sort = Sort.parse("-last_seen")
    first = list_sessions(store, P, limit=3, sort=sort)
    assert names(first.rows) == ["s-6", "s-5", "s-4"] and (first.total, first.position, first.has_more) == (7, 0, True)
    second = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(first.keys[-1]))
    assert names(second.rows) == ["s-3", "s-2", "s-1"] and (second.position, second.has_more) == (3, True)
    last = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(second.keys[-1]))
    assert names(last.rows) == ["s-0"] and (last.position, last.has_more) == (6, False)
    back = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(last.keys[0], before=True))
    assert names(back.rows) == ["s-3", "s-2", "s-1"] and back.position == 3 and back.has_more
    start = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(first.keys[1], before=True))
    assert names(start.rows) == ["s-6"] and start.position == 0
    beyond = list_sessions(store, P, limit=3, sort=sort, keyset=Keyset(last.keys[-1]))
    assert beyond.rows == [] and (beyond.total, beyond.position, beyond.has_more) == (7, 7, False)


def test_uncounted_pages(store: Store) -> None:
    seed(store)
    page = list_sessions(store, P, limit=4, sort=Sort.parse("first_seen"), count=False)
    assert names(page.rows) == ["s-0", "s-1", "s-2", "s-3"] and page.total == -1 and page.has_more
    rest = list_sessions(store, P, limit=4, sort=Sort.parse("first_seen"), keyset=Keyset(page.keys[-1]), count=False)
    assert names(rest.rows) == ["s-4", "s-5", "s-6"] and not rest.has_more


def test_offset_beyond_the_end_still_counts(store: Store) -> None:
    seed(store)
    page = list_sessions(store, P, limit=5, offset=10)
    assert page.rows == [] and (page.total, page.position, page.has_more) == (7, 10, False)


def test_cache_serves_only_unchanged_rows(store: Store) -> None:
    committer = seed(store, 2)
    cache = RowCache()
    filters = SessionFilters(user_ids=("",))
    list_sessions(store, P, limit=5, filters=filters, cache=cache)
    assert (len(cache), cache.hits) == (2, 0)
    assert names(list_sessions(store, P, limit=5, cache=cache).rows) == ["s-1", "s-0"] and cache.hits == 2
    put_annotation(store, P, "s-1", Annotation(name="renamed", end_state="success"))
    add_score(store, P, "session", "s-0", name="quality", value=0.5, comment=None, source="human")
    rows = {row["session_id"]: row for row in list_sessions(store, P, limit=5, cache=cache).rows}
    assert (rows["s-1"]["name"], rows["s-1"]["derived_end_state"]) == ("renamed", "success")  # re-read
    assert rows["s-0"]["quality_score"] == 0.5 and cache.hits == 3  # s-0 served from the cache, score fresh
    committer.commit(turn(50, "s-0", 30, text="new turn"))
    rows = {row["session_id"]: row for row in list_sessions(store, P, limit=5, cache=cache).rows}
    assert rows["s-0"]["trace_count"] == 2 and rows["s-0"]["last_output"] == "" and cache.hits == 4
    assert rows["s-0"]["quality_score"] == 0.5


def test_end_state_is_fresh_from_cache(store: Store) -> None:
    seed(store, 1)
    cache = RowCache()
    last_seen = T0 + S
    early = list_sessions(store, P, limit=5, now_ns=last_seen, idle_timeout_ns=10 * S, cache=cache).rows
    late = list_sessions(store, P, limit=5, now_ns=last_seen + 20 * S, idle_timeout_ns=10 * S, cache=cache).rows
    assert early[0]["derived_end_state"] == "active" and late[0]["derived_end_state"] == "indeterminate"
    assert cache.hits == 1


def test_search_rows_carry_their_matches(store: Store) -> None:
    committer = BatchCommitter(store)
    committer.commit(turn(1, "s-a", 0, "first: Needle here") + turn(2, "s-a", 60, "second needle")
                     + turn(3, "s-a", 120, "nothing") + turn(4, "s-a", 180, "needle again")
                     + turn(5, "s-a", 240, "and NEEDLE") + turn(6, "s-b", 0, "no match") + turn(7, "needle-id", 300))
    page = list_sessions(store, P, limit=5, search="needle", sort=Sort.parse("first_seen"))
    assert names(page.rows) == ["s-a", "needle-id"] and page.total == 2
    hit = page.rows[0]
    assert hit["matched_turns"] == 4
    assert [(m["2"], m["3"], m["6"]) for m in hit["first_matches"]] == [
        (f"{2:032x}", "input", "first: Needle here"), (f"{3:032x}", "input", "second needle"),
        (f"{5:032x}", "input", "needle again")]
    assert page.rows[1]["matched_turns"] == 0 and page.rows[1]["first_matches"] == []
    assert list_sessions(store, "other", limit=5, search="needle").rows == []


def test_search_sees_only_current_turn_rows(store: Store) -> None:
    committer = BatchCommitter(store)
    committer.commit(turn(1, "s-a", 0, "old wording"))
    committer.commit(turn(1, "s-a", 0, "new wording"))  # the same span again, corrected: a newer rollup row
    assert names(list_sessions(store, P, limit=5, search="old wording").rows) == []
    assert names(list_sessions(store, P, limit=5, search="new wording").rows) == ["s-a"]
    # A trace that moves to another session (its root names s-c) leaves a tombstone row under s-b.
    child = RawSpan(f"{7:032x}", f"{70:016x}", f"{71:016x}", "llm", T0, T0 + S,
                    attributes={"session.id": "s-b", "input.value": "moving text"})
    committer.commit([normalize(child, P, PriceTable({}), time.time_ns() // 1000)])
    assert names(list_sessions(store, P, limit=5, search="moving").rows) == ["s-b"]
    root = RawSpan(f"{7:032x}", f"{71:016x}", "", "turn", T0, T0 + S, attributes={"session.id": "s-c"})
    committer.commit([normalize(root, P, PriceTable({}), time.time_ns() // 1000)])
    found = list_sessions(store, P, limit=5, search="moving").rows
    assert names(found) == ["s-c"] and found[0]["matched_turns"] == 1


def test_search_reads_each_text_column_and_counts_a_turn_once(store: Store) -> None:
    def spoken(index: int, session: str, start_s: int, said: str, answered: str) -> list[dict[str, object]]:
        raw = RawSpan(f"{index + 1:032x}", f"{index + 1:016x}", "", "turn", T0 + start_s * S, T0 + start_s * S + S,
                      attributes={"session.id": session, "input.value": said, "output.value": answered})
        return [normalize(raw, P, PriceTable({}), time.time_ns() // 1000)]

    BatchCommitter(store).commit(spoken(1, "s-a", 0, "a Needle asked", "the needle answered")
                                 + spoken(2, "s-a", 60, "nothing", "only the answer has a NEEDLE")
                                 + spoken(3, "s-b", 0, "nothing", "nothing either"))
    page = list_sessions(store, P, limit=5, search="needle")
    assert names(page.rows) == ["s-a"] and page.total == 1 and page.rows[0]["matched_turns"] == 2
    assert [(m["3"], m["6"]) for m in page.rows[0]["first_matches"]] == [
        ("input", "a Needle asked"), ("output", "only the answer has a NEEDLE")]
