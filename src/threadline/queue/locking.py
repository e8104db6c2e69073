"""A Redis lock held across a long critical section: re-armed in the background while held, so a slow holder keeps
it and a dead one loses it after ``timeout_s``."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis
from redis.lock import Lock

log = logging.getLogger("threadline.queue")


@contextlib.contextmanager
def held(client: redis.Redis, name: str, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the Redis lock ``name`` (redis-py :class:`~redis.lock.Lock`) for the ``with`` body, waiting for it as
    long as needed. Every ``timeout_s / 3`` a background thread resets its expiry to ``timeout_s``; if the holder
    dies, the lock expires ``timeout_s`` later. Raises redis.RedisError."""
    lock: Lock = client.lock(name, timeout=timeout_s, sleep=0.005, thread_local=False)
    lock.acquire(blocking=True)
    done = threading.Event()

    def keep() -> None:
        while not done.wait(timeout_s / 3):
            try:
                lock.reacquire()
            except redis.RedisError as exc:  # the holder finds out when it releases
                log.warning("could not extend the lock %s: %s", name, exc)

    keeper = threading.Thread(target=keep, name="threadline-lock-keeper", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()
        with contextlib.suppress(redis.exceptions.LockError):  # expired meanwhile: nothing left to release
            lock.release()
