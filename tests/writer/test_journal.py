"""The write-ahead journal: pending batches are rebuilt on start, and migration 5 hands every trace stored before the
trace states existed to it, so an upgraded store is exact before it takes new writes."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pyarrow as pa

from threadline.ingest.spans import rows_to_arrow
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.store.schema import MIGRATIONS
from threadline.writer import journal
from threadline.writer.commit import BatchCommitter

sys.path.insert(0, str(Path(__file__).parent))
from test_commit import agent_trace, new_project, rows
from test_commit_properties import assert_exact


def test_pending_batches_are_listed_until_done(store: Store) -> None:
    journal.record_pending(store, "batch-a", [("p", "t1"), ("p", "t2")], 10)
    journal.record_pending(store, "batch-b", [("q", "t3")], 11)
    journal.record_done(store, ["batch-a"], 12)
    assert journal.pending(store) == [("batch-b", [("q", "t3")])]


def test_a_batch_whose_rollups_never_ran_is_rebuilt_on_start(store: Store) -> None:
    """A crash between the span insert and the rollups (the process died: no retry, no later commit)."""
    project = new_project()
    specs = agent_trace(uuid.uuid4().hex, "root", session="A")
    crashed = BatchCommitter(store)
    crashed.insert(rows(specs, project))  # journaled and inserted, then the process dies
    assert store.select("SELECT count() AS n FROM {db}.trace_rollups WHERE project_id = {p:String}",
                        {"p": project}, tag="test.none")[0]["n"] == 0
    assert BatchCommitter(store).recover() >= 1
    assert_exact(store, project)
    assert journal.pending(store) == []


def test_an_upgraded_store_is_rebuilt_then_folds_new_spans(chdb_dir: Path) -> None:
    """Spans written under migrations 1-4 (no trace states) are rebuilt by the first start after migration 5."""
    store = Store.embedded(chdb_dir, f"upgrade_{uuid.uuid4().hex[:8]}")
    try:
        migrate(store, MIGRATIONS[:4])
        project = new_project()
        specs = agent_trace(uuid.uuid4().hex, "root", session="A")
        store.insert("spans", rows_to_arrow(rows(specs[:3], project)), tag="test.legacy_spans")
        store.insert("trace_rollups", pa.table({  # a legacy row the rebuild must replace
            "project_id": [project], "session_id": [""], "trace_id": [specs[0].trace_id],
            "span_count": pa.array([99], pa.uint32()), "version": pa.array([1], pa.uint64()),
            "is_deleted": pa.array([0], pa.uint8())}), tag="test.legacy_rollup")
        assert [m.version for m in migrate(store)][:1] == [5]
        committer = BatchCommitter(store)
        assert committer.recover() == 1
        assert_exact(store, project)
        committer.commit(rows(specs[3:], project))  # later spans of the same trace fold into its rebuilt state
        assert_exact(store, project)
    finally:
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")
