"""API key and dashboard session token formats: generation, parsing, verification, signing, expiry, tampering."""

from __future__ import annotations

import re
import time

import pytest

from threadline.auth import tokens

# The pattern documented for secret scanners (tokens.py module docstring, README): written out here on purpose, so a
# change of the key format that breaks scanners fails this test.
SCANNER_PATTERN = re.compile(r"tl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
SERVER_SECRET = "ab" * 32


def test_generated_key_has_the_documented_format() -> None:
    new = tokens.generate()
    assert SCANNER_PATTERN.fullmatch(new.secret)
    assert new.secret.startswith(f"tl_{new.key_id}_")
    assert re.fullmatch(r"[0-9a-f]{12}", new.key_id)
    assert re.fullmatch(r"[0-9a-f]{32}", new.salt)
    assert re.fullmatch(r"[0-9a-f]{64}", new.secret_hash)
    # found by a scanner inside surrounding text, e.g. a leaked shell history line
    assert SCANNER_PATTERN.search(f"export OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{new.secret} # x")


def test_generated_keys_are_unique_and_random() -> None:
    keys = [tokens.generate() for _ in range(200)]
    assert len({k.key_id for k in keys}) == 200
    assert len({k.secret for k in keys}) == 200
    assert len({k.salt for k in keys}) == 200


def test_stored_hash_is_neither_the_secret_nor_derivable_without_the_salt() -> None:
    new = tokens.generate()
    parsed = tokens.parse(new.secret)
    assert parsed is not None
    secret_part = parsed[1]
    assert secret_part not in new.secret_hash and secret_part not in new.salt
    assert new.secret_hash == tokens.hash_secret(new.salt, secret_part)
    other_salt = tokens.generate().salt
    assert tokens.hash_secret(other_salt, secret_part) != new.secret_hash


def test_parse_splits_id_and_secret() -> None:
    new = tokens.generate()
    parsed = tokens.parse(new.secret)
    assert parsed is not None
    key_id, secret_part = parsed
    assert key_id == new.key_id
    assert new.secret == f"tl_{key_id}_{secret_part}" and len(secret_part) == 43


def test_secret_part_keeps_underscores_of_the_secret() -> None:
    # url-safe base64 holds '_': splitting the key at its last '_' would cut the secret (a flaky test did)
    key = "tl_0123456789ab_" + "A_" * 21 + "I"
    assert tokens.secret_part(key) == "A_" * 21 + "I"
    with pytest.raises(ValueError, match="tl_<12 hex>"):
        tokens.secret_part("tl_0123456789ab_short")


@pytest.mark.parametrize("bad", [
    "",
    "tl_",
    "Bearer tl_0123456789ab_" + "A" * 43,
    "tl_0123456789ab_" + "A" * 42,                 # secret too short
    "tl_0123456789ab_" + "A" * 44,                 # secret too long
    "tl_0123456789AB_" + "A" * 43,                 # key id must be lowercase hex
    "tl_0123456789a_" + "A" * 44,                  # key id too short
    "tl_0123456789abc_" + "A" * 42,                # key id too long
    "tk_0123456789ab_" + "A" * 43,                 # wrong prefix
    "TL_0123456789ab_" + "A" * 43,
    "tl_0123456789ab_" + "A" * 42 + "=",           # padding is not part of the alphabet
    "tl_0123456789ab_" + "A" * 42 + "+",           # standard base64 is not url-safe
    "tl_0123456789ab_" + "A" * 42 + "é",
    " tl_0123456789ab_" + "A" * 43,
    "tl_0123456789ab_" + "A" * 43 + " ",
    "tl_0123456789ab_" + "A" * 43 + "x",
    "tl_0123456789ab_" + "A" * 43 + "\n",          # '$' alone would match before a trailing newline
])
def test_parse_rejects_malformed_keys(bad: str) -> None:
    assert tokens.parse(bad) is None


def test_verify_accepts_the_right_secret_only() -> None:
    new = tokens.generate()
    parsed = tokens.parse(new.secret)
    assert parsed is not None
    _, secret_part = parsed
    assert tokens.verify(secret_part, new.salt, new.secret_hash)
    flipped = ("B" if secret_part[0] != "B" else "C") + secret_part[1:]
    assert not tokens.verify(flipped, new.salt, new.secret_hash)
    other = tokens.parse(tokens.generate().secret)
    assert other is not None
    assert not tokens.verify(other[1], new.salt, new.secret_hash)
    assert not tokens.verify(secret_part, tokens.generate().salt, new.secret_hash)
    assert not tokens.verify("", new.salt, new.secret_hash)


def test_session_token_round_trip() -> None:
    expires = int(time.time()) + 60
    token = tokens.sign_session(SERVER_SECRET, "0123456789ab", expires)
    assert token.startswith(f"0123456789ab.{expires}.")
    assert tokens.read_session(SERVER_SECRET, token, time.time()) == "0123456789ab"


def test_session_token_expires() -> None:
    now = time.time()
    token = tokens.sign_session(SERVER_SECRET, "0123456789ab", int(now) + 10)
    assert tokens.read_session(SERVER_SECRET, token, now) == "0123456789ab"
    assert tokens.read_session(SERVER_SECRET, token, now + 9) == "0123456789ab"
    assert tokens.read_session(SERVER_SECRET, token, now + 11) is None
    old = tokens.sign_session(SERVER_SECRET, "0123456789ab", int(now) - 1)
    assert tokens.read_session(SERVER_SECRET, old, now) is None


def test_session_token_from_another_server_secret_is_refused() -> None:
    token = tokens.sign_session(SERVER_SECRET, "0123456789ab", int(time.time()) + 60)
    assert tokens.read_session("cd" * 32, token, time.time()) is None


def _tampered(token: str) -> list[str]:
    key_id, expires, signature = token.split(".")
    flipped_sig = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return [
        f"ffffffffffff.{expires}.{signature}",                  # another key id, same signature
        f"{key_id}.{int(expires) + 86400}.{signature}",         # extended expiry
        f"{key_id}.{expires}.{flipped_sig}",                    # forged signature
        f"{key_id}.{expires}.{signature.upper()}",
        f"{key_id}.{expires}.",
        f"{key_id}.{expires}",
        f"{key_id}.{expires}.{signature}.extra",
        f"{key_id}.-{expires}.{signature}",
        f"{key_id}.{expires}x.{signature}",
        "",
        "..",
        "not a token",
    ]


def test_tampered_session_tokens_are_refused() -> None:
    token = tokens.sign_session(SERVER_SECRET, "0123456789ab", int(time.time()) + 3600)
    for bad in _tampered(token):
        assert tokens.read_session(SERVER_SECRET, bad, time.time()) is None, bad


@pytest.mark.parametrize("bad", [
    "0123456789ab.\u00b2.abc",          # '²'.isdigit() is True, but int('²') fails
    "0123456789ab.\u0663\u0663.abc",    # Arabic-Indic digits: int() accepts them; still not a valid token
    "0123456789ab.99999999999.\u00e9\u00e9",  # non-ASCII signature (a cookie is latin-1 decoded)
    "\u00e9.99999999999.abc",
    "0123456789ab." + "9" * 5000 + ".abc",  # int() refuses more than 4300 digits
])
def test_session_tokens_with_odd_characters_are_refused_not_crashing(bad: str) -> None:
    assert tokens.read_session(SERVER_SECRET, bad, time.time()) is None


def test_access_token_round_trip_expiry_and_tampering() -> None:
    now = time.time()
    token = tokens.sign_access_token(SERVER_SECRET, "0123456789ab", int(now) + 60)
    assert token.startswith("tlat_") and tokens.is_access_token(token)
    assert tokens.read_access_token(SERVER_SECRET, token, now) == "0123456789ab"
    assert tokens.read_access_token(SERVER_SECRET, token, now + 61) is None  # expired
    assert tokens.read_access_token("cd" * 32, token, now) is None  # another server's secret
    head, _, signature = token.rpartition(".")
    assert tokens.read_access_token(SERVER_SECRET, f"{head}.{signature[::-1]}", now) is None
    assert tokens.read_access_token(SERVER_SECRET, token.replace("0123456789ab", "0123456789ac"), now) is None
    local = tokens.sign_access_token(SERVER_SECRET, tokens.LOCAL_KEY_ID, int(now) + 60)
    assert tokens.read_access_token(SERVER_SECRET, local, now) == tokens.LOCAL_KEY_ID


def test_access_tokens_and_session_tokens_are_not_interchangeable() -> None:
    expires = int(time.time()) + 60
    session = tokens.sign_session(SERVER_SECRET, "0123456789ab", expires)
    access = tokens.sign_access_token(SERVER_SECRET, "0123456789ab", expires)
    assert tokens.read_access_token(SERVER_SECRET, session, 0) is None
    assert tokens.read_access_token(SERVER_SECRET, "tlat_" + session, 0) is None
    assert tokens.read_session(SERVER_SECRET, access, 0) is None
    assert tokens.read_session(SERVER_SECRET, access.removeprefix("tlat_"), 0) is None
