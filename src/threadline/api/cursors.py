"""Opaque keyset cursors of the sessions list: signed, and bound to the query they were issued for.

A cursor is ``base64url(mac[16] + json)`` where the JSON holds the sort key of a row (values, session id last),
whether the page it opens lies after or before that row, and a fingerprint of the project, endpoint, filters and
sort it was issued for; ``mac`` is HMAC-SHA256 under a key derived from the server's signing secret. So a cursor
that was altered, truncated or invented fails :func:`decode` (:class:`CursorError`, "malformed"), and one sent with
other filters or another sort fails the fingerprint check (:class:`CursorMismatch`) instead of silently paging
through a different result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

_MAC_BYTES = 16
_DOMAIN = b"threadline.cursor.v1"


class CursorError(ValueError):
    """The cursor is not one this server issued (malformed, truncated or altered)."""


class CursorMismatch(ValueError):
    """The cursor was issued for another query (other filters, sort, endpoint or project)."""


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: the sort key ``values`` of a row and the page's side of it."""

    values: tuple[Any, ...]
    before: bool


def signing_key(server_secret_hex: str) -> bytes:
    """The cursor key derived from the server's signing secret (hex), so cursors and cookies never share a key."""
    return hmac.new(bytes.fromhex(server_secret_hex), _DOMAIN, hashlib.sha256).digest()


def fingerprint(*parts: str) -> str:
    """A short digest of the query a cursor belongs to (project, endpoint, canonical filters, sort...)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def encode(key: bytes, query: str, values: tuple[Any, ...], *, before: bool = False) -> str:
    """A cursor for the page after (``before``: before) the row whose sort key is ``values``, valid for the query
    whose :func:`fingerprint` is ``query``."""
    body = json.dumps({"q": query, "k": list(values), "b": before}, separators=(",", ":")).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode(key: bytes, query: str, text: str) -> Cursor:
    """The cursor ``text`` for the query fingerprinted ``query``. Raises CursorError (not issued by this server, or
    altered) or CursorMismatch (issued for another query)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CursorError("not base64url") from None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if len(mac) < _MAC_BYTES or not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()[
            :_MAC_BYTES]):
        raise CursorError("bad signature")
    try:
        payload = json.loads(body)
        issued_for, values, before = payload["q"], payload["k"], payload["b"]
    except (ValueError, KeyError, TypeError):
        raise CursorError("bad payload") from None
    if not isinstance(values, list) or not isinstance(before, bool):
        raise CursorError("bad payload")
    if issued_for != query:
        raise CursorMismatch("issued for another query")
    return Cursor(tuple(values), before)
