"""Authenticator on a real store: local development mode, keys, revocation seen by another instance within a
second, keys re-read ahead of requests, dashboard session tokens, last-use bookkeeping, and the failure throttle."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from threadline.auth import tokens
from threadline.auth.authenticator import Authenticator, AuthError, FailureThrottle, Principal, expiry, is_loopback
from threadline.auth.repository import KeyRecord, ProjectRepository
from threadline.store.gateway import Store


@pytest.fixture
def repo(store: Store) -> ProjectRepository:
    return ProjectRepository(store)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.com", False), ("", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_local_mode_only_on_loopback_without_keys(repo: ProjectRepository) -> None:
    local = Authenticator(repo, loopback_bind=True)
    assert local.local_mode()
    assert local.anonymous() == Principal("default", None)
    exposed = Authenticator(repo, loopback_bind=False)
    assert not exposed.local_mode()
    with pytest.raises(AuthError) as info:
        exposed.anonymous()
    assert info.value.reason == "missing"


def test_once_a_key_exists_anonymous_is_refused(repo: ProjectRepository) -> None:
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    assert auth.local_mode()
    repo.create_project("p")
    key, _ = repo.create_key("p")
    assert not auth.local_mode()
    with pytest.raises(AuthError) as info:
        auth.anonymous()
    assert info.value.reason == "missing"
    repo.revoke_key(key.key_id)  # revoking every key does not reopen local mode
    with pytest.raises(AuthError):
        auth.anonymous()
    assert not auth.local_mode()


def test_key_authenticates_to_its_project(repo: ProjectRepository) -> None:
    repo.create_project("a")
    repo.create_project("b")
    key_a, secret_a = repo.create_key("a")
    key_b, secret_b = repo.create_key("b")
    auth = Authenticator(repo, loopback_bind=True)
    assert auth.authenticate_key(secret_a) == Principal("a", key_a.key_id)
    assert auth.authenticate_key(secret_b) == Principal("b", key_b.key_id)


def test_bad_keys_are_refused_with_a_reason(repo: ProjectRepository) -> None:
    repo.create_project("a")
    key, secret = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True)
    parsed = tokens.parse(secret)
    assert parsed is not None
    wrong_secret = f"tl_{key.key_id}_{'A' * 43}"
    unknown_id = f"tl_{'0' * 12}_{parsed[1]}"
    for bad, reason in (("nonsense", "malformed"), (secret + "x", "malformed"), (wrong_secret, "invalid"),
                        (unknown_id, "invalid")):
        with pytest.raises(AuthError) as info:
            auth.authenticate_key(bad)
        assert info.value.reason == reason, bad
        assert bad not in str(info.value)  # the message never echoes the key


def test_revocation_by_another_instance_is_seen_within_a_second(repo: ProjectRepository, store: Store) -> None:
    repo.create_project("a")
    key, secret = repo.create_key("a")
    server = Authenticator(repo, loopback_bind=True)  # default refresh: once a second
    assert server.authenticate_key(secret).key_id == key.key_id
    other = ProjectRepository(store)  # another process/replica on the same store
    other.revoke_key(key.key_id)
    revoked_at = time.monotonic()
    while True:
        try:
            server.authenticate_key(secret)
        except AuthError as exc:
            assert exc.reason == "invalid"
            break
        assert time.monotonic() - revoked_at < 1.5, "revocation not seen within a second"
        time.sleep(0.05)


def test_new_key_by_another_instance_is_accepted_within_a_second(repo: ProjectRepository, store: Store) -> None:
    server = Authenticator(repo, loopback_bind=True)
    assert server.local_mode()
    other = ProjectRepository(store)
    other.create_project("a")
    _, secret = other.create_key("a")
    created_at = time.monotonic()
    while True:
        try:
            assert server.authenticate_key(secret).project_id == "a"
            break
        except AuthError:
            assert time.monotonic() - created_at < 1.5
            time.sleep(0.05)
    assert not server.local_mode()


def test_deleting_the_project_refuses_its_keys(repo: ProjectRepository) -> None:
    repo.create_project("a")
    _, secret = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True)
    auth.authenticate_key(secret)
    repo.delete_project("a")
    auth.invalidate()
    with pytest.raises(AuthError):
        auth.authenticate_key(secret)


def test_session_tokens(repo: ProjectRepository) -> None:
    repo.create_project("a")
    key, _ = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    token = tokens.sign_session(auth.server_secret, key.key_id, int(time.time()) + 60)
    assert auth.authenticate_session(token) == Principal("a", key.key_id)
    expired = tokens.sign_session(auth.server_secret, key.key_id, int(time.time()) - 1)
    forged = tokens.sign_session("00" * 32, key.key_id, int(time.time()) + 60)
    for bad in (expired, forged, token + "0", "x.1.y", "\u00e9.99999999999.\u00e9"):
        with pytest.raises(AuthError) as info:
            auth.authenticate_session(bad)
        assert info.value.reason == "session"
    repo.revoke_key(key.key_id)
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate_session(token)


def test_server_secret_is_shared_by_instances_on_one_store(repo: ProjectRepository, store: Store) -> None:
    first = Authenticator(repo, loopback_bind=True)
    second = Authenticator(ProjectRepository(store), loopback_bind=True)
    assert first.server_secret == second.server_secret


def test_pending_touches_at_most_once_a_minute(repo: ProjectRepository) -> None:
    repo.create_project("a")
    key, secret = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True)
    assert auth.pending_touches() == {}
    auth.authenticate_key(secret)
    due = auth.pending_touches()
    assert set(due) == {key.key_id}
    auth.authenticate_key(secret)
    assert auth.pending_touches() == {}  # touched less than a minute ago
    assert set(auth.pending_touches(force=True)) == {key.key_id}
    assert auth.pending_touches(force=True) == {}


def test_failure_throttle_limit_and_window() -> None:
    throttle = FailureThrottle(limit=3, window_s=0.5)
    assert throttle.retry_after("1.2.3.4") == 0
    for _ in range(2):
        throttle.record("1.2.3.4")
        assert throttle.retry_after("1.2.3.4") == 0
    throttle.record("1.2.3.4")
    wait = throttle.retry_after("1.2.3.4")
    assert wait >= 1
    assert throttle.retry_after("5.6.7.8") == 0  # per address
    time.sleep(0.6)
    assert throttle.retry_after("1.2.3.4") == 0  # failures left the window


def test_failure_throttle_retry_after_counts_down_from_the_window() -> None:
    throttle = FailureThrottle(limit=2, window_s=60)
    throttle.record("a")
    throttle.record("a")
    wait = throttle.retry_after("a")
    assert 59 <= wait <= 61


def test_basic_credentials_name_the_project_and_carry_the_key(repo: ProjectRepository) -> None:
    repo.create_project("a")
    repo.create_project("b")
    key, secret = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    assert auth.authenticate_basic("a", secret) == Principal("a", key.key_id)
    assert auth.authenticate_basic("", secret) == Principal("a", key.key_id)  # no username: the key decides
    with pytest.raises(AuthError) as info:
        auth.authenticate_basic("b", secret)
    assert info.value.reason == "project" and "'b'" in str(info.value) and "'a'" in str(info.value)
    with pytest.raises(AuthError) as info:
        auth.authenticate_basic("a", "sk-lf-not-a-threadline-key")  # keys exist: no more local mode
    assert info.value.reason == "malformed"


def test_basic_credentials_in_local_mode(repo: ProjectRepository) -> None:
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    # a Langfuse key pair kept from before: local mode acts on default, as it does without credentials
    assert auth.authenticate_basic("pk-lf-1234", "sk-lf-5678") == Principal("default", None)
    exposed = Authenticator(repo, loopback_bind=False, refresh_s=0)
    with pytest.raises(AuthError):
        exposed.authenticate_basic("pk-lf-1234", "sk-lf-5678")


def test_access_tokens_act_as_their_key(repo: ProjectRepository) -> None:
    repo.create_project("a")
    key, secret = repo.create_key("a")
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    token, found = auth.issue_access_token(secret, 60)
    assert found == Principal("a", key.key_id)
    assert auth.authenticate_bearer(token) == Principal("a", key.key_id)
    assert auth.authenticate_bearer(secret) == Principal("a", key.key_id)
    with pytest.raises(AuthError) as info:
        auth.issue_access_token("not-a-key", 60)
    assert info.value.reason == "malformed"
    expired, _ = auth.issue_access_token(secret, -1)
    for bad in (expired, token + "0", "tlat_x.1.y"):
        with pytest.raises(AuthError) as info:
            auth.authenticate_bearer(bad)
        assert info.value.reason == "token"
    repo.revoke_key(key.key_id)
    with pytest.raises(AuthError, match="revoked"):
        auth.authenticate_bearer(token)


def test_local_mode_access_tokens_end_with_local_mode(repo: ProjectRepository) -> None:
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    token, found = auth.issue_access_token("any-agentops-key", 60)
    assert found == Principal("default", None)
    assert auth.authenticate_bearer(token) == Principal("default", None)
    repo.create_project("a")
    repo.create_key("a")
    with pytest.raises(AuthError, match="local development mode"):
        auth.authenticate_bearer(token)


# --- scopes and expiry ---------------------------------------------------------------------------------------------


def test_principals_carry_the_keys_scope_and_expiry(repo: ProjectRepository) -> None:
    repo.create_project("a")
    later = datetime.now(UTC) + timedelta(hours=1)
    key, secret = repo.create_key("a", scope="ingest", expires_at=later)
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    found = auth.authenticate_key(secret)
    assert (found.scope, found.key_id) == ("ingest", key.key_id)
    assert found.expires_at is not None and abs((found.expires_at - later).total_seconds()) < 0.001
    token, _ = auth.issue_access_token(secret, 30 * 24 * 3600)
    assert auth.authenticate_bearer(token) == found  # the token acts with the key's scope
    session = tokens.sign_session(auth.server_secret, key.key_id, int(time.time()) + 60)
    assert auth.authenticate_session(session).scope == "ingest"
    assert Principal("default", None).scope == "all"  # what local development mode acts with


def test_tokens_never_outlive_their_key(repo: ProjectRepository) -> None:
    repo.create_project("a")
    ends = datetime.now(UTC) + timedelta(minutes=10)
    _, secret = repo.create_key("a", expires_at=ends)
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    token, found = auth.issue_access_token(secret, 30 * 24 * 3600)
    signed_until = int(token.rsplit(".", 2)[1])
    assert signed_until == int(ends.timestamp())  # not 30 days
    assert expiry(found, 60, now=1000.0) == 1060  # a shorter ttl wins
    assert expiry(Principal("a", "k"), 60, now=1000.0) == 1060  # no expiry: the ttl


def test_an_expired_key_is_refused_saying_when(repo: ProjectRepository) -> None:
    repo.create_project("a")
    key, secret = repo.create_key("a", scope="read", expires_at=datetime.now(UTC) + timedelta(seconds=1.2))
    auth = Authenticator(repo, loopback_bind=True, refresh_s=0)
    issued, _ = auth.issue_access_token(secret, 3600)  # signed to end with the key
    # signed for longer than the key lives (not what the server issues): the key's expiry still ends them
    token = tokens.sign_access_token(auth.server_secret, key.key_id, int(time.time()) + 3600)
    session = tokens.sign_session(auth.server_secret, key.key_id, int(time.time()) + 3600)
    assert auth.authenticate_key(secret).scope == "read" and auth.authenticate_bearer(issued).scope == "read"
    time.sleep(max(0.0, (key.expires_at - datetime.now(UTC)).total_seconds()) + 0.05)  # type: ignore[operator]
    assert key.expires_at is not None
    when = f"{key.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    for attempt, words in ((lambda: auth.authenticate_key(secret), "the API key expired on"),
                           (lambda: auth.authenticate_bearer(token), "access token was issued for expired on"),
                           (lambda: auth.authenticate_session(session), "dashboard session expired on")):
        with pytest.raises(AuthError) as info:
            attempt()
        assert info.value.reason == "expired"
        assert words in str(info.value) and when in str(info.value)
    with pytest.raises(AuthError, match="expired on"):
        auth.issue_access_token(secret, 60)
    with pytest.raises(AuthError, match="invalid or expired"):
        auth.authenticate_bearer(issued)
    assert not auth.local_mode()  # an expired key still ends local mode


class CountingRepository(ProjectRepository):
    """The real repository, counting its reads of the key table."""

    reads = 0

    def active_keys(self) -> dict[str, KeyRecord]:
        self.reads += 1
        return super().active_keys()


def test_refresh_ahead_reads_the_keys_off_the_request_path_while_requests_come(store: Store) -> None:
    repo = CountingRepository(store)
    repo.create_project("a")
    key, secret = repo.create_key("a")
    server = Authenticator(repo, loopback_bind=True, refresh_s=1.0)
    assert not server.refresh_ahead()  # no request yet: an idle server reads nothing
    assert repo.reads == 0
    server.authenticate_key(secret)
    assert repo.reads == 1  # the first request reads them itself
    assert not server.refresh_ahead()  # fresh: nothing to do
    for _ in range(3):  # a request right after each background refresh (those run every 0.8 refresh_s)
        time.sleep(0.6)
        assert server.refresh_ahead()
        before = repo.reads
        server.authenticate_key(secret)
        assert repo.reads == before  # the request found them fresh
    time.sleep(0.6)
    before = repo.reads
    assert not server.refresh_ahead(active_s=0.3)  # no request for longer than active_s: idle, nothing read
    assert repo.reads == before
    ProjectRepository(store).revoke_key(key.key_id)  # by another instance
    assert server.refresh_ahead()  # a request came within the last minute: read, and the revocation shows
    assert repo.reads == before + 1
    with pytest.raises(AuthError):
        server.authenticate_key(secret)
