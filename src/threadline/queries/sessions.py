"""Session reads: the project's sessions list, one session, its turns, and one trace with its spans.

Every statement reads rollups with ``FINAL`` (one row per key even before merges) and filters on ``project_id``
first, the leading column of every sort key. User values are bound as typed parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from threadline.queries import list_narrow as narrowed
from threadline.queries import search as searched
from threadline.queries import session_parts as parts
from threadline.queries.end_state import derive
from threadline.queries.filters import SessionFilters, where
from threadline.queries.row_cache import RowCache
from threadline.queries.side_by_side import both
from threadline.queries.sorting import DEFAULT_SORT, Sort
from threadline.store.gateway import Row, Store

_NS = "toUnixTimestamp64Nano"

TRACE_COLUMNS = f"""
    trace_id, session_id, name, user_id, {_NS}(start_time) AS start_ns, {_NS}(end_time) AS end_ns, duration_ms,
    span_count, llm_call_count, tool_call_count, error_count, input_tokens, output_tokens, total_tokens, cost_usd,
    models, input, output, status_code, metadata, tags
"""

SPAN_COLUMNS = f"""
    span_id, parent_span_id, name, kind, span_type, {_NS}(start_time) AS start_ns, {_NS}(end_time) AS end_ns,
    duration_ns, status_code, status_message, service_name, scope_name, model, input_tokens, output_tokens,
    total_tokens, cost_usd, input, output, session_id, user_id, attributes, resource_attributes,
    arrayMap(t -> {_NS}(t), events_time) AS events_time_ns, events_name, events_attributes
