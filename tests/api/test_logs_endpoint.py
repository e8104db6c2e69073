"""``POST /v1/logs`` over real HTTP: OTLP/HTTP protobuf and JSON, gzip, partial_success, replays stored once, the
session of a record without a session id, and every refusal (400/413/415) as problem+json with nothing written."""

from __future__ import annotations

import base64
import gzip
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PROBLEM = "application/problem+json"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000
MAX_BODY = 64 * 1024


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def record(body: str, *, time: int = T0, trace_id: bytes = b"", attrs: dict[str, str] | None = None,
           severity: int = 9) -> LogRecord:
    return LogRecord(time_unix_nano=time, body=AnyValue(string_value=body), trace_id=trace_id,
                     severity_number=severity,  # type: ignore[arg-type]
                     attributes=[kv(k, v) for k, v in (attrs or {}).items()])


def export(*records: LogRecord) -> ExportLogsServiceRequest:
    logs = ResourceLogs(scope_logs=[ScopeLogs(log_records=list(records))])
    logs.resource.attributes.append(kv("service.name", "log-tests"))
    return ExportLogsServiceRequest(resource_logs=[logs])


def to_json(request: ExportLogsServiceRequest) -> bytes:
    document = json_format.MessageToDict(request)
    for item in document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        for key in ("traceId", "spanId"):
            if key in item:
                item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(document).encode()


def encode(request: ExportLogsServiceRequest, content_type: str) -> bytes:
    return request.SerializeToString() if content_type == PROTOBUF else to_json(request)


def parse(response: httpx.Response, content_type: str) -> ExportLogsServiceResponse:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == content_type
    parsed = ExportLogsServiceResponse()
    if content_type == PROTOBUF:
        parsed.ParseFromString(response.content)
    else:
        json_format.Parse(response.content, parsed)
    return parsed


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in response.text
    for word in words:
        assert word.lower() in body["detail"].lower(), body["detail"]


class Server:
    def __init__(self, live: LiveServer, client: httpx.Client) -> None:
        self.live = live
        self.client = client

    def rows(self) -> int:
        return int(self.live.store.select("SELECT count() AS n FROM {db}.logs", tag="test.count")[0]["n"])

    def final_rows(self, session_id: str) -> list[dict[str, Any]]:
        return self.live.store.select(
            "SELECT session_id, trace_id, body, severity_number FROM {db}.logs FINAL "
            "WHERE session_id = {s:String} ORDER BY timestamp, body", {"s": session_id}, tag="test.rows")

    def session(self, session_id: str) -> str:
        """Ingest a one-span trace in ``session_id``; its trace id (hex)."""
        trace_id = os.urandom(16)
        root = Span(trace_id=trace_id, span_id=os.urandom(8), name="turn", start_time_unix_nano=T0,
                    end_time_unix_nano=T0 + SEC, attributes=[kv("session.id", session_id)])
        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[root])])])
        response = self.client.post("/v1/traces", content=request.SerializeToString(),
                                    headers={"Content-Type": PROTOBUF})
        assert response.status_code == 200, response.text
        return trace_id.hex()

    def bodies(self, session_id: str) -> list[str]:
        response = self.client.get(f"/v1/sessions/{session_id}/logs")
        assert response.status_code == 200, response.text
        return [e["body"] for e in response.json()["data"] if e["source"] == "log"]


@pytest.fixture(scope="module")
def server(chdb_dir: Path) -> Iterator[Server]:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    live = start_server(store, max_body_bytes=MAX_BODY)
    try:
        with live.client() as client:
            yield Server(live, client)
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# --- accepted -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
@pytest.mark.parametrize("gzipped", [False, True])
def test_accepts_protobuf_and_json_plain_or_gzip(server: Server, content_type: str, gzipped: bool) -> None:
    session = unique("chat")
    server.session(session)
    body = encode(export(record("one", attrs={"session.id": session}),
                         record("two", time=T0 + 1, attrs={"session.id": session})), content_type)
    headers = {"Content-Type": content_type}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    response = server.client.post("/v1/logs", content=body, headers=headers)
    assert not parse(response, content_type).HasField("partial_success")
    if content_type == JSON:
        assert response.json() == {}
    assert server.bodies(session) == ["one", "two"]  # committed when the 200 is sent


def test_content_type_parameters_are_ignored(server: Server) -> None:
    session = unique("charset")
    response = server.client.post("/v1/logs", content=to_json(export(record("x", attrs={"session.id": session}))),
                                  headers={"Content-Type": "application/json; charset=utf-8"})
    parse(response, JSON)
    assert [r["body"] for r in server.final_rows(session)] == ["x"]


def test_an_empty_export_is_accepted_and_writes_nothing(server: Server) -> None:
    before = server.rows()
    assert not parse(server.client.post("/v1/logs", content=b"", headers={"Content-Type": PROTOBUF}),
                     PROTOBUF).HasField("partial_success")
    assert server.rows() == before


def test_a_replayed_export_is_stored_once(server: Server) -> None:
    session = unique("replay")
    server.session(session)
    request = export(record("once", attrs={"session.id": session}), record("twice", time=T0 + 5,
                                                                           attrs={"session.id": session}))
    for body, content_type in ((request.SerializeToString(), PROTOBUF), (to_json(request), JSON),
                               (request.SerializeToString(), PROTOBUF)):
        parse(server.client.post("/v1/logs", content=body, headers={"Content-Type": content_type}), content_type)
    assert [r["body"] for r in server.final_rows(session)] == ["once", "twice"]
    assert server.bodies(session) == ["once", "twice"]
    page = server.client.get(f"/v1/sessions/{session}/logs").json()
    assert page["pagination"]["total"] == 2


