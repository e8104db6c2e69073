"""Dashboard login over real HTTP: the session cookie's attributes, cookie-authenticated reads, CSRF-safe writes
(Origin must be the server's own), logout, tampered and expired cookies, revocation of the key behind it, and a
session never outliving its key."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server

from threadline.auth.repository import ProjectRepository
from threadline.auth.tokens import secret_part
from threadline.store.gateway import Store

PROBLEM = "application/problem+json"
COOKIE = "threadline_session"


@dataclass
class Setup:
    live: LiveServer
    http: httpx.Client
    repo: ProjectRepository
    key_id: str
    secret: str
    other_secret: str

    @property
    def origin(self) -> str:
        return self.live.url  # http://127.0.0.1:PORT


@pytest.fixture
def setup(store: Store) -> Iterator[Setup]:
    repo = ProjectRepository(store)
    repo.create_project("dash")
    repo.create_project("other")
    key, secret = repo.create_key("dash", "dashboard")
    _, other_secret = repo.create_key("other")
    live = start_server(store, auth_failure_limit=1000)
    # a client without a cookie jar of its own: every test sends exactly the cookie it means to
    http = httpx.Client(base_url=live.url, timeout=30, cookies=None)
    try:
        yield Setup(live, http, repo, key.key_id, secret, other_secret)
    finally:
        http.close()
        stop_server(live)


def login(setup: Setup, key: str | None = None) -> httpx.Response:
    response = setup.http.post("/v1/auth/login", json={"api_key": key or setup.secret})
    setup.http.cookies.clear()
    return response


def set_cookie_attributes(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """(cookie value, attributes lowercased) of the session cookie set by ``response``."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert len(headers) == 1, response.headers
    first, *attributes = (part.strip() for part in headers[0].split(";"))
    value = first.split("=", 1)[1].strip('"')
    parsed: dict[str, str] = {}
    for attribute in attributes:
        name, _, attr_value = attribute.partition("=")
        parsed[name.lower()] = attr_value
    return value, parsed


def with_cookie(token: str, **headers: str) -> dict[str, Any]:
    return {"Cookie": f"{COOKIE}={token}", **headers}


