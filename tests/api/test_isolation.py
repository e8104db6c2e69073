"""THE ISOLATION MATRIX, over real HTTP against the real app and store.

Two projects, ``alpha`` and ``bravo``, with a key each. Alpha's data arrives through OTLP, bravo's through native
ingest; both have a session with the same external id ``chat-1``, and both hold a trace with the same trace id.
Every read endpoint is asked with each key for its own and for the other project's resources; every write endpoint is
used with each key and the spans table checked for where the rows landed. Then authentication itself: missing,
malformed, revoked and expired keys, ``x-api-key``, a non-loopback bind, local development mode, and the failure
throttle. Then scopes: alpha also has an ``ingest`` and a ``read`` key, each refused (403) everywhere outside its
scope, swept over every endpoint of the app.

To cover a new endpoint add it to READS (or WRITES with a body builder): the matrix tests pick it up.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import BACKENDS, CLICKHOUSE_URL, LiveServer, start_server, stop_server
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from threadline.auth.repository import ProjectRepository
from threadline.auth.tokens import secret_part
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROBLEM = "application/problem+json"
PROTOBUF = "application/x-protobuf"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000

# Trace ids. COLLIDING is used by both projects.
A_CHAT1 = ("a1" * 16, "a2" * 16)
A_ONLY = "a3" * 16
B_CHAT1 = "b1" * 16
B_ONLY = "b3" * 16
COLLIDING = "cc" * 16
A_TARGET = "a9" * 16  # the target of bravo's attempted cross-project write


@dataclass
class Tenant:
    project: str
    key: str
    key_id: str
    only_session: str
    only_trace: str
    marker: str  # appears in every span name and input of this project's data
    foreign_marker: str


# --- data ----------------------------------------------------------------------------------------------------------


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_span(trace_id: str, name: str, session: str | None, *, offset_s: int = 0, parent: bytes = b"",
              span_id: bytes | None = None) -> Span:
    attrs = [_kv("input.value", f"{name} input")]
    if session is not None:
        attrs.append(_kv("session.id", session))
    return Span(trace_id=bytes.fromhex(trace_id), span_id=span_id or os.urandom(8), parent_span_id=parent, name=name,
                start_time_unix_nano=T0 + offset_s * SEC, end_time_unix_nano=T0 + (offset_s + 1) * SEC,
                attributes=attrs)


def otlp_body(*spans: Span) -> bytes:
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    resource.resource.attributes.append(_kv("service.name", "isolation-tests"))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def native_trace(trace_id: str, name: str, session: str | None, spans: int = 1, offset_s: int = 0
                 ) -> dict[str, Any]:
    start = f"2026-01-01T00:{offset_s // 60:02d}:{offset_s % 60:02d}Z"
    end = f"2026-01-01T00:{offset_s // 60:02d}:{offset_s % 60:02d}.900Z"
    return {"trace_id": trace_id, "name": name, "session_id": session,
            "spans": [{"name": f"{name} #{i}", "start_time": start, "end_time": end, "input": f"{name} input"}
                      for i in range(spans)]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def spans_by_project(live: LiveServer, trace_id: str) -> dict[str, int]:
    live.settled()  # acknowledged spans reach the store once the writer has inserted them
    rows = live.store.select("SELECT project_id, count() AS n FROM {db}.spans WHERE trace_id = {t:String} "
                        "GROUP BY project_id", {"t": trace_id}, tag="test.where")
    return {r["project_id"]: r["n"] for r in rows}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body


# --- the two-project world --------------------------------------------------------------------------------------


@dataclass
class World:
    live: LiveServer
    http: httpx.Client
    store: Store
    a: Tenant
    b: Tenant
    scoped: dict[str, str]  # alpha's keys by scope: "ingest", "read", and "expiring" (scope all, expires at once)
    expiring_at: datetime

    def tenants(self) -> list[tuple[Tenant, Tenant]]:
        return [(self.a, self.b), (self.b, self.a)]


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[World]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        store = Store.embedded(chdb_dir, database)
    else:
        assert CLICKHOUSE_URL
        store = Store.server(CLICKHOUSE_URL, database)
    migrate(store)
    repo = ProjectRepository(store)
    repo.create_project("alpha")
    repo.create_project("bravo")
    key_a, secret_a = repo.create_key("alpha", "a")
    key_b, secret_b = repo.create_key("bravo", "b")
    scoped = {scope: repo.create_key("alpha", scope, scope=scope)[1] for scope in ("ingest", "read")}
    expiring, scoped["expiring"] = repo.create_key("alpha", "expiring",
                                                   expires_at=datetime.now(UTC) + timedelta(seconds=1))
    assert expiring.expires_at is not None
    a = Tenant("alpha", secret_a, key_a.key_id, "solo-1", A_ONLY, "mk-alpha-7f3", "mk-bravo-2c9")
    b = Tenant("bravo", secret_b, key_b.key_id, "solo-2", B_ONLY, "mk-bravo-2c9", "mk-alpha-7f3")
    # many deliberate failures below come from 127.0.0.1: keep the throttle out of the matrix
    live = start_server(store, auth_failure_limit=100_000)
    http = live.client()
    try:
        root = os.urandom(8)
        response = http.post("/v1/traces", headers={**bearer(a.key), "Content-Type": PROTOBUF}, content=otlp_body(
            otlp_span(A_CHAT1[0], f"{a.marker} turn 1", "chat-1", span_id=root),
            otlp_span(A_CHAT1[0], f"{a.marker} llm", "chat-1", parent=root),
            otlp_span(A_CHAT1[1], f"{a.marker} turn 2", "chat-1", offset_s=5),
            otlp_span(A_ONLY, f"{a.marker} alone", a.only_session, offset_s=10),
            otlp_span(COLLIDING, f"{a.marker} colliding", "coll-1", offset_s=20),
            otlp_span(A_TARGET, f"{a.marker} target", "target-1", offset_s=30)))
        assert response.status_code == 200, response.text
        response = http.post("/v1/ingest", headers=bearer(b.key), json=[
            native_trace(B_CHAT1, f"{b.marker} turn", "chat-1", spans=3),
            native_trace(B_ONLY, f"{b.marker} alone", b.only_session, offset_s=10),
            native_trace(COLLIDING, f"{b.marker} colliding", "coll-2", spans=2, offset_s=20)])
        assert response.status_code == 200, response.text
        yield World(live, http, store, a, b, scoped, expiring.expires_at)
    finally:
        http.close()
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


# --- the endpoints ----------------------------------------------------------------------------------------------

# (method, path template). Placeholders: {session_id}, {trace_id} of the tenant's own resource.
READS: list[tuple[str, str]] = [
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/{session_id}"),
    ("GET", "/v1/sessions/{session_id}/traces"),
    ("GET", "/v1/traces/{trace_id}"),
    ("GET", "/v1/auth/whoami"),
    ("GET", "/v1/sessions/{session_id}/stats"),
    ("GET", "/v1/sessions/{session_id}/timeline"),
    ("GET", "/v1/sessions/{session_id}/logs"),
    ("GET", "/v1/sessions/{session_id}/metrics"),
    ("GET", "/v1/sessions/{session_id}/export"),
    ("GET", "/v1/sessions/{session_id}/scores"),
    ("GET", "/v1/traces/{trace_id}/scores"),
    ("GET", "/v1/sessions/search?q=chat"),
    ("GET", "/v1/sessions/metrics?start_time=2000-01-01T00:00:00Z"),
    ("GET", "/v1/sessions/export?format=jsonl"),
]
# Reads whose answer shows span content (names, inputs): the tenant's marker must be in it.
SHOWS_SPANS = {"/v1/sessions", "/v1/sessions/{session_id}", "/v1/sessions/{session_id}/traces",
               "/v1/traces/{trace_id}", "/v1/sessions/{session_id}/timeline", "/v1/sessions/{session_id}/export"}
# Writes to an existing resource: (method, path template, JSON body). Tried on the other project's resource.
RESOURCE_WRITES: list[tuple[str, str, Any]] = [
    ("PATCH", "/v1/sessions/{session_id}", {"name": "renamed by another project", "tags": ["pwned"]}),
    ("POST", "/v1/sessions/{session_id}/scores", {"name": "quality", "value": 0.1, "comment": "pwned"}),
    ("POST", "/v1/traces/{trace_id}/scores", {"name": "quality", "value": 0.1, "comment": "pwned"}),
    ("DELETE", "/v1/sessions/{session_id}", None),
]


def _ingest_otlp(trace_id: str, marker: str, session: str) -> dict[str, Any]:
    return {"headers": {"Content-Type": PROTOBUF},
            "content": otlp_body(otlp_span(trace_id, f"{marker} written", session, offset_s=40))}


def _ingest_native(trace_id: str, marker: str, session: str) -> dict[str, Any]:
    return {"json": [native_trace(trace_id, f"{marker} written", session, offset_s=40)]}


# (method, path, request builder(trace id, marker, session id) -> httpx request kwargs)
WRITES: list[tuple[str, str, Callable[[str, str, str], dict[str, Any]]]] = [
    ("POST", "/v1/traces", _ingest_otlp),
    ("POST", "/v1/ingest", _ingest_native),
]
ALL_ENDPOINTS = READS + [(method, path) for method, path, _ in WRITES]


def fill(template: str, session_id: str, trace_id: str) -> str:
    return template.format(session_id=quote(session_id, safe=""), trace_id=trace_id)


def _id(case: tuple[Any, ...]) -> str:
    return f"{case[0]} {case[1]}"


# --- reads --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", READS, ids=_id)
def test_each_key_reads_only_its_project(world: World, endpoint: tuple[str, str]) -> None:
    method, template = endpoint
    for own, other in world.tenants():
        for session_id, trace_id in ((own.only_session, own.only_trace), ("chat-1", COLLIDING)):
            path = fill(template, session_id, trace_id)
            response = world.http.request(method, path, headers=bearer(own.key))
            assert response.status_code == 200, (own.project, path, response.text)
            text = response.text
            for leak in (other.marker, other.only_session, other.only_trace, other.project, other.key_id):
                assert leak not in text, (own.project, path, leak)
            if template in SHOWS_SPANS:
                assert own.marker in text, (own.project, path)
            for found in re.findall(r'"project_id":\s*"([^"]*)"', text):
                assert found == own.project, (own.project, path)


@pytest.mark.parametrize("endpoint", [e for e in READS if "{" in e[1]], ids=_id)
def test_another_projects_resource_is_404_like_a_missing_one(world: World, endpoint: tuple[str, str]) -> None:
    method, template = endpoint
    for own, other in world.tenants():
        foreign = world.http.request(method, fill(template, other.only_session, other.only_trace),
                                     headers=bearer(own.key))
        body = assert_problem(foreign, 404)
        missing_session, missing_trace = "never-existed", "ee" * 16
        missing = world.http.request(method, fill(template, missing_session, missing_trace), headers=bearer(own.key))
        missing_body = assert_problem(missing, 404)
        # the answer is the same as for an id that exists nowhere: nothing tells the resource exists elsewhere
        normalised = (body["detail"].replace(other.only_session, "ID").replace(other.only_trace, "ID"),
                      body["title"], body["type"])
        assert normalised == (missing_body["detail"].replace(missing_session, "ID").replace(missing_trace, "ID"),
                              missing_body["title"], missing_body["type"])
        assert set(foreign.headers.keys()) - {"date"} == set(missing.headers.keys()) - {"date"}
        assert other.marker not in foreign.text and other.project not in foreign.text


def _snapshot(world: World, tenant: Tenant) -> list[Any]:
    """What the tenant sees of its exclusive session and trace, by every read."""
    paths = [fill(t, tenant.only_session, tenant.only_trace) for m, t in READS if m == "GET" and "{" in t]
    texts = [world.http.get(path, headers=bearer(tenant.key)).text for path in paths]
    return [re.sub(r'"exported_at":\s*"[^"]*"', "", text) for text in texts]  # the export is stamped


@pytest.mark.parametrize("endpoint", RESOURCE_WRITES, ids=_id)
def test_writes_to_another_projects_resource_are_404_and_change_nothing(world: World,
                                                                       endpoint: tuple[str, str, Any]) -> None:
    method, template, body = endpoint
    for own, other in world.tenants():
        before = _snapshot(world, other)
        response = world.http.request(method, fill(template, other.only_session, other.only_trace),
                                      headers=bearer(own.key), json=body)
        assert_problem(response, 404)
        assert other.marker not in response.text
        missing = world.http.request(method, fill(template, "never-existed", "ee" * 16), headers=bearer(own.key),
                                     json=body)
        assert_problem(missing, 404)
        assert _snapshot(world, other) == before
        assert "pwned" not in "".join(before)


def test_sessions_list_shows_each_project_its_own_sessions(world: World) -> None:
    expected = {"alpha": {"chat-1", "solo-1", "coll-1", "target-1"},
                "bravo": {"chat-1", "solo-2", "coll-2"}}
    for own, other in world.tenants():
        for query in ("", f"?project_id={own.project}", "?limit=1000"):
            page = world.http.get(f"/v1/sessions{query}", headers=bearer(own.key)).json()
            ids = {s["session_id"] for s in page["data"]}
            assert expected[own.project] <= ids, query
            assert not ids & (expected[other.project] - expected[own.project]), query
            assert {s["project_id"] for s in page["data"]} == {own.project}


def test_asking_for_another_project_by_filter_reveals_nothing(world: World) -> None:
    """``?project_id=`` of another project: refused (or ignored), exactly as for a project that does not exist."""
    for own, other in world.tenants():
        foreign = world.http.get("/v1/sessions", params={"project_id": other.project}, headers=bearer(own.key))
        missing = world.http.get("/v1/sessions", params={"project_id": "zz-none"}, headers=bearer(own.key))
        assert foreign.status_code == missing.status_code
        assert other.marker not in foreign.text and other.only_session not in foreign.text
        if foreign.status_code == 200:
            assert {s["project_id"] for s in foreign.json()["data"]} <= {own.project}
        else:
            body = assert_problem(foreign, foreign.status_code)
            assert 400 <= foreign.status_code < 500
            assert body["detail"].replace(other.project, "P") == missing.json()["detail"].replace("zz-none", "P")


def test_same_external_session_id_is_two_sessions(world: World) -> None:
    a = world.http.get("/v1/sessions/chat-1", headers=bearer(world.a.key)).json()
    b = world.http.get("/v1/sessions/chat-1", headers=bearer(world.b.key)).json()
    assert (a["project_id"], a["trace_count"], a["span_count"]) == ("alpha", 2, 3)
    assert (b["project_id"], b["trace_count"], b["span_count"]) == ("bravo", 1, 3)
    assert [t["trace_id"] for t in a["traces"]] == list(A_CHAT1)
    assert [t["trace_id"] for t in b["traces"]] == [B_CHAT1]
    a_traces = world.http.get("/v1/sessions/chat-1/traces", headers=bearer(world.a.key)).json()
    b_traces = world.http.get("/v1/sessions/chat-1/traces", headers=bearer(world.b.key)).json()
    assert [t["trace_id"] for t in a_traces["data"]] == list(A_CHAT1)
    assert [t["trace_id"] for t in b_traces["data"]] == [B_CHAT1]
    assert a_traces["pagination"]["total"] == 2 and b_traces["pagination"]["total"] == 1


def test_same_trace_id_in_two_projects_is_two_traces(world: World) -> None:
    a = world.http.get(f"/v1/traces/{COLLIDING}", headers=bearer(world.a.key)).json()
    b = world.http.get(f"/v1/traces/{COLLIDING}", headers=bearer(world.b.key)).json()
    assert len(a["spans"]) == 1 and len(b["spans"]) == 2
    assert a["session_id"] == "coll-1" and b["session_id"] == "coll-2"
    assert spans_by_project(world.live, COLLIDING) == {"alpha": 1, "bravo": 2}


def test_whoami_names_the_keys_project(world: World) -> None:
    for tenant in (world.a, world.b):
        for headers in (bearer(tenant.key), {"x-api-key": tenant.key}):
            body = world.http.get("/v1/auth/whoami", headers=headers).json()
            assert body == {"project_id": tenant.project, "key_id": tenant.key_id, "local_mode": False,
                            "scope": "all", "expires_at": None}


def test_x_api_key_works_like_bearer(world: World) -> None:
    for tenant in (world.a, world.b):
        with_bearer = world.http.get(f"/v1/sessions/{tenant.only_session}", headers=bearer(tenant.key))
        with_header = world.http.get(f"/v1/sessions/{tenant.only_session}", headers={"x-api-key": tenant.key})
        assert with_header.status_code == 200
        assert with_header.json() == with_bearer.json()
    # the bearer token decides when both are sent
    both = world.http.get("/v1/auth/whoami", headers={**bearer(world.a.key), "x-api-key": world.b.key})
    assert both.json()["project_id"] == "alpha"
    # lowercase scheme is accepted (RFC 9110: the scheme is case-insensitive)
    lower = world.http.get("/v1/auth/whoami", headers={"Authorization": f"bearer {world.b.key}"})
    assert lower.json()["project_id"] == "bravo"


# --- writes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", WRITES, ids=_id)
def test_writes_land_in_the_keys_project_only(world: World, endpoint: tuple[str, str, Any]) -> None:
    method, path, build = endpoint
    for own, other in world.tenants():
        trace_id = uuid.uuid4().hex
        session = f"written-{own.project}-{trace_id[:6]}"
        kwargs = build(trace_id, own.marker, session)
        kwargs["headers"] = {**kwargs.get("headers", {}), **bearer(own.key)}
        response = world.http.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        assert spans_by_project(world.live, trace_id) == {own.project: 1}
        assert world.http.get(f"/v1/traces/{trace_id}", headers=bearer(own.key)).status_code == 200
        assert_problem(world.http.get(f"/v1/traces/{trace_id}", headers=bearer(other.key)), 404)
        assert_problem(world.http.get(f"/v1/sessions/{session}", headers=bearer(other.key)), 404)
        assert world.http.get(f"/v1/sessions/{session}", headers=bearer(own.key)).json()["trace_count"] == 1


@pytest.mark.parametrize("endpoint", WRITES, ids=_id)
def test_writing_into_another_projects_ids_does_not_touch_them(world: World, endpoint: tuple[str, str, Any]) -> None:
    """Bravo sends spans with alpha's trace id and session id: they become bravo's, alpha's data is unchanged."""
    method, path, build = endpoint
    before = world.http.get("/v1/sessions/target-1", headers=bearer(world.a.key)).json()
    before_trace = world.http.get(f"/v1/traces/{A_TARGET}", headers=bearer(world.a.key)).json()
    kwargs = build(A_TARGET, world.b.marker, "target-1")
    kwargs["headers"] = {**kwargs.get("headers", {}), **bearer(world.b.key)}
    assert world.http.request(method, path, **kwargs).status_code == 200
    after = world.http.get("/v1/sessions/target-1", headers=bearer(world.a.key)).json()
    after_trace = world.http.get(f"/v1/traces/{A_TARGET}", headers=bearer(world.a.key)).json()
    assert after == before and after_trace == before_trace
    assert world.b.marker not in str(after) + str(after_trace)
    assert spans_by_project(world.live, A_TARGET)["alpha"] == 1
    mine = world.http.get("/v1/sessions/target-1", headers=bearer(world.b.key)).json()
    assert mine["project_id"] == "bravo" and world.a.marker not in str(mine)