def test_a_record_without_session_id_shows_in_its_traces_session(server: Server) -> None:
    session = unique("by-trace")
    # The record arrives before its trace: it is resolved when read.
    trace_id = os.urandom(16)
    parse(server.client.post("/v1/logs", content=export(record("early", trace_id=trace_id)).SerializeToString(),
                             headers={"Content-Type": PROTOBUF}), PROTOBUF)
    root = Span(trace_id=trace_id, span_id=os.urandom(8), name="turn", start_time_unix_nano=T0,
                end_time_unix_nano=T0 + SEC, attributes=[kv("session.id", session)])
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[root])])])
    assert server.client.post("/v1/traces", content=request.SerializeToString(),
                              headers={"Content-Type": PROTOBUF}).status_code == 200
    late = server.session(unique("other"))
    parse(server.client.post("/v1/logs", content=export(
        record("late", time=T0 + SEC // 2, trace_id=trace_id),
        record("elsewhere", trace_id=bytes.fromhex(late))).SerializeToString(),
        headers={"Content-Type": PROTOBUF}), PROTOBUF)
    assert server.bodies(session) == ["early", "late"]
    stored = server.final_rows("")
    assert {r["body"] for r in stored} >= {"early", "late"}  # stored without a session: resolved at read time


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_partial_success_rejects_only_invalid_records(server: Server, content_type: str) -> None:
    session = unique("partial")
    server.session(session)
    request = export(record("good", attrs={"session.id": session}),
                     record("too long", attrs={"session.id": "s" * 257}),
                     record("short trace id", trace_id=os.urandom(8), attrs={"session.id": session}),
                     record("no time", time=0, attrs={"session.id": session}))
    parsed = parse(server.client.post("/v1/logs", content=encode(request, content_type),
                                      headers={"Content-Type": content_type}), content_type)
    assert parsed.partial_success.rejected_log_records == 3
    message = parsed.partial_success.error_message
    assert "3 log record(s) rejected" in message and "257 characters" in message and "trace_id" in message
    assert server.bodies(session) == ["good"]


def test_json_ids_that_are_not_hex_are_rejected_per_record(server: Server) -> None:
    session = unique("hex")
    server.session(session)
    document = json.loads(to_json(export(record("bad", attrs={"session.id": session}),
                                         record("good", attrs={"session.id": session}))))
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "zz" * 16
    parsed = parse(server.client.post("/v1/logs", content=json.dumps(document).encode(),
                                      headers={"Content-Type": JSON}), JSON)
    assert parsed.partial_success.rejected_log_records == 1
    assert "is not a hex string" in parsed.partial_success.error_message
    assert server.bodies(session) == ["good"]


def test_every_record_rejected_is_still_a_200_with_nothing_written(server: Server) -> None:
    before = server.rows()
    parsed = parse(server.client.post("/v1/logs", content=export(record("x", time=0)).SerializeToString(),
                                      headers={"Content-Type": PROTOBUF}), PROTOBUF)
    assert parsed.partial_success.rejected_log_records == 1
    assert server.rows() == before


# --- refused ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "headers", "status", "words"), [
    (b"\x0a\xff\xff", {"Content-Type": PROTOBUF}, 400, ("could not decode", "protobuf")),
    (b"{not json", {"Content-Type": JSON}, 400, ("not valid JSON",)),
    (b'["a list"]', {"Content-Type": JSON}, 400, ("must be an object",)),
    (b'{"resourceLogs": [{"scopeLogs": 5}]}', {"Content-Type": JSON}, 400, ("ExportLogsServiceRequest",)),
    (b"not gzip", {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}, 400, ("gzip",)),
    (b"{}", {"Content-Type": "text/plain"}, 415, ("text/plain", PROTOBUF)),
    (b"{}", {}, 415, ("(none)",)),
    (b"{}", {"Content-Type": JSON, "Content-Encoding": "br"}, 415, ("br",)),
    (b"x" * (MAX_BODY + 1), {"Content-Type": PROTOBUF}, 413, ("larger than",)),
    (gzip.compress(b"\x00" * (MAX_BODY + 1), mtime=0), {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}, 413,
     ("larger than",)),
])
def test_refusals_are_problems_and_write_nothing(server: Server, content: bytes, headers: dict[str, str],
                                                 status: int, words: tuple[str, ...]) -> None:
    before = server.rows()
    assert_problem(server.client.post("/v1/logs", content=content, headers=headers), status, *words)
    assert server.rows() == before


def test_a_valid_export_with_a_bad_record_json_shape_is_refused_whole(server: Server) -> None:
    session = unique("whole")
    document = json.loads(to_json(export(record("kept?", attrs={"session.id": session}))))
    document["resourceLogs"].append({"scopeLogs": [{"logRecords": [{"timeUnixNano": "not a number"}]}]})
    before = server.rows()
    assert_problem(server.client.post("/v1/logs", content=json.dumps(document).encode(),
                                      headers={"Content-Type": JSON}), 400)
    assert server.rows() == before


def test_logs_endpoint_is_in_the_openapi_document(server: Server) -> None:
    operation = server.client.get("/openapi.json").json()["paths"]["/v1/logs"]["post"]
    assert {"200", "400", "413", "415"} <= operation["responses"].keys()
    assert set(operation["responses"]["200"]["content"]) == {PROTOBUF, JSON}
