"""Request authentication: API key (``Authorization: Bearer``, ``x-api-key``, or the password of HTTP Basic), access
token (``Authorization: Bearer tlat_...``, issued in exchange for a key) or dashboard session cookie → project.

Keys are cached in memory and re-read from the store at most once a second, so a revocation made by any process
takes effect within a second; a key's expiry is checked against the clock at every use. Tokens and sessions act as
their key (its project and scope), so they end with it, and are never issued to outlive it. Local development: on a
loopback bind while no key exists, a request without credentials acts on project ``default``, and so does HTTP Basic
whose password is not a Threadline key (a client such as the Langfuse SDK refuses to start without some key pair).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from threadline.auth import scopes, tokens
from threadline.auth.repository import DEFAULT_PROJECT, KeyRecord, ProjectRepository

log = logging.getLogger("threadline.auth")
TOUCH_EVERY_S = 60.0


class AuthError(Exception):
    """Authentication failed; ``reason`` is a short label (counted in /metrics), the message is for the caller."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the project, the key (None in local development mode), the key's scope
    (:mod:`threadline.auth.scopes`; ``all`` in local development mode) and its expiry (UTC; None: never)."""

    project_id: str
    key_id: str | None
    scope: str = scopes.ALL
    expires_at: datetime | None = None


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def expiry(found: Principal, ttl_s: int, now: float | None = None) -> int:
    """When a token or dashboard session issued now for ``found`` for ``ttl_s`` seconds ends (epoch seconds): never
    after its key expires."""
    ends = int(time.time() if now is None else now) + ttl_s
    if found.expires_at is not None:
        ends = min(ends, int(found.expires_at.timestamp()))
    return ends


class Authenticator:
    """Verifies credentials against the cached key table of ``repository``."""

    def __init__(self, repository: ProjectRepository, *, loopback_bind: bool, refresh_s: float = 1.0) -> None:
        self.repository = repository
        self.loopback_bind = loopback_bind
        self.refresh_s = refresh_s
        self._keys: dict[str, KeyRecord] = {}
        self._any_keys = False
        self._loaded_at = float("-inf")
        self._wanted_at = float("-inf")  # when a request last consulted the keys (time.monotonic())
        self._lock = threading.Lock()
        self._used: dict[str, datetime] = {}
        self._touched_at: dict[str, float] = {}
        self._server_secret: str | None = None

    def _refresh(self) -> None:
        self._wanted_at = time.monotonic()
        with self._lock:
            if time.monotonic() - self._loaded_at < self.refresh_s:
                return
            self._load()

    def _load(self) -> None:
        self._keys = self.repository.active_keys()
        self._any_keys = bool(self._keys) or self.repository.any_keys()
        self._loaded_at = time.monotonic()

    def refresh_ahead(self, active_s: float = 60.0) -> bool:
        """Re-read the keys before a request has to: when they are older than half of ``refresh_s`` and a request
        consulted them within the last ``active_s`` seconds. Called every ~0.8 ``refresh_s`` off the request path
        (the app's background task), it keeps them fresher than ``refresh_s`` while requests come, so no request
        waits for the read (~8-9 ms on the embedded store: the first request after a second without one paid it),
        and an idle server reads nothing. Revocation still shows within ``refresh_s``. Returns whether it read.
        Raises StoreError."""
        now = time.monotonic()
        if now - self._wanted_at > active_s:
            return False
        with self._lock:
            if now - self._loaded_at < self.refresh_s / 2:
                return False
            self._load()
        return True

    def invalidate(self) -> None:
        """Forget the cache (after a local create or revoke) so the next request re-reads the store."""
        self._loaded_at = float("-inf")

    def local_mode(self) -> bool:
        """True while requests without credentials act on ``default`` (loopback bind, no key created yet)."""
        self._refresh()
        return self.loopback_bind and not self._any_keys

    @property
    def server_secret(self) -> str:
        """The session-cookie signing secret (read from the store once)."""
        if self._server_secret is None:
            self._server_secret = self.repository.server_secret()
        return self._server_secret

    def authenticate_key(self, key: str) -> Principal:
        """The principal of an API key. Raises AuthError (malformed, unknown or revoked key)."""
        parsed = tokens.parse(key)
        if parsed is None:
            raise AuthError("malformed", "the API key is malformed; keys look like tl_<12 hex>_<43 characters>")
        key_id, secret = parsed
        self._refresh()
        record = self._keys.get(key_id)
        if record is None or not tokens.verify(secret, record.salt, record.secret_hash):
            raise AuthError("invalid", "the API key is not valid (unknown or revoked)")
        return self._acting_as(record, "the API key")

    def authenticate_session(self, token: str) -> Principal:
        """The principal of a dashboard session token. Raises AuthError (bad or expired token, revoked key)."""
        key_id = tokens.read_session(self.server_secret, token, time.time())
        if key_id is None:
            raise AuthError("session", "the dashboard session is invalid or expired; log in again")
        self._refresh()
        record = self._keys.get(key_id)
        if record is None:
            raise AuthError("session", "the key of this dashboard session was revoked; log in again")
        return self._acting_as(record, "the API key of this dashboard session")

    def authenticate_bearer(self, value: str) -> Principal:
        """The principal of an ``Authorization: Bearer`` value: an access token (``tlat_...``) or an API key.
        Raises AuthError."""
        if tokens.is_access_token(value):
            return self.authenticate_access_token(value)
        return self.authenticate_key(value)

    def authenticate_basic(self, username: str, password: str) -> Principal:
        """The principal of HTTP Basic credentials: the password is an API key and the username, when not empty,
        must be the key's project id (Langfuse clients send ``public key:secret key``, so the public key names the
        project). In local development mode a password that is not a Threadline key acts on ``default``. Raises
        AuthError (bad key, or a username naming another project)."""
        if tokens.parse(password) is None and self.local_mode():
            return Principal(DEFAULT_PROJECT, None)
        found = self.authenticate_key(password)
        if username and username != found.project_id:
            raise AuthError("project", f"the Basic auth username {username!r} is not the project of this API key; "
                                       f"set the username (Langfuse: LANGFUSE_PUBLIC_KEY) to {found.project_id!r}")
        return found

    def issue_access_token(self, api_key: str, ttl_s: int) -> tuple[str, Principal]:
        """Exchange an API key for an access token valid ``ttl_s`` seconds, acting as the key (revoking the key ends
        it). In local development mode any ``api_key`` that is not a Threadline key gets a token for ``default``
        that stops working once a key exists. Raises AuthError (bad key)."""
        if tokens.parse(api_key) is None and self.local_mode():
            found = Principal(DEFAULT_PROJECT, None)
        else:
            found = self.authenticate_key(api_key)
        key_id = found.key_id or tokens.LOCAL_KEY_ID
        return tokens.sign_access_token(self.server_secret, key_id, expiry(found, ttl_s)), found

    def authenticate_access_token(self, token: str) -> Principal:
        """The principal of an access token. Raises AuthError (bad or expired token, revoked key, a local-mode
        token after local mode ended)."""
        key_id = tokens.read_access_token(self.server_secret, token, time.time())
        if key_id is None:
            raise AuthError("token", "the access token is invalid or expired; restart the client so that it "
                                     "exchanges its API key for a new one")
        if key_id == tokens.LOCAL_KEY_ID:
            if self.local_mode():
                return Principal(DEFAULT_PROJECT, None)
            raise AuthError("token", "this access token was issued in local development mode, which ended when the "
                                     "first API key was created; restart the client with an API key")
        self._refresh()
        record = self._keys.get(key_id)
        if record is None:
            raise AuthError("token", "the API key this access token was issued for was revoked; restart the client "
                                     "with a valid API key")
        return self._acting_as(record, "the API key this access token was issued for")

    def _acting_as(self, record: KeyRecord, which: str) -> Principal:
        """The principal of a verified, unrevoked key. Raises AuthError when the key has expired (``which`` names
        the key in the message)."""
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise AuthError("expired", f"{which} expired on {record.expires_at:%Y-%m-%d %H:%M:%S} UTC; create a "
                                       "new key (threadline keys create) and use it instead")
        self._note_use(record.key_id)
        return Principal(record.project_id, record.key_id, record.scope, record.expires_at)

    def anonymous(self) -> Principal:
        """The principal of a request without credentials. Raises AuthError unless in local development mode."""
        if self.local_mode():
            return Principal(DEFAULT_PROJECT, None)
        raise AuthError("missing", "an API key is required: send 'Authorization: Bearer <key>' or 'x-api-key'")

    def _note_use(self, key_id: str) -> None:
        self._used[key_id] = datetime.now(UTC)

    def pending_touches(self, *, force: bool = False) -> dict[str, datetime]:
        """Last uses not yet recorded, at most one per key per minute (all of them with ``force``); clears them."""
        now = time.monotonic()
        due = {k: v for k, v in list(self._used.items())
               if force or now - self._touched_at.get(k, float("-inf")) >= TOUCH_EVERY_S}
        for key_id in due:
            self._touched_at[key_id] = now
            self._used.pop(key_id, None)
        return due


class FailureThrottle:
    """Slows repeated authentication failures from one address: after ``limit`` failures within ``window_s``
    seconds, further requests from it are refused until the oldest failure leaves the window."""

    def __init__(self, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds the address must wait (0 when it may try)."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(address)
            if not failures:
                return 0
            while failures and now - failures[0] > self.window_s:
                failures.popleft()
            if len(failures) < self.limit:
                return 0
            return max(1, int(self.window_s - (now - failures[0])) + 1)

    def record(self, address: str) -> None:
        """Count one failure of ``address``."""
        with self._lock:
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()
            self._failures.setdefault(address, deque()).append(time.monotonic())