def test_nothing_was_written_to_a_project_without_its_key(world: World) -> None:
    world.live.settled()
    rows = world.store.select("SELECT project_id, count() AS n FROM {db}.spans GROUP BY project_id ORDER BY "
                              "project_id", tag="test.projects")
    assert {r["project_id"] for r in rows} <= {"alpha", "bravo"}  # never 'default' or ''
    for tenant in (world.a, world.b):
        names = world.store.select("SELECT name FROM {db}.spans WHERE project_id = {p:String}",
                                   {"p": tenant.project}, tag="test.names")
        assert names and all(tenant.foreign_marker not in r["name"] for r in names), tenant.project


# --- refusals -----------------------------------------------------------------------------------------------------


def _request_any(world: World, method: str, template: str, headers: dict[str, str]) -> httpx.Response:
    path = fill(template, "chat-1", COLLIDING)
    if method == "POST" and path == "/v1/traces":
        return world.http.post(path, headers={**headers, "Content-Type": PROTOBUF},
                               content=otlp_body(otlp_span(uuid.uuid4().hex, "anon", "anon")))
    if method == "POST":
        return world.http.post(path, headers=headers, json=[native_trace(uuid.uuid4().hex, "anon", "anon")])
    return world.http.request(method, path, headers=headers)


BAD_CREDENTIALS = {
    "none": {},
    "bearer without a token": {"Authorization": "Bearer"},
    "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    "malformed bearer": {"Authorization": "Bearer not-a-key"},
    "malformed x-api-key": {"x-api-key": "tl_short"},
    "unknown key": {"Authorization": f"Bearer tl_{'0' * 12}_{'A' * 43}"},
}


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, ids=_id)
def test_requests_without_a_valid_key_are_401(world: World, endpoint: tuple[str, str]) -> None:
    before = spans_by_project(world.live, "ff" * 16)
    for label, headers in BAD_CREDENTIALS.items():
        response = _request_any(world, *endpoint, headers)
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer"), label
        assert "key" in body["detail"].lower(), label
        for value in headers.values():
            credential = value.split(" ")[-1]
            assert len(credential) < 8 or credential not in response.text, label  # never echoed
    assert spans_by_project(world.live, "ff" * 16) == before
    anon = world.store.select("SELECT count() AS n FROM {db}.spans WHERE name = 'anon'", tag="test.anon")
    assert anon[0]["n"] == 0


