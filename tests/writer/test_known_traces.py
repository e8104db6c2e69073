"""The Bloom filter of stored trace keys: never a false "no", few false "maybe"s."""

from __future__ import annotations

from threadline.writer.known_traces import KnownTraces


def test_every_added_key_may_be_contained_and_few_others_are() -> None:
    known = KnownTraces(capacity=20_000)
    added = [("p", f"{i:032x}") for i in range(20_000)]
    known.update(added)
    assert all(known.may_contain(key) for key in added)
    others = [("p", f"{i:032x}") for i in range(20_000, 60_000)]
    false_positives = sum(known.may_contain(key) for key in others)
    assert false_positives < 0.03 * len(others)
    assert 0.98 * len(added) <= known.count <= len(added) and not known.full
    known.update(("q", f"{i:032x}") for i in range(1_000))
    assert known.full


def test_adding_a_key_again_does_not_count() -> None:
    known = KnownTraces(capacity=5_000)
    keys = [("p", f"{i:032x}") for i in range(4_000)]
    known.update(keys)
    counted = known.count
    for _ in range(3):  # every pass re-adds the traces it wrote
        known.update(keys)
    assert known.count == counted and not known.full
