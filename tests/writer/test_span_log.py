"""The span log on a real directory and its replay into the real store: batches round-trip, numbers keep increasing
across reopenings, a write cut short is dropped, a damaged file is named, and a replay leaves exact rollups wherever
a crash cut the commit (before the insert, between the insert and the rollups, after the rollups)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_commit import new_project
from test_commit_properties import assert_exact
from test_group_commit import trace_rows

from threadline.ingest.spans import as_table
from threadline.store.errors import StoreUnavailable
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.span_log import SpanLog, SpanLogError, of_store, replay


def test_batches_round_trip_in_order_and_numbers_survive_a_reopening(tmp_path: Path) -> None:
    log = SpanLog(tmp_path / "log")
    first, second = as_table(trace_rows("s-a")), as_table(trace_rows("s-b", spans=3))
    assert [log.append(first), log.append(second)] == [1, 2]
    assert log.pending() == [1, 2]
    assert log.read(1).equals(first) and log.read(2).equals(second)
    log.discard([1])
    (tmp_path / "log" / "00000000000000000009.tmp").write_bytes(b"half a batch")  # a write cut short
    reopened = SpanLog(tmp_path / "log")
    assert reopened.pending() == [2]
    assert not list((tmp_path / "log").glob("*.tmp"))
    assert reopened.append(first) == 3  # never reuses a number a file may still hold


def test_a_batch_that_cannot_be_written_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    log = SpanLog(tmp_path / "log")
    (tmp_path / "log").rmdir()
    (tmp_path / "log").write_text("not a directory")  # the log's directory is gone (even root cannot write here)
    with pytest.raises(StoreUnavailable, match="cannot write the span log"):
        log.append(as_table(trace_rows("s")))
    assert (tmp_path / "log").read_text() == "not a directory"


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    log = SpanLog(tmp_path)
    number = log.append(as_table(trace_rows("s")))
    path = tmp_path / f"{number:020d}.arrow"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SpanLogError, match=str(path)):
        log.read(number)


def test_the_log_of_an_embedded_store_is_per_database(store: Store) -> None:
    log = of_store(store)
    if store.transport.__class__.__name__ != "ChdbTransport":
        assert log is None  # a ClickHouse server keeps no log on this machine's disk
        return
    assert log is not None and log.directory.parts[-2:] == ("span-log", store.database)


@pytest.mark.parametrize("crash", ["before_insert", "after_insert", "after_rollups"])
def test_replay_is_exact_wherever_the_crash_cut_the_commit(store: Store, tmp_path: Path, crash: str) -> None:
    project = new_project()
    batches = [as_table(_rows(project, f"s-{n % 2}", spans=2 + n)) for n in range(4)]
    log = SpanLog(tmp_path)
    committer = BatchCommitter(store, exclusive=True)
    committer.commit(batches[0])  # an earlier batch, committed and gone from the log
    for batch in batches[1:]:
        log.append(batch)
    if crash == "after_insert":
        committer.insert(batches[1])
    elif crash == "after_rollups":
        committer.commit(batches[1])
    # the next start: a new committer (nothing in memory), the log replayed in batches of at most 5 spans
    assert replay(SpanLog(tmp_path), BatchCommitter(store, exclusive=True), max_spans=5) == sum(
        b.num_rows for b in batches[1:])
    assert SpanLog(tmp_path).pending() == []
    assert_exact(store, project)
    traces = store.select("SELECT session_id, trace_count FROM {db}.session_rollups FINAL "
                          "WHERE project_id = {p:String} ORDER BY session_id", {"p": project}, tag="test.sessions")
    assert [(r["session_id"], r["trace_count"]) for r in traces] == [("s-0", 2), ("s-1", 2)]


def _rows(project: str, session: str, spans: int) -> list[dict[str, object]]:
    return [row | {"project_id": project} for row in trace_rows(session, spans=spans)]