# Routes that are not project data: they authenticate differently or not at all.
# (/v3/auth/token, AgentOps' exchange, takes its key in the body, as login does: tests/api/test_agentops_endpoints.py)
UNSCOPED = {"/v1/auth/login", "/v1/auth/logout", "/healthz", "/readyz", "/metrics", "/v3/auth/token"}


def test_every_data_endpoint_of_the_app_requires_a_key(world: World) -> None:
    """A sweep over the app's own OpenAPI document, so an endpoint added later without the authentication
    dependency fails here even before it joins READS/WRITES."""
    document = world.http.get("/openapi.json").json()
    swept = []
    for template, operations in document["paths"].items():
        if template in UNSCOPED or template.startswith("/v1/admin/"):
            continue
        path = re.sub(r"\{[^}]+\}", "x1", template)
        for method in operations:
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            swept.append(f"{method.upper()} {template}")
            for headers in ({}, {"x-api-key": "tl_bad"}):
                response = world.http.request(method.upper(), path, headers=headers,
                                              json={} if method.upper() in {"POST", "PUT", "PATCH"} else None)
                assert response.status_code == 401, (method, template, headers, response.status_code, response.text)
                assert response.headers["content-type"].split(";")[0] == PROBLEM
    assert {f"{m} {p.split('?')[0]}" for m, p in ALL_ENDPOINTS} <= set(swept)


