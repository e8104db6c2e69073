"""Admin API (``/v1/admin``) over real HTTP: disabled without an admin key, refuses wrong keys, manages projects and
keys (the secret only in the create response), revocation and project deletion take effect, errors are
problem+json."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server

from threadline.auth import tokens
from threadline.auth.remote import RemoteProjects
from threadline.auth.repository import NotFound, ProjectError, ProjectRepository
from threadline.store.gateway import Store

PROBLEM = "application/problem+json"
ADMIN_KEY = "admin-" + "s3cr3t" * 4


@dataclass
class Admin:
    live: LiveServer
    http: httpx.Client  # sends the admin key

    def data(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.live.url, timeout=30, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def admin(store: Store) -> Iterator[Admin]:
    live = start_server(store, admin_key=ADMIN_KEY, auth_failure_limit=1000)
    http = httpx.Client(base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    try:
        yield Admin(live, http)
    finally:
        http.close()
        stop_server(live)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body


def native(session: str, trace_id: str | None = None) -> list[dict[str, Any]]:
    return [{"trace_id": trace_id or uuid.uuid4().hex, "name": "turn", "session_id": session, "spans": [
        {"name": "root", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:01Z"}]}]


ADMIN_ENDPOINTS = [("GET", "/v1/admin/projects", None), ("POST", "/v1/admin/projects", {"project_id": "x"}),
                   ("DELETE", "/v1/admin/projects/default", None), ("GET", "/v1/admin/keys", None),
                   ("POST", "/v1/admin/keys", {"project_id": "default"}),
                   ("DELETE", "/v1/admin/keys/000000000000", None),
                   ("PATCH", "/v1/admin/projects/default", {"retention_days": 1})]


def test_admin_api_is_disabled_without_an_admin_key(store: Store) -> None:
    live = start_server(store)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for method, path, body in ADMIN_ENDPOINTS:
                for headers in ({}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
                    response = http.request(method, path, json=body, headers=headers)
                    detail = assert_problem(response, 403)["detail"]
                    assert "THREADLINE_ADMIN_KEY" in detail
        assert store.select("SELECT count() AS n FROM {db}.projects FINAL WHERE project_id = 'x'",
                            tag="test.count")[0]["n"] == 0
    finally:
        stop_server(live)


def test_wrong_or_missing_admin_key_is_401(admin: Admin, store: Store) -> None:
    project_key = admin.http.post("/v1/admin/keys", json={"project_id": "default"}).json()["secret"]
    with httpx.Client(base_url=admin.live.url, timeout=30) as http:
        for headers in ({}, {"Authorization": "Bearer wrong-admin-key-123456"},
                        {"Authorization": f"Bearer {ADMIN_KEY}x"}, {"Authorization": f"Bearer {ADMIN_KEY[:-1]}"},
                        {"x-api-key": "wrong"}, {"Authorization": f"Bearer {project_key}"},
                        {"Authorization": f"Basic {ADMIN_KEY}"}):
            for method, path, body in ADMIN_ENDPOINTS:
                response = http.request(method, path, json=body, headers=headers)
                assert_problem(response, 401)
                assert "www-authenticate" in response.headers
                assert ADMIN_KEY not in response.text
        # x-api-key carries the admin key as well as a Bearer token
        assert http.get("/v1/admin/projects", headers={"x-api-key": ADMIN_KEY}).status_code == 200
        # the admin key is not a data key
        assert_problem(http.get("/v1/sessions", headers={"Authorization": f"Bearer {ADMIN_KEY}"}), 401)
    rows = store.select("SELECT project_id FROM {db}.projects FINAL WHERE deleted = 0", tag="test.projects")
    assert [r["project_id"] for r in rows] == ["default"]


def test_projects_create_list_and_errors(admin: Admin) -> None:
    created = admin.http.post("/v1/admin/projects", json={"project_id": "checkout-bot", "name": "Checkout bot"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["project_id"], body["name"]) == ("checkout-bot", "Checkout bot") and body["created_at"]
    assert admin.http.post("/v1/admin/projects", json={"project_id": "plain"}).json()["name"] == "plain"
    listed = admin.http.get("/v1/admin/projects").json()
    assert [p["project_id"] for p in listed] == ["checkout-bot", "default", "plain"]
    assert "already exists" in assert_problem(
        admin.http.post("/v1/admin/projects", json={"project_id": "checkout-bot"}), 409)["detail"]
    assert_problem(admin.http.post("/v1/admin/projects", json={"project_id": "default"}), 409)
    for bad in ("Upper", "-x", "a b", "x/y", "dot.ted", "new\nline"):
        detail = assert_problem(admin.http.post("/v1/admin/projects", json={"project_id": bad}), 400)["detail"]
        assert "lowercase" in detail, bad
    for bad_body in ({}, {"project_id": ""}, {"project_id": "a" * 64}, {"project_id": 5}):
        assert_problem(admin.http.post("/v1/admin/projects", json=bad_body), 422)
    assert [p["project_id"] for p in admin.http.get("/v1/admin/projects").json()] == [
        "checkout-bot", "default", "plain"]


def test_keys_create_list_and_the_secret_is_shown_once(admin: Admin, store: Store) -> None:
    admin.http.post("/v1/admin/projects", json={"project_id": "p"})
    response = admin.http.post("/v1/admin/keys", json={"project_id": "p", "name": "ci"})
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    parsed = tokens.parse(secret)
    assert parsed is not None and parsed[0] == created["key_id"]
    assert (created["project_id"], created["name"], created["revoked"], created["last_used_at"]) == (
        "p", "ci", False, None)
    other = admin.http.post("/v1/admin/keys", json={"project_id": "default"}).json()
    # the key works at once
    with admin.data(secret) as data:
        assert data.get("/v1/auth/whoami").json()["project_id"] == "p"
        assert data.post("/v1/ingest", json=native("s1")).status_code == 200
    listed = admin.http.get("/v1/admin/keys")
    assert {k["key_id"] for k in listed.json()} == {created["key_id"], other["key_id"]}
    assert all("secret" not in k for k in listed.json())
    assert [k["key_id"] for k in admin.http.get("/v1/admin/keys", params={"project_id": "p"}).json()] == [
        created["key_id"]]
    assert admin.http.get("/v1/admin/keys", params={"project_id": "nope"}).json() == []
    # the secret appears in no later response
    for path in ("/v1/admin/keys", "/v1/admin/projects", "/v1/admin/keys?project_id=p"):
        text = admin.http.get(path).text
        assert secret not in text and parsed[1] not in text
    detail = assert_problem(admin.http.post("/v1/admin/keys", json={"project_id": "nope"}), 404)["detail"]
    assert "nope" in detail
    assert_problem(admin.http.post("/v1/admin/keys", json={}), 422)


def test_revoked_key_is_refused(admin: Admin) -> None:
    created = admin.http.post("/v1/admin/keys", json={"project_id": "default", "name": "temp"}).json()
    with admin.data(created["secret"]) as data:
        assert data.get("/v1/sessions").status_code == 200
        assert admin.http.delete(f"/v1/admin/keys/{created['key_id']}").status_code == 204
        # this server is told at once; the 1 s refresh covers the others
        assert_problem(data.get("/v1/sessions"), 401)
        assert_problem(data.post("/v1/ingest", json=native("after-revoke")), 401)
    keys = {k["key_id"]: k for k in admin.http.get("/v1/admin/keys").json()}
    assert keys[created["key_id"]]["revoked"] is True
    assert admin.http.delete(f"/v1/admin/keys/{created['key_id']}").status_code == 204  # idempotent
    assert_problem(admin.http.delete("/v1/admin/keys/000000000000"), 404)


def test_delete_project_removes_its_data_and_refuses_its_keys(admin: Admin, store: Store) -> None:
    for project in ("doomed", "kept"):
        assert admin.http.post("/v1/admin/projects", json={"project_id": project}).status_code == 201
    doomed = admin.http.post("/v1/admin/keys", json={"project_id": "doomed"}).json()["secret"]
    kept = admin.http.post("/v1/admin/keys", json={"project_id": "kept"}).json()["secret"]
    with admin.data(doomed) as d, admin.data(kept) as k:
        assert d.post("/v1/ingest", json=native("chat-1")).status_code == 200
        assert k.post("/v1/ingest", json=native("chat-1")).status_code == 200
        assert admin.http.delete("/v1/admin/projects/doomed").status_code == 204
        assert_problem(d.get("/v1/sessions"), 401)
        assert_problem(d.post("/v1/ingest", json=native("chat-2")), 401)
        page = k.get("/v1/sessions").json()
        assert [s["session_id"] for s in page["data"]] == ["chat-1"]
    counts = {r["project_id"]: r["n"] for r in store.select(
        "SELECT project_id, count() AS n FROM {db}.spans GROUP BY project_id", tag="test.count")}
    assert counts == {"kept": 1}
    for table in ("trace_rollups", "session_rollups", "trace_sessions"):
        rows = store.select(f"SELECT count() AS n FROM {{db}}.{table} WHERE project_id = 'doomed'", tag="test.c")
        assert rows[0]["n"] == 0, table
    assert [p["project_id"] for p in admin.http.get("/v1/admin/projects").json()] == ["default", "kept"]
    assert all(k["revoked"] for k in admin.http.get("/v1/admin/keys", params={"project_id": "doomed"}).json())
    assert_problem(admin.http.delete("/v1/admin/projects/doomed"), 404)
    assert_problem(admin.http.delete("/v1/admin/projects/never"), 404)
    assert_problem(admin.http.post("/v1/admin/keys", json={"project_id": "doomed"}), 404)
    # a project recreated under the same id starts empty and its old key stays refused
    assert admin.http.post("/v1/admin/projects", json={"project_id": "doomed"}).status_code == 201
    fresh = admin.http.post("/v1/admin/keys", json={"project_id": "doomed"}).json()["secret"]
    with admin.data(fresh) as f, admin.data(doomed) as d:
        assert f.get("/v1/sessions").json()["data"] == []
        assert_problem(d.get("/v1/sessions"), 401)


def test_admin_failures_are_throttled(store: Store) -> None:
    live = start_server(store, admin_key=ADMIN_KEY, auth_failure_limit=2)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            for _ in range(2):
                assert_problem(http.get("/v1/admin/projects", headers={"Authorization": "Bearer guess"}), 401)
            response = http.get("/v1/admin/projects", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert_problem(response, 429)
            assert int(response.headers["retry-after"]) >= 1
            metrics = http.get("/metrics").text
            assert 'threadline_auth_failures_total{reason="admin"} 2.0' in metrics
            assert ADMIN_KEY not in metrics
    finally:
        stop_server(live)


def test_last_use_of_a_key_is_recorded(store: Store) -> None:
    """Last use is written in the background (at most once a minute per key) and on shutdown."""
    live = start_server(store, admin_key=ADMIN_KEY)
    try:
        with httpx.Client(base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
            created = http.post("/v1/admin/keys", json={"project_id": "default"}).json()
            unused = http.post("/v1/admin/keys", json={"project_id": "default"}).json()
            assert created["last_used_at"] is None
            with httpx.Client(base_url=live.url, timeout=30,
                              headers={"Authorization": f"Bearer {created['secret']}"}) as data:
                assert data.get("/v1/sessions").status_code == 200
    finally:
        stop_server(live)
    keys = {k.key_id: k for k in ProjectRepository(store).list_keys()}
    assert keys[created["key_id"]].last_used_at is not None
    assert keys[unused["key_id"]].last_used_at is None


# --- retention, key scopes and expiry; the CLI's remote client against the same API -----------------------------


def test_project_retention_is_set_and_patched(admin: Admin, store: Store) -> None:
    created = admin.http.post("/v1/admin/projects", json={"project_id": "r", "retention_days": 14})
    assert created.status_code == 201 and created.json()["retention_days"] == 14
    assert admin.http.post("/v1/admin/projects", json={"project_id": "f"}).json()["retention_days"] == 0
    patched = admin.http.patch("/v1/admin/projects/r", json={"retention_days": 30})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["retention_days"]) == ("r", 30)
    renamed = admin.http.patch("/v1/admin/projects/r", json={"name": "Retained"}).json()
    assert (renamed["name"], renamed["retention_days"]) == ("Retained", 30)
    before = admin.http.get("/v1/admin/projects").json()
    for bad in ({"retention_days": -1}, {"retention_days": 36_501}, {"retention_days": "a week"},
                {"retention_days": 1.5}, {"name": ""}, {"name": "ok", "retention_days": -5}):
        body = assert_problem(admin.http.patch("/v1/admin/projects/r", json=bad), 422)
        assert "body." in body["detail"], bad
    assert "retention_days" in assert_problem(
        admin.http.post("/v1/admin/projects", json={"project_id": "neg", "retention_days": -1}), 422)["detail"]
    assert_problem(admin.http.patch("/v1/admin/projects/nope", json={"retention_days": 1}), 404)
    assert_problem(admin.http.patch("/v1/admin/projects/r", content=b"{", headers={
        "Content-Type": "application/json"}), 422)
    assert admin.http.get("/v1/admin/projects").json() == before  # nothing changed, nothing created


def test_keys_have_a_scope_and_an_expiry(admin: Admin) -> None:
    made = admin.http.post("/v1/admin/keys", json={"project_id": "default", "scope": "ingest",
                                                   "expires_in_s": 3600})
    assert made.status_code == 201, made.text
    key = made.json()
    expires = datetime.fromisoformat(key["expires_at"])
    assert key["scope"] == "ingest" and key["state"] == "active"
    assert abs((expires - datetime.now(UTC) - timedelta(hours=1)).total_seconds()) < 60
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    read = admin.http.post("/v1/admin/keys", json={"project_id": "default", "scope": "read",
                                                   "expires_at": at.isoformat()}).json()
    assert read["scope"] == "read" and datetime.fromisoformat(read["expires_at"]) == at
    plain = admin.http.post("/v1/admin/keys", json={"project_id": "default"}).json()
    assert (plain["scope"], plain["expires_at"]) == ("all", None)
    listed = {k["key_id"]: k for k in admin.http.get("/v1/admin/keys").json()}
    assert {(k["scope"], k["state"]) for k in listed.values()} == {("ingest", "active"), ("read", "active"),
                                                                   ("all", "active")}
    with admin.data(key["secret"]) as data:  # the ingest key writes and reads nothing
        assert data.post("/v1/ingest", json=native("edge")).status_code == 200
        assert "scope 'ingest'" in assert_problem(data.get("/v1/sessions"), 403)["detail"]
    for bad, status, words in (
            ({"scope": "write"}, 422, "'ingest', 'read' or 'all'"),
            ({"scope": "ALL"}, 422, "'ingest', 'read' or 'all'"),
            ({"expires_in_s": 0}, 422, "expires_in_s"),
            ({"expires_in_s": -60}, 422, "expires_in_s"),
            ({"expires_at": "2020-01-01T00:00:00Z"}, 400, "not in the future"),
            ({"expires_at": "2099-01-01T00:00:00"}, 422, "timezone"),
            ({"expires_in_s": 60, "expires_at": at.isoformat()}, 400, "not both")):
        detail = assert_problem(admin.http.post("/v1/admin/keys", json={"project_id": "default", **bad}),
                                status)["detail"]
        assert words in detail, (bad, detail)
    assert len(admin.http.get("/v1/admin/keys").json()) == 3  # no key made by a refused request


def test_the_remote_client_mirrors_the_repository(admin: Admin) -> None:
    remote = RemoteProjects(admin.live.url, ADMIN_KEY)
    project = remote.create_project("mirror", "Mirror", retention_days=3)
    assert (project.project_id, project.name, project.retention_days) == ("mirror", "Mirror", 3)
    updated = remote.update_project("mirror", retention_days=0)
    assert (updated.name, updated.retention_days) == ("Mirror", 0)
    assert {p.project_id: p.retention_days for p in remote.list_projects()}["mirror"] == 0
    with pytest.raises(ProjectError, match="retention_days"):
        remote.update_project("mirror", retention_days=-1)
    with pytest.raises(NotFound):
        remote.update_project("nope", name="x")
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    key, secret = remote.create_key("mirror", "edge", scope="ingest", expires_at=ends)
    assert (key.scope, key.expires_at, key.state()) == ("ingest", ends, "active") and tokens.parse(secret)
    [listed] = remote.list_keys("mirror")
    assert (listed.scope, listed.expires_at) == ("ingest", ends)
    with pytest.raises(ProjectError, match="'ingest', 'read' or 'all'"):
        remote.create_key("mirror", scope="everything")
    assert len(remote.list_keys("mirror")) == 1
