"""API key and dashboard session token formats, and their hashing.

An API key reads ``tl_<key id: 12 hex>_<secret: 43 url-safe base64 chars>``: the ``tl_`` prefix makes it recognisable
to people and secret scanners (pattern ``tl_[0-9a-f]{12}_[A-Za-z0-9_-]{43}``); the key id finds the stored record
and the secret is verified against ``HMAC-SHA256(salt, secret)``. A dashboard session token is
``<key id>.<expiry, epoch s>.<HMAC-SHA256(server secret, key id.expiry)>``. An access token (what a client receives
in exchange for its key, e.g. AgentOps' ``POST /v3/auth/token``, and then sends as ``Authorization: Bearer``) is
``tlat_<key id>.<expiry>.<HMAC-SHA256(server secret, "access:" key id.expiry)>``: the ``access:`` prefix of the
signed text keeps the two kinds apart, so a dashboard cookie is never a bearer token nor the reverse. Its key id is
``local`` when it was issued in local development mode (no key exists).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

PREFIX = "tl_"
ACCESS_PREFIX = "tlat_"
LOCAL_KEY_ID = "local"  # the key id of access tokens issued in local development mode (key ids are 12 hex digits)
KEY_PATTERN = re.compile(r"^tl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
EXPIRY = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: the full secret (shown once) and what is stored."""

    key_id: str
    secret: str
    salt: str
    secret_hash: str


def hash_secret(salt: str, secret: str) -> str:
    """HMAC-SHA256 of the key's secret part under its salt, hex."""
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def generate() -> NewKey:
    """A new random key (96 bits of id, 256 bits of secret)."""
    key_id = os.urandom(6).hex()
    secret_part = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    salt = os.urandom(16).hex()
    return NewKey(key_id, f"{PREFIX}{key_id}_{secret_part}", salt, hash_secret(salt, secret_part))


def parse(key: str) -> tuple[str, str] | None:
    """(key id, secret part) of a well-formed key, else None."""
    match = KEY_PATTERN.fullmatch(key)  # not .match: "$" also matches before a trailing newline
    return (match.group(1), match.group(2)) if match else None


def secret_part(key: str) -> str:
    """The secret part of a well-formed key (43 url-safe base64 chars, which may hold ``_``).

    Raises ValueError when ``key`` is not a well-formed key.
    """
    parsed = parse(key)
    if parsed is None:
        raise ValueError("not a Threadline API key: expected tl_<12 hex>_<43 url-safe base64 chars>")
    return parsed[1]


def verify(secret_part: str, salt: str, secret_hash: str) -> bool:
    """Constant-time check of a secret against its stored hash."""
    return hmac.compare_digest(hash_secret(salt, secret_part), secret_hash)


def _signed(server_secret: str, key_id: str, expires_at: int, domain: str) -> str:
    """``key id.expiry.HMAC-SHA256(server secret, domain + key id.expiry)``."""
    payload = f"{key_id}.{expires_at}"
    signature = hmac.new(bytes.fromhex(server_secret), (domain + payload).encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def _read_signed(server_secret: str, token: str, now: float, domain: str) -> str | None:
    """The key id of a valid, unexpired ``_signed`` token of ``domain``, else None."""
    parts = token.split(".")
    # ASCII digits only, and few of them: str.isdigit() accepts '²' (int() then raises) and int() refuses > 4300
    if len(parts) != 3 or not EXPIRY.fullmatch(parts[1]):
        return None
    key_id, expires_at, _ = parts
    if int(expires_at) < now:
        return None
    expected = _signed(server_secret, key_id, int(expires_at), domain)
    # bytes: compare_digest raises TypeError on non-ASCII str (a tampered cookie)
    return key_id if hmac.compare_digest(expected.encode(), token.encode()) else None


def sign_session(server_secret: str, key_id: str, expires_at: int) -> str:
    """A dashboard session token for ``key_id`` valid until ``expires_at`` (epoch seconds)."""
    return _signed(server_secret, key_id, expires_at, "")


def read_session(server_secret: str, token: str, now: float) -> str | None:
    """The key id of a valid, unexpired session token, else None."""
    return _read_signed(server_secret, token, now, "")


def is_access_token(value: str) -> bool:
    """Whether a bearer value is an access token (rather than an API key)."""
    return value.startswith(ACCESS_PREFIX)


def sign_access_token(server_secret: str, key_id: str, expires_at: int) -> str:
    """An access token acting as key ``key_id`` (or :data:`LOCAL_KEY_ID`) until ``expires_at`` (epoch seconds)."""
    return ACCESS_PREFIX + _signed(server_secret, key_id, expires_at, "access:")


def read_access_token(server_secret: str, token: str, now: float) -> str | None:
    """The key id (or :data:`LOCAL_KEY_ID`) of a valid, unexpired access token, else None."""
    if not is_access_token(token):
        return None
    return _read_signed(server_secret, token[len(ACCESS_PREFIX):], now, "access:")