def test_a_wrong_secret_for_a_real_key_id_is_401(world: World) -> None:
    forged = world.a.key[:16] + ("A" if world.a.key[16] != "A" else "B") + world.a.key[17:]
    assert forged != world.a.key
    for headers in (bearer(forged), {"x-api-key": forged}):
        assert_problem(world.http.get("/v1/sessions", headers=headers), 401)
    # a key id of one project with the secret of another
    mixed = f"tl_{world.a.key_id}_{secret_part(world.b.key)}"
    assert_problem(world.http.get("/v1/sessions", headers=bearer(mixed)), 401)


def test_revoked_key_is_refused_within_a_second(world: World) -> None:
    repo = ProjectRepository(world.store)  # revoked by "another process": the server is not told
    key, secret = repo.create_key("alpha", "short-lived")
    deadline = time.monotonic() + 2
    while world.http.get("/v1/auth/whoami", headers=bearer(secret)).status_code != 200:
        assert time.monotonic() < deadline, "a new key was not accepted within 2 s"
        time.sleep(0.05)
    ingest = {"json": [native_trace(uuid.uuid4().hex, "before revocation", "revocation")]}
    assert world.http.post("/v1/ingest", headers=bearer(secret), **ingest).status_code == 200
    repo.revoke_key(key.key_id)
    revoked_at = time.monotonic()
    read_refused = write_refused = None
    while read_refused is None or write_refused is None:
        elapsed = time.monotonic() - revoked_at
        assert elapsed < 2, "revoked key still accepted after 2 s"
        if read_refused is None and world.http.get("/v1/sessions", headers=bearer(secret)).status_code == 401:
            read_refused = elapsed
        trace_id = uuid.uuid4().hex
        if write_refused is None:
            response = world.http.post("/v1/ingest", headers=bearer(secret),
                                       json=[native_trace(trace_id, "after", "revocation")])
            if response.status_code == 401:
                write_refused = elapsed
                assert spans_by_project(world.live, trace_id) == {}
        time.sleep(0.05)
    assert read_refused < 1.3 and write_refused < 1.3, (read_refused, write_refused)
    assert_problem(world.http.get("/v1/sessions", headers={"x-api-key": secret}), 401)


