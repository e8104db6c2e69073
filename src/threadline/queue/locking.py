"""A Redis lock held across a long critical section: re-armed in the background while held, so a slow holder keeps
it and a dead one loses it after ``timeout_s``."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import redis
from redis.lock import Lock

from threadline.writer.commit import RecomputeGuard

log = logging.getLogger("threadline.queue")


@contextlib.contextmanager
def repeating(interval_s: float, action: Callable[[], None], name: str) -> Iterator[None]:
    """Run ``action`` every ``interval_s`` seconds in a background thread (``name``) for the ``with`` body; it
    stops, and is joined, when the body ends. ``action`` must not raise (log instead)."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval_s):
            action()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def held_all(client: redis.Redis, names: list[str], *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold every lock of ``names``, taken in that order (give every caller the same order), for the ``with`` body.
    Raises redis.RedisError."""
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(held(client, name, timeout_s=timeout_s))
        yield


@contextlib.contextmanager
def held(client: redis.Redis, name: str, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the Redis lock ``name`` (redis-py :class:`~redis.lock.Lock`) for the ``with`` body, waiting for it as
    long as needed. Every ``timeout_s / 3`` a background thread resets its expiry to ``timeout_s``; if the holder
    dies, the lock expires ``timeout_s`` later. Raises redis.RedisError."""
    lock: Lock = client.lock(name, timeout=timeout_s, sleep=0.005, thread_local=False)
    lock.acquire(blocking=True)

    def keep() -> None:
        try:
            lock.reacquire()
        except redis.RedisError as exc:  # the holder finds out when it releases
            log.warning("could not extend the lock %s: %s", name, exc)

    try:
        with repeating(timeout_s / 3, keep, "threadline-lock-keeper"):
            yield
    finally:
        with contextlib.suppress(redis.exceptions.LockError):  # expired meanwhile: nothing left to release
            lock.release()


def recompute_guard(client: redis.Redis, lock_names: Callable[[set[str]], list[str]], *, timeout_s: float = 30.0
                    ) -> RecomputeGuard:
    """A :class:`~threadline.writer.commit.BatchCommitter` guard: holds the Redis locks ``lock_names(project_ids)``
    (in their order) around each rollup pass, so passes of every process over the same projects run one at a time.
    Raises redis.RedisError when entered and Redis does not answer."""

    def guard(project_ids: set[str]) -> AbstractContextManager[None]:
        return held_all(client, lock_names(project_ids), timeout_s=timeout_s)

    return guard
