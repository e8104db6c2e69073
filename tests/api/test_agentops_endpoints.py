"""The AgentOps-compatible endpoints over real HTTP: the token exchange (``POST /v3/auth/token``), the token as
Bearer on OTLP ingest and reads, log uploads (``POST /v4/logs/upload/``) in the trace's session log, and refusals."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import start_server, stop_server
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROTOBUF = "application/x-protobuf"


class Setup:
    def __init__(self, http: httpx.Client, secret: str, repo: ProjectRepository, key_id: str) -> None:
        self.http = http
        self.secret = secret
        self.repo = repo
        self.key_id = key_id


@pytest.fixture(scope="module")
def setup(chdb_dir: Path) -> Iterator[Setup]:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    repo = ProjectRepository(store)
    repo.create_project("ao")
    key, secret = repo.create_key("ao")
    live = start_server(store, auth_failure_limit=1000)
    try:
        with live.client() as http:
            yield Setup(http, secret, repo, key.key_id)
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def agentops_trace() -> tuple[bytes, str]:
    """A one-span AgentOps session trace (the resource attribute every AgentOps span carries); its export and its
    trace id (hex)."""
    trace_id = os.urandom(16)
    now = time.time_ns()  # log uploads take their receive time: near the trace, as when the SDK sends them
    span = Span(trace_id=trace_id, span_id=os.urandom(8), name="chat.session", start_time_unix_nano=now - 10**9,
                end_time_unix_nano=now,
                attributes=[KeyValue(key="agentops.span.kind", value=AnyValue(string_value="session")),
                            KeyValue(key="agentops.session.end_state", value=AnyValue(string_value="Fail"))])
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])
    resource.resource.attributes.append(KeyValue(key="agentops.project.id", value=AnyValue(string_value="ao")))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString(), trace_id.hex()


def token(setup: Setup) -> str:
    answer = setup.http.post("/v3/auth/token", json={"api_key": setup.secret})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["project_id"] == "ao" and body["project_prem_status"] == "pro"
    assert body["token"].startswith("tlat_")
    return str(body["token"])


def test_token_exchange_and_bearer_use(setup: Setup) -> None:
    bearer = {"Authorization": f"Bearer {token(setup)}"}
    export, trace_id = agentops_trace()
    sent = setup.http.post("/v1/traces", content=export, headers={"Content-Type": PROTOBUF, **bearer})
    assert sent.status_code == 200, sent.text
    session = setup.http.get(f"/v1/sessions/{trace_id}", headers=bearer)  # the AgentOps trace is the session
    assert session.status_code == 200, session.text
    assert session.json()["end_state"] == "failure"
    assert setup.http.get("/v1/auth/whoami", headers=bearer).json()["project_id"] == "ao"


def test_a_refused_key_is_a_401_with_the_error_member(setup: Setup) -> None:
    for api_key in ("not-a-key", f"tl_{'0' * 12}_{'A' * 43}"):
        refused = setup.http.post("/v3/auth/token", json={"api_key": api_key})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["error"] == refused.json()["detail"]
    assert setup.http.post("/v3/auth/token", json={}).status_code == 422


def test_log_upload_lands_in_the_trace_session(setup: Setup) -> None:
    bearer = {"Authorization": f"Bearer {token(setup)}"}
    export, trace_id = agentops_trace()
    assert setup.http.post("/v1/traces", content=export, headers={"Content-Type": PROTOBUF, **bearer}).is_success
    text = ("2026-12-04 05:21:30,166 - INFO - looking up order 42\n"
            "2026-12-04 05:21:30,167 - ERROR - the carrier API timed out\ncontinued on a second line\n")
    for body in ({"body": text}, text):  # agentops 0.4.19+ wraps the text, 0.4.18 sends it as a JSON string
        uploaded = setup.http.post("/v4/logs/upload/", json=body,
                                   headers={**bearer, "Trace-Id": str(int(trace_id, 16))})
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json() == {"status": "success", "records": 2}
    logs = setup.http.get(f"/v1/sessions/{trace_id}/logs", headers=bearer)
    assert logs.status_code == 200, logs.text
    bodies = [e["body"] for e in logs.json()["data"] if e["source"] == "log"]
    assert bodies.count("looking up order 42") == 2  # one per upload: each takes its own receive time
    assert "the carrier API timed out\ncontinued on a second line" in bodies


def test_log_upload_refusals(setup: Setup) -> None:
    bearer = {"Authorization": f"Bearer {token(setup)}"}
    bad_trace = setup.http.post("/v4/logs/upload/", json={"body": "x"}, headers={**bearer, "Trace-Id": "nope"})
    assert bad_trace.status_code == 422 and "Trace-Id" in bad_trace.json()["detail"]
    too_large = setup.http.post("/v4/logs/upload/", json={"body": "x"},
                                headers={**bearer, "Trace-Id": str(2**128)})
    assert too_large.status_code == 400 and "128 bits" in too_large.json()["detail"]
    bad_body = setup.http.post("/v4/logs/upload/", json={"lines": ["x"]}, headers={**bearer, "Trace-Id": "12345"})
    assert bad_body.status_code == 400
    assert setup.http.post("/v4/logs/upload/", json={"body": "x"}, headers={"Trace-Id": "1"}).status_code == 401
    objects = setup.http.post("/v4/objects/upload/", json={"body": "x"}, headers=bearer)
    assert objects.status_code == 404 and "does not store" in objects.json()["detail"]


def test_revoking_the_key_ends_its_tokens(setup: Setup) -> None:
    repo, key_id = setup.repo, setup.key_id
    bearer = {"Authorization": f"Bearer {token(setup)}"}
    other, secret = repo.create_key("ao")
    setup.secret = secret  # later tests (none today) keep a working key
    repo.revoke_key(key_id)
    export, _ = agentops_trace()
    for _ in range(40):  # the key cache refreshes within a second
        refused = setup.http.post("/v1/traces", content=export, headers={"Content-Type": PROTOBUF, **bearer})
        if refused.status_code == 401:
            break
        time.sleep(0.05)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    setup.key_id = other.key_id