# --- bind address, local mode, throttle: their own servers ----------------------------------------------------------


@pytest.fixture
def server_factory(store: Store) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**overrides: object) -> LiveServer:
        live = start_server(store, **overrides)
        started.append(live)
        return live

    yield make
    for live in started:
        stop_server(live)


def test_non_loopback_bind_refuses_anonymous_even_without_keys(server_factory: Callable[..., LiveServer],
                                                               store: Store) -> None:
    # the test server binds 127.0.0.1; the setting decides auth. Polling for the new key below fails until the
    # server re-reads its keys: keep the throttle out of it.
    live = server_factory(host="0.0.0.0", auth_failure_limit=1000)
    assert not ProjectRepository(store).any_keys()
    with live.client() as http:
        for method, template in ALL_ENDPOINTS:
            path = fill(template, "s", "ee" * 16)
            response = http.request(method, path, json=[] if method == "POST" else None)
            body = assert_problem(response, 401)
            assert "www-authenticate" in response.headers and "key" in body["detail"].lower()
        # once a key exists it works
        repo = ProjectRepository(store)
        repo.create_project("p")
        _, secret = repo.create_key("p")
        deadline = time.monotonic() + 2
        while (response := http.get("/v1/auth/whoami", headers=bearer(secret))).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert response.json()["project_id"] == "p"
    live.settled()
    assert store.select("SELECT count() AS n FROM {db}.spans", tag="test.count")[0]["n"] == 0


