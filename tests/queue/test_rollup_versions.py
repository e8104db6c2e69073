"""Queue writers whose clocks disagree: two workers (one an hour behind) and the API's committer (an hour ahead: a
session created ahead of its traffic, a session deleted) take turns on the same sessions and traces. Versions come
from the queue's Redis counter, so every rollup equals the from-scratch recomputation; with each host's wall clock
as the version (the control case) the rows of the writer behind lose to older ones."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import redis
from queue_helpers import (
    Queue,
    enqueue,
    prefix_fixture,  # noqa: F401  (fixture)
    queue_fixture,  # noqa: F401  (fixture)
)

from threadline.ingest.spans import rows_to_arrow
from threadline.queries.annotations import put_placeholder_rollup
from threadline.queue.locking import recompute_guard
from threadline.queue.pool import guarded_committer
from threadline.queue.worker import StreamWorker, WorkerConfig, ensure_groups
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.deletion import run_deletion, start_deletion
from threadline.writer.versions import Clock

sys.path.insert(0, str(Path(__file__).parent.parent / "writer"))
from test_commit import new_project
from test_commit_properties import assert_exact
from test_versions import WallClock, ahead, behind, skew_batches


def committer(queue: Queue, store: Store, versions: str, clock: Clock | None) -> BatchCommitter:
    """A process's committer: guarded by the queue's rollup locks, with versions from the shared Redis counter
    (``clock`` None: the Redis server's clock), or (``wall_clock``) from its own host clock as before."""
    if versions == "shared":
        return guarded_committer(store, queue.settings, clock=clock)
    guard = recompute_guard(queue.client, queue.keys.recompute_locks)
    return BatchCommitter(store, guard=guard, versions=WallClock(clock or time.time_ns))


@pytest.mark.parametrize("versions", ["shared", "wall_clock"])
def test_workers_with_skewed_clocks_keep_rollups_exact(queue: Queue, store: Store, versions: str) -> None:
    project = new_project()
    config = WorkerConfig.from_settings(queue.settings)
    workers = [StreamWorker(committer(queue, store, versions, clock), redis.Redis.from_url(queue.settings.queue_url
                                                                                          or ""), queue.keys, config)
               for clock in (None, behind)]  # the Redis server's clock; a host an hour behind
    api = committer(queue, store, versions, ahead)  # the API process: deletions, sessions created ahead of traffic
    put_placeholder_rollup(store, project, "s-c", "", api.next_version())  # s-c's traffic comes in the last batch
    ensure_groups(queue.client, queue.keys)

    for index, batch in enumerate(skew_batches(project)):
        table: pa.Table = rows_to_arrow(batch)
        enqueue(queue, table)
        done = workers[index % 2].run_once(block_ms=200)  # the workers take turns on the same sessions
        assert done.spans == table.num_rows and not done.failed
        if index == 2:  # s-b is deleted; its later traces start it afresh
            job = start_deletion(store, project, "s-b")
            assert run_deletion(store, api, job).status == "done"
    for worker in workers:
        worker.client.close()

    if versions == "shared":
        assert_exact(store, project)
        sessions = store.select("SELECT session_id FROM {db}.session_rollups FINAL WHERE project_id = {p:String}",
                                {"p": project}, tag="test.sessions")
        assert sorted(r["session_id"] for r in sessions) == ["s-a", "s-b", "s-c"]
    else:
        with pytest.raises(AssertionError):
            assert_exact(store, project)
