"""The Langfuse-compatible endpoints over real HTTP: OTLP at ``/api/public/otel/v1/traces`` and ``/logs`` (the
handlers of ``/v1/traces`` and ``/v1/logs``) with Basic credentials, and ``GET /api/public/projects``."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import start_server, stop_server
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROTOBUF = "application/x-protobuf"
T0 = 1_767_225_600_000_000_000


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


class Setup:
    def __init__(self, http: httpx.Client, secret: str) -> None:
        self.http = http
        self.secret = secret


@pytest.fixture(scope="module")
def setup(chdb_dir: Path) -> Iterator[Setup]:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    repo = ProjectRepository(store)
    repo.create_project("lf", "Langfuse migrants")
    _, secret = repo.create_key("lf")
    live = start_server(store, auth_failure_limit=1000)
    try:
        with live.client() as http:
            yield Setup(http, secret)
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def trace_export(session_id: str) -> bytes:
    span = Span(trace_id=os.urandom(16), span_id=os.urandom(8), name="turn", start_time_unix_nano=T0,
                end_time_unix_nano=T0 + 10**9,
                attributes=[KeyValue(key="session.id", value=AnyValue(string_value=session_id)),
                            KeyValue(key="langfuse.observation.input", value=AnyValue(string_value='"hello"'))])
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    return request.SerializeToString()


def test_traces_at_the_langfuse_path_with_basic_auth(setup: Setup) -> None:
    session_id = f"lf-{uuid.uuid4().hex[:8]}"
    sent = setup.http.post("/api/public/otel/v1/traces", content=trace_export(session_id),
                           headers={"Content-Type": PROTOBUF, **basic("lf", setup.secret)})
    assert sent.status_code == 200, sent.text
    assert sent.headers["content-type"] == PROTOBUF
    found = setup.http.get(f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {setup.secret}"})
    assert found.status_code == 200 and found.json()["first_input"] == "hello"


def test_refusals_at_the_langfuse_path(setup: Setup) -> None:
    wrong_project = setup.http.post("/api/public/otel/v1/traces", content=trace_export("x"),
                                    headers={"Content-Type": PROTOBUF, **basic("default", setup.secret)})
    assert wrong_project.status_code == 401
    assert "'lf'" in wrong_project.json()["detail"]
    no_key = setup.http.post("/api/public/otel/v1/traces", content=trace_export("x"),
                             headers={"Content-Type": PROTOBUF})
    assert no_key.status_code == 401
    wrong_type = setup.http.post("/api/public/otel/v1/traces", content=b"{}",
                                 headers={"Content-Type": "text/plain", **basic("lf", setup.secret)})
    assert wrong_type.status_code == 415


def test_logs_at_the_langfuse_path(setup: Setup) -> None:
    record = LogRecord(time_unix_nano=T0, body=AnyValue(string_value="a log line"))
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[record])])])
    sent = setup.http.post("/api/public/otel/v1/logs", content=request.SerializeToString(),
                           headers={"Content-Type": PROTOBUF, **basic("lf", setup.secret)})
    assert sent.status_code == 200, sent.text


def test_projects_answers_the_credentials_project(setup: Setup) -> None:
    found = setup.http.get("/api/public/projects", headers=basic("lf", setup.secret))
    assert found.status_code == 200
    assert found.json() == {"data": [{"id": "lf", "name": "Langfuse migrants", "metadata": {},
                                      "organization": {"id": "threadline", "name": "Threadline"}}]}
    assert setup.http.get("/api/public/projects").status_code == 401


def test_other_langfuse_endpoints_are_a_clear_404(setup: Setup) -> None:
    missing = setup.http.post("/api/public/ingestion", json={"batch": []}, headers=basic("lf", setup.secret))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
