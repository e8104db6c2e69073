"""Rollup versions: a local counter that never goes back and starts above every stored version, and a Redis counter
shared by writers whatever their clocks. A restart of the embedded writer with its clock stepped back an hour keeps
every rollup exact (and with plain wall-clock versions it would not: the control case)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from threadline.ingest.spans import SpanRow
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter
from threadline.writer.versions import Clock, LocalVersions, RedisVersions, VersionSource, stored_max

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "queue"))
from queue_helpers import redis_or_skip
from test_commit import agent_trace, new_project, rows
from test_commit_properties import assert_exact

HOUR_NS = 3600 * 10**9
T0_US = 1_767_225_600_000_000  # the ingest time test_commit.rows gives by default


def behind() -> int:
    """A host clock an hour behind."""
    return time.time_ns() - HOUR_NS


def ahead() -> int:
    """A host clock an hour ahead."""
    return time.time_ns() + HOUR_NS


class WallClock:
    """The versions before the shared source: this process's clock, never backwards within the process."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.last = 0

    def next(self) -> int:
        self.last = max(self.last + 1, self.clock())
        return self.last


def skew_batches(project: str) -> list[list[SpanRow]]:
    """Six batches over the same traces and sessions, meant for two writers taking turns (even batches to one, odd
    to the other). Children arrive before roots; s-a and s-b get traces from both writers; trace 4 starts in s-b
    (a grandchild names it) and moves to s-a when its root arrives; halves are replayed (re-normalised later, so
    the trace is rebuilt); s-c gets its only trace in the last batch, and every session is touched by the last."""
    traces = {i: agent_trace(f"{i + 1:032x}", "root", session=("s-a", "s-b")[i % 2], offset_ms=i * 10_000)
              for i in range(6)}
    traces[4][4] = replace(traces[4][4], session="s-b")
    traces[6] = agent_trace(f"{7:032x}", "root", session="s-c", offset_ms=70_000)

    replayed = 1_767_400_000_000_000  # a later ingest time: a client's resend, stored as another copy

    def children(*ids: int, at: int = T0_US) -> list[SpanRow]:
        return [row for i in ids for row in rows(traces[i][1:], project, at)]

    def root(*ids: int, at: int = T0_US) -> list[SpanRow]:
        return [row for i in ids for row in rows(traces[i][:1], project, at)]

    return [
        children(0, 1, 2),
        children(3, 4) + root(0),
        root(1, 2) + children(0, at=replayed),
        children(5) + root(3, 4),
        root(5) + root(1, at=replayed),
        children(6) + root(6) + children(2, 5, at=replayed),
    ]


def session_count(store: Store, project: str) -> int:
    return int(store.select("SELECT count() AS n FROM {db}.session_rollups FINAL WHERE project_id = {p:String}",
                            {"p": project}, tag="test.sessions")[0]["n"])


def test_local_versions_never_go_back_and_start_above_the_store(store: Store) -> None:
    project = new_project()
    BatchCommitter(store, versions=LocalVersions(store, clock=ahead)).commit(
        rows(agent_trace(uuid.uuid4().hex, "root"), project))
    stored = stored_max(store)
    assert stored >= ahead() - 60 * 10**9  # the rows carry the clock an hour ahead

    steps = iter([behind(), behind() - HOUR_NS, ahead() + HOUR_NS, 0])
    versions = LocalVersions(store, clock=lambda: next(steps))  # a clock that jumps back and forth
    taken = [versions.next() for _ in range(4)]
    assert taken[0] == stored + 1 and taken[1] == stored + 2  # above the store although the clock is behind
    assert taken[2] >= ahead() + HOUR_NS - 60 * 10**9  # with the clock again once it is ahead
    assert taken[3] == taken[2] + 1  # and never back


@pytest.mark.parametrize("source", ["local", "wall_clock"])
def test_embedded_restart_with_the_clock_stepped_back_keeps_rollups_exact(store: Store, source: str) -> None:
    """The embedded writer commits half the traffic, the process restarts with its clock an hour behind and
    commits the rest (replays, a trace changing session, a session deleted meanwhile). ``wall_clock``: the
    versions this replaced, which lose to the rows of the first run (the test can tell)."""
    project = new_project()
    batches = skew_batches(project)
    first = BatchCommitter(store, exclusive=True)
    for batch in batches[:3]:
        first.commit(batch)
    assert session_count(store, project) == 2

    versions: VersionSource = LocalVersions(store, clock=behind) if source == "local" else WallClock(behind)
    restarted = BatchCommitter(store, exclusive=True, versions=versions)
    restarted.recover()
    for batch in batches[3:]:
        restarted.commit(batch)
    if source == "local":
        assert_exact(store, project)
        assert session_count(store, project) == 3
    else:
        with pytest.raises(AssertionError):
            assert_exact(store, project)


# ------------------------------------------------------------------------------------------------------- Redis


@pytest.fixture(name="counter")
def counter_fixture() -> Iterator[tuple[redis.Redis, str]]:
    """A client of the test Redis and a counter key of this test's own (deleted afterwards)."""
    client = redis_or_skip()
    key = f"tv-{uuid.uuid4().hex[:10]}:rollup_version"
    yield client, key
    client.delete(key)
    client.close()


def redis_now_ns(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 10**9 + int(micros) * 1000


def test_redis_versions_increase_across_writers_whatever_their_clocks(store: Store,
                                                                      counter: tuple[redis.Redis, str]) -> None:
    client, key = counter
    start = redis_now_ns(client)
    clocks: list[Clock | None] = [None, behind, None, ahead, behind, None]
    sources = [RedisVersions(client, key, store, clock) for clock in clocks]
    taken = [source.next() for _ in range(3) for source in sources]
    assert taken == sorted(set(taken))  # strictly increasing, whichever writer took it
    assert taken[0] >= start  # Redis's own clock by default
    assert max(taken) >= ahead() - 60 * 10**9  # a clock ahead lifts the counter (and the others follow it)


def test_redis_versions_are_exact_64_bit_integers(store: Store, counter: tuple[redis.Redis, str]) -> None:
    """Versions are ~1.8e18, beyond the 2^53 a Lua number holds exactly: the script must not round them."""
    client, key = counter
    far = 4_000_000_000_000_000_001
    client.set(key, far)
    source = RedisVersions(client, key, store)
    assert [source.next() for _ in range(3)] == [far + 1, far + 2, far + 3]
    frozen = RedisVersions(client, key, store, clock=lambda: 5_000_000_000_000_000_003)
    assert frozen.next() == 5_000_000_000_000_000_003
    assert source.next() == 5_000_000_000_000_000_004


def test_redis_versions_start_above_the_store(store: Store, counter: tuple[redis.Redis, str]) -> None:
    """A counter below the stored versions (a new key, or a Redis restored from an old snapshot) is lifted above
    them by the first version a process takes."""
    client, key = counter
    future = time.time_ns() + 24 * HOUR_NS  # written by a host whose clock ran a day ahead, before this change
    BatchCommitter(store, versions=LocalVersions(store, clock=lambda: future)).commit(
        rows(agent_trace(uuid.uuid4().hex, "root"), new_project()))
    client.set(key, 5)
    first = RedisVersions(client, key, store).next()
    assert first > stored_max(store) >= future
    later: Callable[[], int] = RedisVersions(client, key, store, clock=behind).next
    assert later() == first + 1
