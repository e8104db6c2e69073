"""Independent statements of one read run side by side.

Why: a read made of a few statements by primary key costs their sum when they run one after the other, though
none needs another's answer. The embedded store has several query connections
(:data:`threadline.store.chdb_transport.QUERY_CONNECTIONS`) and a ClickHouse server takes concurrent queries, so
running them at once costs the slowest one. The first call runs in the calling thread, the others in a small
process-wide pool; a call made in the pool never waits for another pool task, so the pool cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="threadline-read")


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``, run at once. An exception of either is raised, once both have ended."""
    pending = _POOL.submit(second)
    try:
        a = first()
    except BaseException:
        wait([pending])
        raise
    return a, pending.result()


def all_three(first: Callable[[], A], second: Callable[[], B], third: Callable[[], C]) -> tuple[A, B, C]:
    """``(first(), second(), third())``, run at once. An exception of any is raised (after all ended)."""
    (a, b), c = both(lambda: both(first, second), third)
    return a, b, c
