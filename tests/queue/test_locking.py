"""The Redis rollup locks: a guarded committer's rollup pass waits while another process holds its project's lock."""

from __future__ import annotations

import threading

from tests.queue.queue_helpers import (  # noqa: F401  (fixtures)
    Queue,
    prefix_fixture,
    queue_fixture,
)
from threadline.queue.locking import held, held_all
from threadline.queue.pool import guarded_committer
from threadline.store.gateway import Store


def test_guarded_rollup_pass_waits_for_the_projects_lock(queue: Queue, store: Store) -> None:
    committer = guarded_committer(store, queue.settings)
    done = threading.Event()

    def recompute() -> None:
        committer.recompute_traces([("p1", "0" * 32)])
        done.set()

    # Another process (here: this thread) holds the lock of p1's bucket, as a worker mid-pass would.
    with held_all(queue.client, queue.keys.recompute_locks({"p1"})):
        thread = threading.Thread(target=recompute)
        thread.start()
        assert not done.wait(0.5), "the rollup pass ran while another process held its project's lock"
    assert done.wait(30), "the rollup pass did not run once the lock was released"
    thread.join()


def test_passes_of_other_buckets_do_not_wait(queue: Queue, store: Store) -> None:
    committer = guarded_committer(store, queue.settings)
    mine = queue.keys.recompute_locks({"p1"})
    other = next(p for p in (f"q{i}" for i in range(1000)) if queue.keys.recompute_locks({p}) != mine)
    with held(queue.client, mine[0]):
        committer.recompute_traces([(other, "0" * 32)])  # returns while p1's bucket is held