def native(trace_id: str) -> list[dict[str, Any]]:
    return [{"trace_id": trace_id, "name": "from the dashboard", "session_id": "dash-1", "spans": [
        {"name": "root", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:01Z"}]}]


def count_spans(setup: Setup, trace_id: str) -> int:
    setup.live.settled()  # acknowledged spans reach the store once the writer has inserted them
    rows = setup.live.store.select("SELECT count() AS n FROM {db}.spans WHERE trace_id = {t:String}",
                                   {"t": trace_id}, tag="test.count")
    return int(rows[0]["n"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_login_sets_an_httponly_samesite_strict_cookie(setup: Setup) -> None:
    response = login(setup)
    assert response.status_code == 200, response.text
    assert response.json() == {"project_id": "dash", "key_id": setup.key_id, "local_mode": False, "scope": "all",
                               "expires_at": None}
    token, attributes = set_cookie_attributes(response)
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "strict"
    assert attributes.get("path") == "/"
    assert "secure" not in attributes  # plain http here; set over https
    assert int(attributes["max-age"]) == setup.live.settings.session_cookie_ttl_s
    # the cookie is a signed session token, not the API key
    assert setup.secret not in token and secret_part(setup.secret) not in token
    assert setup.secret not in response.text.replace(setup.key_id, "")


def test_cookie_authenticates_reads(setup: Setup) -> None:
    token, _ = set_cookie_attributes(login(setup))
    for path in ("/v1/auth/whoami", "/v1/sessions"):
        response = setup.http.get(path, headers=with_cookie(token))
        assert response.status_code == 200, (path, response.text)
    assert setup.http.get("/v1/auth/whoami", headers=with_cookie(token)).json() == {
        "project_id": "dash", "key_id": setup.key_id, "local_mode": False, "scope": "all", "expires_at": None}
    assert_problem(setup.http.get("/v1/sessions"), 401)  # and without it nothing


def test_a_key_takes_precedence_over_the_cookie(setup: Setup) -> None:
    token, _ = set_cookie_attributes(login(setup))
    both = setup.http.get("/v1/auth/whoami", headers=with_cookie(token, Authorization=f"Bearer {setup.other_secret}"))
    assert both.json()["project_id"] == "other"
    assert_problem(setup.http.get("/v1/sessions", headers=with_cookie(token, Authorization="Bearer bad")), 401)


@pytest.mark.parametrize("path", ["/v1/ingest", "/v1/traces"])
def test_cookie_writes_need_the_servers_own_origin(setup: Setup, path: str) -> None:
    token, _ = set_cookie_attributes(login(setup))
    refused = {
        "no origin": {},
        "foreign origin": {"Origin": "http://evil.example"},
        "null origin": {"Origin": "null"},
        "look-alike host": {"Origin": f"{setup.origin}.evil.example"},
        "other port": {"Origin": "http://127.0.0.1:1"},
        "foreign referer": {"Referer": "http://evil.example/page"},
    }
    for label, headers in refused.items():
        trace_id = uuid.uuid4().hex
        body: dict[str, Any] = {"json": native(trace_id)} if path == "/v1/ingest" else {
            "content": b"{}", "headers": {"Content-Type": "application/json"}}
        response = setup.http.post(path, headers={**with_cookie(token, **headers), **body.pop("headers", {})},
                                   **body)
        assert_problem(response, 403)
        assert "origin" in response.json()["detail"].lower(), label
        assert count_spans(setup, trace_id) == 0, label
    trace_id = uuid.uuid4().hex
    if path == "/v1/ingest":
        ok = setup.http.post(path, json=native(trace_id), headers=with_cookie(token, Origin=setup.origin))
        assert ok.status_code == 200, ok.text
        assert count_spans(setup, trace_id) == 1
        via_referer = setup.http.post(path, json=native(uuid.uuid4().hex),
                                      headers=with_cookie(token, Referer=f"{setup.origin}/sessions"))
        assert via_referer.status_code == 200, via_referer.text
    else:
        ok = setup.http.post(path, content=b"{}", headers=with_cookie(token, Origin=setup.origin,
                                                                         **{"Content-Type": "application/json"}))
        assert ok.status_code == 200, ok.text


def test_key_authenticated_writes_need_no_origin(setup: Setup) -> None:
    trace_id = uuid.uuid4().hex
    response = setup.http.post("/v1/ingest", json=native(trace_id),
                               headers={"Authorization": f"Bearer {setup.secret}", "Origin": "http://evil.example"})
    assert response.status_code == 200
    assert count_spans(setup, trace_id) == 1


def test_logout_clears_the_cookie(setup: Setup) -> None:
    token, _ = set_cookie_attributes(login(setup))
    response = setup.http.post("/v1/auth/logout", headers=with_cookie(token))
    assert response.status_code == 204
    value, attributes = set_cookie_attributes(response)
    assert value == ""
    assert attributes.get("max-age") == "0" or "expires" in attributes
    assert attributes.get("path") == "/" and "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "strict"
    # a client that honours the cleared cookie is logged out
    jar = httpx.Client(base_url=setup.live.url, timeout=30)
    with jar:
        assert jar.post("/v1/auth/login", json={"api_key": setup.secret}).status_code == 200
        assert jar.get("/v1/auth/whoami").status_code == 200
        assert jar.post("/v1/auth/logout").status_code == 204
        assert_problem(jar.get("/v1/auth/whoami"), 401)


def test_tampered_cookies_are_401(setup: Setup) -> None:
    token, _ = set_cookie_attributes(login(setup))
    key_id, expires, signature = token.split(".")
    other_id = setup.repo.list_keys("other")[0].key_id
    tampered = [
        f"{key_id}.{expires}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        f"{other_id}.{expires}.{signature}",   # the same signature for another project's key
        f"{key_id}.{int(expires) + 1}.{signature}",
        f"{key_id}.{expires}",
        "garbage",
        f"{key_id}.{'9' * 5000}.{signature}",
        setup.secret,                            # an API key is not a session token
    ]
    for bad in tampered:
        response = setup.http.get("/v1/sessions", headers=with_cookie(bad))
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer")
    # bytes outside ASCII (a browser or proxy may send them; the server decodes headers as latin-1)
    raw = f"{COOKIE}={key_id}.{expires}.".encode() + b"\xe9" * 8
    response = setup.http.get("/v1/sessions", headers={"Cookie": raw})
    assert_problem(response, 401)


def test_expired_cookie_is_401(store: Store) -> None:
    repo = ProjectRepository(store)
    repo.create_project("dash")
    _, secret = repo.create_key("dash")
    # 3 s, not 1: a loaded CI machine can take a second between the login and the first read (expiry is whole seconds)
    live = start_server(store, session_cookie_ttl_s=3)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            response = http.post("/v1/auth/login", json={"api_key": secret})
            http.cookies.clear()
            token, attributes = set_cookie_attributes(response)
            assert attributes["max-age"] == "3"
            assert http.get("/v1/sessions", headers=with_cookie(token)).status_code == 200
            expires_at = int(token.split(".")[1])
            time.sleep(max(0.0, expires_at + 1.1 - time.time()))
            body = assert_problem(http.get("/v1/sessions", headers=with_cookie(token)), 401)
            assert "log in again" in body["detail"]
    finally:
        stop_server(live)


def test_login_with_a_bad_key_is_401_and_sets_no_cookie(setup: Setup) -> None:
    for bad in ("nope", f"tl_{'0' * 12}_{'A' * 43}", setup.secret[:-1] + ("A" if setup.secret[-1] != "A" else "B")):
        response = setup.http.post("/v1/auth/login", json={"api_key": bad})
        assert_problem(response, 401)
        assert "set-cookie" not in response.headers
        assert bad not in response.text
    assert setup.http.post("/v1/auth/login", json={}).status_code == 422


def test_revoking_the_key_invalidates_its_cookie(setup: Setup) -> None:
    token, _ = set_cookie_attributes(login(setup))
    assert setup.http.get("/v1/sessions", headers=with_cookie(token)).status_code == 200
    ProjectRepository(setup.live.store).revoke_key(setup.key_id)  # as another replica would
    deadline = time.monotonic() + 2
    while (response := setup.http.get("/v1/sessions", headers=with_cookie(token))).status_code != 401:
        assert response.status_code == 200
        assert time.monotonic() < deadline, "the cookie of a revoked key still works after 2 s"
        time.sleep(0.05)
    assert "revoked" in assert_problem(response, 401)["detail"]
    assert_problem(login(setup), 401)  # nor can the key log in again


def test_the_session_of_an_expiring_key_ends_with_the_key(setup: Setup) -> None:
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    _, secret = setup.repo.create_key("dash", "read-only", scope="read", expires_at=ends)
    deadline = time.monotonic() + 3  # the server re-reads its keys within a second
    while (response := login(setup, secret)).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)
    body = response.json()
    assert (body["scope"], datetime.fromisoformat(body["expires_at"])) == ("read", ends)
    token, attributes = set_cookie_attributes(response)
    assert setup.live.settings.session_cookie_ttl_s > 3600  # else this proves nothing
    assert 3500 < int(attributes["max-age"]) <= 3600
    assert int(token.split(".")[1]) == int(ends.timestamp())  # the signed expiry is the key's
    assert setup.http.get("/v1/auth/whoami", headers=with_cookie(token)).json()["scope"] == "read"