def test_local_mode_on_loopback_until_a_key_exists(server_factory: Callable[..., LiveServer], store: Store) -> None:
    live = server_factory(auth_failure_limit=1000)
    with live.client() as http:
        assert http.get("/v1/auth/whoami").json() == {"project_id": "default", "key_id": None, "local_mode": True,
                                                      "scope": "all", "expires_at": None}
        response = http.post("/v1/ingest", json=[native_trace("d0" * 16, "local", "local-1")])
        assert response.status_code == 200
        assert spans_by_project(live, "d0" * 16) == {"default": 1}
        assert http.get("/v1/sessions/local-1").status_code == 200
        # a presented but bad key is refused even in local mode
        assert_problem(http.get("/v1/sessions", headers=bearer("garbage")), 401)
        repo = ProjectRepository(store)
        _, secret = repo.create_key("default")
        deadline = time.monotonic() + 2
        while http.get("/v1/sessions").status_code != 401:
            assert time.monotonic() < deadline, "local mode did not end within 2 s of the first key"
            time.sleep(0.05)
        assert_problem(http.post("/v1/ingest", json=[native_trace("d1" * 16, "local", "local-1")]), 401)
        assert spans_by_project(live, "d1" * 16) == {}
        page = http.get("/v1/sessions", headers=bearer(secret)).json()
        assert [s["session_id"] for s in page["data"]] == ["local-1"]  # the key of 'default' sees the local data


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" ([0-9.e+]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_repeated_failures_are_throttled_with_retry_after(server_factory: Callable[..., LiveServer],
                                                          store: Store) -> None:
    repo = ProjectRepository(store)
    repo.create_project("p")
    _, secret = repo.create_key("p")
    live = server_factory(auth_failure_limit=3)
    with live.client() as http:
        metrics = http.get("/metrics").text
        assert _metric(metrics, "threadline_auth_throttled_total") == 0
        assert http.get("/v1/sessions", headers=bearer(secret)).status_code == 200
        assert_problem(http.get("/v1/sessions", headers=bearer("bad")), 401)
        assert_problem(http.get("/v1/sessions"), 401)
        assert_problem(http.post("/v1/ingest", headers=bearer(f"tl_{'0' * 12}_{'A' * 43}"), json=[]), 401)
        for request in (lambda: http.get("/v1/sessions", headers=bearer("bad")),
                        lambda: http.get("/v1/sessions", headers=bearer(secret)),  # even a good key now waits
                        lambda: http.post("/v1/traces", headers={**bearer(secret), "Content-Type": PROTOBUF},
                                          content=otlp_body()),
                        lambda: http.post("/v1/auth/login", json={"api_key": secret})):
            response = request()
            body = assert_problem(response, 429)
            retry_after = int(response.headers["retry-after"])
            assert 1 <= retry_after <= 61
            assert "retry" in body["detail"].lower()
        metrics = http.get("/metrics").text  # /metrics itself is not behind the throttle
        assert _metric(metrics, "threadline_auth_failures_total", 'reason="malformed"') == 1
        assert _metric(metrics, "threadline_auth_failures_total", 'reason="missing"') == 1
        assert _metric(metrics, "threadline_auth_failures_total", 'reason="invalid"') == 1
        assert _metric(metrics, "threadline_auth_throttled_total") == 4
        assert secret not in metrics


