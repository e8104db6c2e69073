"""Independent reads run at once: results in order, concurrency (a barrier only two concurrent calls pass), and
errors raised only once every call has ended."""

from __future__ import annotations

import threading
import time

import pytest

from threadline.queries.side_by_side import all_three, both


def test_results_come_back_in_order() -> None:
    assert both(lambda: 1, lambda: "two") == (1, "two")
    assert all_three(lambda: 1, lambda: 2, lambda: 3) == (1, 2, 3)


def test_calls_run_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=10)  # broken (an error) unless all three wait at once

    def meet(value: int) -> int:
        barrier.wait()
        return value

    assert all_three(lambda: meet(1), lambda: meet(2), lambda: meet(3)) == (1, 2, 3)


@pytest.mark.parametrize("failing", ["first", "second"])
def test_an_error_is_raised_after_both_ended(failing: str) -> None:
    ended: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        ended.append("slow")

    def fail() -> None:
        raise ValueError("no such session")

    calls = (fail, slow) if failing == "first" else (slow, fail)
    with pytest.raises(ValueError, match="no such session"):
        both(*calls)
    assert ended == ["slow"]
