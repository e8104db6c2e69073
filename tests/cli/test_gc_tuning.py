"""tune_gc: start-up objects are frozen out of collections and the thresholds are raised; cycles are still
collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from threadline.cli.gc_tuning import THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_freezes_start_up_objects_and_raises_thresholds(restored_gc: None) -> None:
    tune_gc()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 1000  # the modules and objects imported so far


def test_cycles_made_afterwards_are_still_collected(restored_gc: None) -> None:
    tune_gc()

    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    assert gc.collect() >= 2