# --- scopes and expiry -------------------------------------------------------------------------------------------

# Endpoints an ingest key may use (besides those that act with any scope): sending spans and logs.
INGEST_ENDPOINTS = {"POST /v1/traces", "POST /v1/logs", "POST /v1/ingest", "POST /api/public/otel/v1/traces",
                    "POST /api/public/otel/v1/logs", "POST /v4/logs/upload/"}
# What every key may ask: who it is, and the Langfuse SDK's auth check (the project of the credentials).
ANY_SCOPE = {"GET /v1/auth/whoami", "GET /api/public/projects"}


def _scope_refusal(response: httpx.Response, have: str, enough: str) -> None:
    detail = assert_problem(response, 403)["detail"]
    assert detail.startswith(f"this API key has scope '{have}'; ") and detail.endswith(
        f"needs a key with scope {enough}"), detail


def test_an_ingest_key_sends_spans_but_reads_and_changes_nothing(world: World) -> None:
    ingest = bearer(world.scoped["ingest"])
    for method, path, build in WRITES:
        trace_id = uuid.uuid4().hex
        kwargs = build(trace_id, world.a.marker, f"edge-{trace_id[:6]}")
        kwargs["headers"] = {**kwargs.get("headers", {}), **ingest}
        assert world.http.request(method, path, **kwargs).status_code == 200
        assert spans_by_project(world.live, trace_id) == {"alpha": 1}
    for method, template in READS:
        response = world.http.request(method, fill(template, world.a.only_session, world.a.only_trace),
                                      headers=ingest)
        if f"{method} {template}" in ANY_SCOPE:
            assert response.status_code == 200
            continue
        _scope_refusal(response, "ingest", "'read' or 'all'")
        assert world.a.marker not in response.text and "reading" in response.json()["detail"]
    before = _snapshot(world, world.a)
    for method, template, body in RESOURCE_WRITES:
        response = world.http.request(method, fill(template, world.a.only_session, world.a.only_trace),
                                      headers=ingest, json=body)
        _scope_refusal(response, "ingest", "'all'")
    assert _snapshot(world, world.a) == before


def test_a_read_key_reads_but_writes_nothing(world: World) -> None:
    read = bearer(world.scoped["read"])
    for method, template in READS:
        path = fill(template, world.a.only_session, world.a.only_trace)
        response = world.http.request(method, path, headers=read)
        assert response.status_code == 200, (path, response.text)
        assert world.b.marker not in response.text
    for method, path, build in WRITES:
        trace_id = uuid.uuid4().hex
        kwargs = build(trace_id, world.a.marker, "read-key")
        kwargs["headers"] = {**kwargs.get("headers", {}), **read}
        _scope_refusal(world.http.request(method, path, **kwargs), "read", "'ingest' or 'all'")
        assert spans_by_project(world.live, trace_id) == {}
    before = _snapshot(world, world.a)
    for method, template, body in RESOURCE_WRITES:
        response = world.http.request(method, fill(template, world.a.only_session, world.a.only_trace),
                                      headers=read, json=body)
        _scope_refusal(response, "read", "'all'")
    assert _snapshot(world, world.a) == before


