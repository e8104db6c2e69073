"""The session row cache: a row is served only while its stamp matches; memory stays under its byte budget."""

from __future__ import annotations

from threadline.queries.row_cache import RowCache, row_size


def test_stamp_must_match() -> None:
    cache = RowCache()
    cache.put(("db", "p", "s"), (1, 0), {"session_id": "s", "first_input": "a"})
    assert cache.get(("db", "p", "s"), (1, 0)) == {"session_id": "s", "first_input": "a"}
    assert cache.get(("db", "p", "s"), (2, 0)) is None  # changed since: dropped
    assert cache.get(("db", "p", "s"), (1, 0)) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_entries_are_copies() -> None:
    cache = RowCache()
    row = {"session_id": "s"}
    cache.put(("db", "p", "s"), (1,), row)
    row["session_id"] = "changed"
    got = cache.get(("db", "p", "s"), (1,))
    assert got == {"session_id": "s"}
    got["session_id"] = "changed again"  # type: ignore[index]
    assert cache.get(("db", "p", "s"), (1,)) == {"session_id": "s"}


def test_least_recently_used_rows_go_first() -> None:
    row = {"first_input": "x" * 1000}
    cache = RowCache(max_bytes=3 * row_size(row))
    for name in "abc":
        cache.put(("db", "p", name), (1,), row)
    assert cache.get(("db", "p", "a"), (1,)) is not None  # a is now the most recent
    cache.put(("db", "p", "d"), (1,), row)
    assert len(cache) == 3 and cache.size_bytes <= cache.max_bytes
    assert cache.get(("db", "p", "b"), (1,)) is None
    assert all(cache.get(("db", "p", name), (1,)) is not None for name in "acd")
    cache.put(("db", "p", "huge"), (1,), {"first_input": "x" * cache.max_bytes})  # larger than the budget
    assert cache.get(("db", "p", "huge"), (1,)) is None and len(cache) == 3
