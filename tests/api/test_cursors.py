"""Keyset cursors: round trip, and every kind of damage or misuse detected."""

from __future__ import annotations

import base64

import pytest

from threadline.api.cursors import Cursor, CursorError, CursorMismatch, decode, encode, fingerprint, signing_key

KEY = signing_key("ab" * 32)
QUERY = fingerprint("default", "list", "{}", "-last_seen", "")


def test_round_trip() -> None:
    values = (1_740_823_200_123_456_789, 0.1 + 0.2, "s/ü ☃", None)
    assert decode(KEY, QUERY, encode(KEY, QUERY, values)) == Cursor(values, False)
    assert decode(KEY, QUERY, encode(KEY, QUERY, (1, "a"), before=True)) == Cursor((1, "a"), True)
    assert "=" not in encode(KEY, QUERY, (1, "a")) and "+" not in encode(KEY, QUERY, (1, "a" * 50))


def test_fingerprint_depends_on_every_part() -> None:
    parts = ["default", "list", "{}", "-last_seen", ""]
    for index in range(len(parts)):
        changed = [*parts]
        changed[index] += "x"
        assert fingerprint(*changed) != fingerprint(*parts)
    assert fingerprint("a", "bc") != fingerprint("ab", "c")


def test_damage_is_detected() -> None:
    cursor = encode(KEY, QUERY, (5, "s-1"))
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for at in range(len(raw)):
        flipped = bytearray(raw)
        flipped[at] ^= 0x20
        with pytest.raises(CursorError):
            decode(KEY, QUERY, base64.urlsafe_b64encode(bytes(flipped)).decode())
    for bad in ("", "A", "!!!!", cursor[:10], cursor + "AAAA"):
        with pytest.raises(CursorError):
            decode(KEY, QUERY, bad)
    with pytest.raises(CursorError):
        decode(signing_key("cd" * 32), QUERY, cursor)  # another server's secret


def test_other_query_is_a_mismatch() -> None:
    cursor = encode(KEY, QUERY, (5, "s-1"))
    with pytest.raises(CursorMismatch):
        decode(KEY, fingerprint("default", "list", "{}", "last_seen", ""), cursor)