"""


@dataclass(frozen=True)
class Page:
    """A page of rows, the total number of rows matching, and how many of them come before the page (``position``;
    the offset of an offset page, counted for a keyset page)."""

    rows: list[Row]
    total: int
    position: int = 0


# The annotation side of the list's joins is small: a plain hash join beats the parallel default (measured).
LIST_SETTINGS = {"join_algorithm": "hash"}
# The rows' cache stamps (see queries.row_cache), and the values that may change without them: both come from the
# scan (the rollup version) and list_narrow.page_extras (the rest), and overwrite what a cached row holds.
_STAMP: tuple[str, ...] = ("version_ns", "annotation_updated_ns")
_FRESH: tuple[str, ...] = ("quality_score", "derived_end_state")
ROW_CACHE = RowCache()


@dataclass(frozen=True)
class Keyset:
    """Where a keyset page starts: the sort key ``values`` of a row (session id last) and whether the page holds
    the rows after that row (``before`` False) or before it."""

    values: tuple[Any, ...]
    before: bool = False


@dataclass(frozen=True)
class ListPage(Page):
    """A page of the sessions list. ``position`` counts the rows before its first row (its offset); ``keys`` are
    the sort keys of its rows (for cursors); ``total`` is -1 when it was not counted (then ``has_more`` is still
    exact and ``position`` is the requested offset, or -1 on a keyset page)."""

    position: int = 0
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    has_more: bool = False


def list_sessions(store: Store, project_id: str, *, limit: int, offset: int = 0,
                  filters: SessionFilters | None = None, sort: Sort = DEFAULT_SORT, keyset: Keyset | None = None,
                  now_ns: int | None = None, idle_timeout_ns: int = 1800 * 10**9, count: bool = True,
                  cache: RowCache | None = ROW_CACHE, search: str | None = None) -> ListPage:
    """A page of ``project_id``'s sessions matching ``filters``, in ``sort`` order (ties by session id), with their
    rollups, after ``offset`` rows or beyond ``keyset`` (not both).

    The first statement reads only the columns that filters and sort keys need and returns the page's session ids
    (joined with annotations and scores only as far as filters and sort need, see
    :mod:`threadline.queries.list_narrow`) and, with ``count``, the number of matches (and of rows before a keyset
    page): by window functions over the same scan, or by a statement of its own for an unfiltered list. Then the
    page's full rows are read for its ids only, skipped for rows ``cache`` holds unchanged (see
    :mod:`threadline.queries.row_cache`; None: no cache, e.g. for exports). ``now_ns`` (default: now) decides
    ``active`` sessions. With ``search``, only sessions whose id, name or turns contain that text are listed, and
    each row also carries ``matched_turns`` and ``first_matches`` (:mod:`threadline.queries.search`).
    Raises ValueError on a keyset that does not fit ``sort``; StoreError."""
    if keyset is not None and offset:
        raise ValueError("a page starts at an offset or at a keyset, not both")
    chosen = (filters or SessionFilters()).filters()
    conditions, params = where(chosen)
    params |= {"project_id": project_id, "now_ns": now_ns if now_ns is not None else time.time_ns(),
               "idle_ns": idle_timeout_ns, "limit": limit + 1, "offset": offset}
    # A scan of the columns the filters and sort read (queries.list_narrow); a search also reads names.
    columns = sort.columns.union(*(item.columns for item in chosen))
    source, fresh, read = narrowed.source(columns), _FRESH, narrowed.SCANNED
    if search is not None:
        source = searched.searched_source(narrowed.source(columns | searched.CONDITION_COLUMNS))
        fresh, read = _FRESH + searched.COLUMNS, narrowed.SCANNED + searched.COLUMNS
        conditions = f"{conditions} AND {searched.CONDITION}"
        params |= searched.params(search)
    counters = [("count()", "total")]  # and on a keyset page: the rows before the page's first row
    before = keyset is not None and keyset.before
    qualify = ""
    if keyset is not None:
        beyond, bound = sort.beyond(keyset.values, "key", before=before)
        precedes, _ = sort.beyond(keyset.values, "key", before=True, inclusive=not before)
        params |= bound
        qualify = f"QUALIFY {beyond}"
        counters.append((f"countIf({precedes})", "preceding"))
    # Counted as windows over the page's own scan when filters (or a search) keep few rows; without any, in a statement
    # of its own: a window over every session made ClickHouse sort them all instead of keeping the top ones (1M
    # sessions: 47 ms, against 22 ms for the page and 14 ms for the count).
    apart = count and not chosen and search is None
    windows = "".join(f", {counter} OVER () AS {alias}" for counter, alias in counters) if count and not apart else ""
    if apart and keyset is not None:
        qualify = f"AND {beyond}"
    def scan() -> list[Row]:
        return store.select(
            f"SELECT session_id, {', '.join(read)}, {sort.select_key()}{windows} FROM ({source}) "
            f"WHERE {conditions} {qualify} ORDER BY {sort.order_by(reverse=before)} "
            "LIMIT {limit:UInt32} OFFSET {offset:UInt64}", params, tag="sessions.list_keys", settings=LIST_SETTINGS)

    unfiltered_count = apart and keyset is None  # counted by a statement of its own, beside the scan
    if unfiltered_count:
        found, live = both(scan, lambda: narrowed.count_live(store, project_id))
    else:
        found = scan()
    more = len(found) > limit or before  # before a keyset, the keyset's own row follows the page
    found = found[:limit]
    if before:
        found.reverse()
    width = len(sort.key())
    keys = [tuple(row[f"k{index}"] for index in range(width)) for row in found]
    total, position = -1, (offset if keyset is None else -1)
    if count:
        if unfiltered_count:
            counts: Row = {"total": live}
        else:
            counting = (f"SELECT {', '.join(f'{counter} AS {alias}' for counter, alias in counters)} "
                        f"FROM ({source}) WHERE {conditions}")
            counts = found[0] if found and not apart else store.select(
                counting, params, tag="sessions.list_count", settings=LIST_SETTINGS)[0]
        total = int(counts["total"])
        if keyset is not None:
            position = int(counts["preceding"]) - (len(found) if before else 0)
        more = position + len(found) < total
    extras = narrowed.page_extras(store, project_id, found, params["now_ns"], idle_timeout_ns)
    rows = _full_rows(store, project_id, found, extras, cache, fresh)
    return ListPage(rows=rows, total=total, position=position, keys=keys, has_more=more)


def _full_rows(store: Store, project_id: str, found: list[Row], extras: narrowed.PageExtras,
               cache: RowCache | None, fresh: tuple[str, ...]) -> list[Row]:
    """The full rows of the first statement's ``found`` rows, in order: from ``cache`` where its stamp still
    matches, else read (and cached); the ``fresh`` values (those that change without a stamp, and search
    matches) come from ``found``."""
    def key(row: Row) -> tuple[str, str, str]:
        return (store.database, project_id, row["session_id"])

    def stamp(row: Row) -> tuple[Any, ...]:
        return tuple(row[name] for name in _STAMP)

    cached = {row["session_id"]: cache.get(key(row), stamp(row)) for row in found} if cache else {}
    missing = [row["session_id"] for row in found if cached.get(row["session_id"]) is None]
    read = {row["session_id"]: row for row in parts.session_rows(
        store, project_id, missing, annotated=extras.annotations, quality=extras.quality)}
    out = []
    for row in found:
        full = cached.get(row["session_id"]) or read.get(row["session_id"])
        if full is None:
            continue  # deleted between the two statements
        if cache is not None and row["session_id"] in read and stamp(full) == stamp(row):
            cache.put(key(row), stamp(row), full)
        out.append(full | {name: row[name] for name in fresh})
    return out


def session_rows(store: Store, project_id: str, session_ids: list[str], now_ns: int, idle_timeout_ns: int) -> list[Row]:
    """Full list rows (``LIST_SOURCE`` columns: the session row and its ``derived_end_state`` at ``now_ns``) of
    ``session_ids``, in that order; ids that no longer exist (deleted between two statements) are left out."""
    rows = parts.session_rows(store, project_id, session_ids)
    for row in rows:
        row["derived_end_state"] = derive(row["annotated_end_state"], row["reported_end_state"],
                                          int(row["last_seen_ns"]), now_ns, idle_timeout_ns)
    return rows


def get_session(store: Store, project_id: str, session_id: str) -> Row | None:
    """One session's row (``SESSION_COLUMNS``' aliases), or None when the project has no such session (or it was
    deleted through the API)."""
    rows = parts.session_rows(store, project_id, [session_id])
    return rows[0] if rows else None


TRACE_KEY_AFTER = ("(start_time, trace_id) > (fromUnixTimestamp64Nano({after_ns:Int64}, 'UTC'), "
                   "{after_trace_id:String})")


def session_traces(store: Store, project_id: str, session_id: str, *, limit: int, offset: int,
                   with_total: bool = True, after: tuple[int, str] | None = None) -> Page:
    """The session's traces (turns) in start order (start time, then trace id), with their rollups; ``turn`` numbers
    from 1. ``after`` (start ns, trace id of a turn) starts the page after that turn instead of at ``offset``; its
    ``position`` and turn numbers are then counted. Without ``with_total`` (and ``after``) the page's total is -1
    (the caller knows it from the session rollup) and one query is saved."""
    params: dict[str, Any] = {"project_id": project_id, "session_id": session_id, "limit": limit, "offset": offset}
    where = "WHERE project_id = {project_id:String} AND session_id = {session_id:String}"
    position, total = offset, -1
    if after is not None:
        params.update(after_ns=after[0], after_trace_id=after[1], offset=0)
        counts = store.select(
            f"SELECT count() AS total, countIf(NOT {TRACE_KEY_AFTER}) AS position "
            f"FROM {{db}}.trace_rollups FINAL {where}", params, tag="sessions.traces_count")[0]
        position, total = int(counts["position"]), int(counts["total"])
        where += f" AND {TRACE_KEY_AFTER}"
    rows = store.select(
        f"SELECT {TRACE_COLUMNS} FROM {{db}}.trace_rollups FINAL {where} ORDER BY start_time, trace_id "
        "LIMIT {limit:UInt32} OFFSET {offset:UInt64}", params, tag="sessions.traces")
    for index, row in enumerate(rows):
        row["turn"] = position + index + 1
    if after is not None or not with_total:
        return Page(rows, total, position)
    total = store.select(f"SELECT count() AS total FROM {{db}}.trace_rollups FINAL {where}", params,
                         tag="sessions.traces_count")[0]["total"]
    return Page(rows, int(total), position)


def get_trace(store: Store, project_id: str, trace_id: str) -> tuple[Row, list[Row]] | None:
    """A trace's rollup and all its spans in start order, or None when unknown in the project."""
    params = {"project_id": project_id, "trace_id": trace_id}
    link = store.select(
        "SELECT session_id FROM {db}.trace_sessions FINAL "
        "WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}", params, tag="traces.link")
    if not link:
        return None
    params["session_id"] = link[0]["session_id"]
    rollup = store.select(
        f"SELECT {TRACE_COLUMNS} FROM {{db}}.trace_rollups FINAL WHERE project_id = {{project_id:String}} "
        "AND session_id = {session_id:String} AND trace_id = {trace_id:String}", params, tag="traces.rollup")
    if not rollup:
        return None
    spans = store.select(
        f"SELECT {SPAN_COLUMNS} FROM {{db}}.spans FINAL WHERE project_id = {{project_id:String}} "
        "AND trace_id = {trace_id:String} ORDER BY start_time, span_id", params, tag="traces.spans")
    return rollup[0], spans