def test_every_endpoint_refuses_a_key_outside_its_scope(world: World) -> None:
    """A sweep over the app's OpenAPI document: an ingest key is refused everywhere but ingest, a read key on
    every write; an endpoint added later without a scope dependency needs 'all' (project_id) and fails here
    only if it should have allowed less."""
    document = world.http.get("/openapi.json").json()
    swept = set()
    for template, operations in document["paths"].items():
        if template in UNSCOPED or template.startswith("/v1/admin/"):
            continue
        path = re.sub(r"\{[^}]+\}", "x1", template)
        for method in (m.upper() for m in operations):
            if method not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            endpoint = f"{method} {template}"
            swept.add(endpoint)
            body = {} if method in {"POST", "PUT", "PATCH"} else None
            for scope, allowed in (("ingest", endpoint in INGEST_ENDPOINTS), ("read", method == "GET")):
                response = world.http.request(method, path, json=body, headers=bearer(world.scoped[scope]))
                if allowed or endpoint in ANY_SCOPE:
                    assert response.status_code != 403, (scope, endpoint, response.text)
                else:
                    assert response.status_code == 403, (scope, endpoint, response.status_code, response.text)
                    assert f"scope '{scope}'" in response.json()["detail"]
    assert swept >= INGEST_ENDPOINTS | ANY_SCOPE
    # the dashboard reads: an ingest key gets its 403 as a page, a read key the page
    page = world.http.get("/", headers=bearer(world.scoped["ingest"]))
    assert page.status_code == 403 and "scope &#39;ingest&#39;" in page.text
    assert world.http.get("/", headers=bearer(world.scoped["read"])).status_code == 200


def test_dashboard_login_and_access_tokens_keep_the_keys_scope(world: World) -> None:
    refused = world.http.post("/v1/auth/login", json={"api_key": world.scoped["ingest"]})
    _scope_refusal(refused, "ingest", "'read' or 'all'")
    assert "logging in to the dashboard" in refused.json()["detail"] and "set-cookie" not in refused.headers
    logged_in = world.http.post("/v1/auth/login", json={"api_key": world.scoped["read"]})
    assert logged_in.status_code == 200 and logged_in.json()["scope"] == "read"
    cookie = {"Cookie": f"threadline_session={logged_in.cookies['threadline_session']}"}
    assert world.http.get("/v1/sessions", headers=cookie).status_code == 200
    same_origin = {**cookie, "Origin": world.live.url}
    _scope_refusal(world.http.patch(f"/v1/sessions/{world.a.only_session}", headers=same_origin,
                                    json={"name": "from a read-only dashboard"}), "read", "'all'")
    # an AgentOps access token of an ingest key ingests and reads nothing
    exchanged = world.http.post("/v3/auth/token", json={"api_key": world.scoped["ingest"]})
    assert exchanged.status_code == 200
    token = bearer(exchanged.json()["token"])
    assert world.http.get("/v1/auth/whoami", headers=token).json()["scope"] == "ingest"
    _scope_refusal(world.http.get("/v1/sessions", headers=token), "ingest", "'read' or 'all'")
    trace_id = uuid.uuid4().hex
    assert world.http.post("/v1/ingest", headers=token, json=[native_trace(trace_id, "agent", "agent-1")]
                           ).status_code == 200
    assert spans_by_project(world.live, trace_id) == {"alpha": 1}


def test_an_expired_key_is_401_saying_when_it_expired(world: World) -> None:
    time.sleep(max(0.0, (world.expiring_at - datetime.now(UTC)).total_seconds() + 0.05))
    expired = world.scoped["expiring"]
    when = f"expired on {world.expiring_at:%Y-%m-%d %H:%M:%S} UTC"
    trace_id = uuid.uuid4().hex
    for response in (world.http.get("/v1/sessions", headers=bearer(expired)),
                     world.http.get("/v1/auth/whoami", headers={"x-api-key": expired}),
                     world.http.post("/v1/ingest", headers=bearer(expired),
                                     json=[native_trace(trace_id, "late", "late-1")]),
                     world.http.post("/v1/auth/login", json={"api_key": expired}),
                     world.http.post("/v3/auth/token", json={"api_key": expired})):
        body = assert_problem(response, 401)
        assert when in body["detail"], body["detail"]
    assert spans_by_project(world.live, trace_id) == {}
