"""``POST /v1/traces`` over real HTTP: OTLP/HTTP protobuf and JSON, gzip, partial_success, and every refusal
(400/413/415) as problem+json with nothing written."""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from threadline.store.gateway import Store

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PROBLEM = "application/problem+json"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def span(name: str, *, trace_id: bytes | None = None, span_id: bytes | None = None, parent: bytes = b"",
         start: int = T0, end: int = T0 + SEC, attrs: dict[str, str | int] | None = None) -> Span:
    return Span(trace_id=os.urandom(16) if trace_id is None else trace_id,
                span_id=os.urandom(8) if span_id is None else span_id, parent_span_id=parent, name=name,
                start_time_unix_nano=start, end_time_unix_nano=end,
                attributes=[kv(k, v) for k, v in (attrs or {}).items()], status=Status(code=Status.STATUS_CODE_OK))


def export(*spans: Span, resource: dict[str, str | int] | None = None) -> ExportTraceServiceRequest:
    res = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    res.scope_spans[0].scope.name = "tests"
    for key, value in {"service.name": "otlp-tests", **(resource or {})}.items():
        res.resource.attributes.append(kv(key, value))
    return ExportTraceServiceRequest(resource_spans=[res])


def to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """The OTLP JSON mapping: protobuf JSON with trace/span ids as hex instead of base64."""
    document = json_format.MessageToDict(request)
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for item in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(document).encode()


def spans_in_store(live: LiveServer) -> int:
    live.settled()  # acknowledged spans reach the store once the writer has inserted them
    return int(live.store.select("SELECT count() AS n FROM {db}.spans", tag="test.count")[0]["n"])


def span_ids_in_store(live: LiveServer) -> set[str]:
    live.settled()
    return {r["span_id"] for r in live.store.select("SELECT span_id FROM {db}.spans", tag="test.ids")}


def assert_nothing_written(client: httpx.Client, live: LiveServer) -> None:
    assert client.get("/v1/sessions").json()["pagination"]["total"] == 0
    assert spans_in_store(live) == 0


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text
    for word in words:
        assert word.lower() in body["detail"].lower(), body["detail"]
    return body


def parse_response(response: httpx.Response, content_type: str) -> ExportTraceServiceResponse:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == content_type
    parsed = ExportTraceServiceResponse()
    if content_type == PROTOBUF:
        parsed.ParseFromString(response.content)
    else:
        json_format.Parse(response.content, parsed)
    return parsed


def session_request(session_id: str, *, with_llm: bool = True) -> tuple[ExportTraceServiceRequest, str]:
    """A two-span trace (root + LLM child, child first as exporters send it) in ``session_id``; (request, trace)."""
    trace_id = os.urandom(16)
    root = span("turn", trace_id=trace_id, attrs={"session.id": session_id, "input.value": "hi"})
    child = span("llm", trace_id=trace_id, parent=root.span_id, start=T0 + SEC // 10, end=T0 + SEC // 2,
                 attrs={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 100,
                        "gen_ai.usage.output_tokens": 10})
    return export(*([child] if with_llm else []), root), trace_id.hex()


# --- accepted -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_accepts_protobuf_and_json(client: httpx.Client, live_server: LiveServer, content_type: str) -> None:
    request, trace_id = session_request("chat-otlp")
    body = request.SerializeToString() if content_type == PROTOBUF else to_otlp_json(request)
    response = client.post("/v1/traces", content=body, headers={"Content-Type": content_type})
    parsed = parse_response(response, content_type)
    assert not parsed.HasField("partial_success")
    if content_type == JSON:
        assert response.json() == {}
    session = client.get("/v1/sessions/chat-otlp").json()
    assert (session["trace_count"], session["span_count"], session["total_tokens"]) == (1, 2, 110)
    assert session["models"] == ["gpt-4o"]
    trace = client.get(f"/v1/traces/{trace_id}").json()
    assert {s["name"] for s in trace["spans"]} == {"turn", "llm"}
    assert spans_in_store(live_server) == 2


def test_content_type_parameters_are_ignored(client: httpx.Client) -> None:
    request, _ = session_request("chat-charset")
    response = client.post("/v1/traces", content=to_otlp_json(request),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    parse_response(response, JSON)
    assert client.get("/v1/sessions/chat-charset").status_code == 200


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_gzip_body(client: httpx.Client, live_server: LiveServer, content_type: str) -> None:
    request, _ = session_request("chat-gzip")
    raw = request.SerializeToString() if content_type == PROTOBUF else to_otlp_json(request)
    response = client.post("/v1/traces", content=gzip.compress(raw),
                           headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
    parsed = parse_response(response, content_type)
    assert not parsed.HasField("partial_success")
    assert client.get("/v1/sessions/chat-gzip").json()["span_count"] == 2
    assert spans_in_store(live_server) == 2


def test_empty_export_is_accepted(client: httpx.Client, live_server: LiveServer) -> None:
    parsed = parse_response(client.post("/v1/traces", content=b"", headers={"Content-Type": PROTOBUF}), PROTOBUF)
    assert not parsed.HasField("partial_success")
    assert_nothing_written(client, live_server)


# --- partial success -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_partial_success_rejects_only_invalid_spans(client: httpx.Client, live_server: LiveServer,
                                                    content_type: str) -> None:
    trace_id = os.urandom(16)
    good_root = span("good-root", trace_id=trace_id, attrs={"session.id": "chat-partial"})
    good_child = span("good-child", trace_id=trace_id, parent=good_root.span_id)
    bad = [
        span("short-trace-id", trace_id=os.urandom(8)),
        span("zero-span-id", span_id=bytes(8)),
        span("zero-trace-id", trace_id=bytes(16)),
        span("zero-start", start=0),
        span("zero-end", start=T0, end=0),
    ]
    request = export(good_child, *bad, good_root)
    body = request.SerializeToString() if content_type == PROTOBUF else to_otlp_json(request)
    parsed = parse_response(client.post("/v1/traces", content=body, headers={"Content-Type": content_type}),
                            content_type)
    assert parsed.partial_success.rejected_spans == len(bad)
    message = parsed.partial_success.error_message
    assert "5 span(s) rejected" in message
    assert "trace_id" in message and "span_id" in message and "time" in message
    assert "short-trace-id" in message
    stored = span_ids_in_store(live_server)
    assert stored == {good_root.span_id.hex(), good_child.span_id.hex()}
    session = client.get("/v1/sessions/chat-partial").json()
    assert (session["trace_count"], session["span_count"]) == (1, 2)


def test_partial_success_message_is_bounded(client: httpx.Client, live_server: LiveServer) -> None:
    bad = [span(f"bad-{i}", span_id=bytes(8)) for i in range(12)]
    parsed = parse_response(client.post("/v1/traces", content=export(*bad).SerializeToString(),
                                        headers={"Content-Type": PROTOBUF}), PROTOBUF)
    assert parsed.partial_success.rejected_spans == 12
    assert "and 7 more" in parsed.partial_success.error_message
    assert spans_in_store(live_server) == 0


def test_session_id_longer_than_256_is_rejected_per_span(client: httpx.Client, live_server: LiveServer) -> None:
    ok_at_limit = span("at-limit", attrs={"session.id": "s" * 256})
    too_long = span("too-long", attrs={"session.id": "x" * 257})
    too_long_on_resource = export(span("resource-too-long"), resource={"session.id": "r" * 300})
    request = export(ok_at_limit, too_long)
    request.resource_spans.extend(too_long_on_resource.resource_spans)
    parsed = parse_response(client.post("/v1/traces", content=request.SerializeToString(),
                                        headers={"Content-Type": PROTOBUF}), PROTOBUF)
    assert parsed.partial_success.rejected_spans == 2
    message = parsed.partial_success.error_message
    assert "session id" in message and "257" in message and "300" in message and "256" in message
    assert span_ids_in_store(live_server) == {ok_at_limit.span_id.hex()}
    sessions = client.get("/v1/sessions").json()
    assert [s["session_id"] for s in sessions["data"]] == ["s" * 256]  # kept whole, never cut


# --- refused: nothing written ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "body", "word"), [
    pytest.param(PROTOBUF, b"\x0a\xff\xff\xff\xff\x0f garbage", "protobuf", id="garbage-protobuf"),
    pytest.param(PROTOBUF, b"\xff" * 64, "protobuf", id="invalid-wire-type"),
    pytest.param(JSON, b'{"resourceSpans": [', "JSON", id="truncated-json"),
    pytest.param(JSON, b"\xff\xfe not utf-8", "JSON", id="not-utf8"),
    pytest.param(JSON, b"[1, 2, 3]", "resourceSpans", id="json-array"),
    pytest.param(JSON, b'{"resourceSpans": "nope"}', "ExportTraceServiceRequest", id="json-wrong-shape"),
    pytest.param(JSON, json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "not-hex", "spanId": "00f067aa0ba902b7", "name": "x"}]}]}]}).encode(), "hex",
        id="json-non-hex-id"),
])
def test_undecodable_body_is_400(client: httpx.Client, live_server: LiveServer, content_type: str, body: bytes,
                                 word: str) -> None:
    response = client.post("/v1/traces", content=body, headers={"Content-Type": content_type})
    assert_problem(response, 400, word)
    assert_nothing_written(client, live_server)


@pytest.mark.parametrize("gz", [
    pytest.param(b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic", id="garbage"),
    pytest.param(b"plain bytes, not gzip at all", id="not-gzip"),
    pytest.param(gzip.compress(session_request("chat-truncated")[0].SerializeToString())[:-8], id="no-trailer"),
    pytest.param(gzip.compress(session_request("chat-truncated")[0].SerializeToString())[:-30], id="truncated"),
    pytest.param(gzip.compress(session_request("chat-junk")[0].SerializeToString()) + b"junk", id="trailing-junk"),
    pytest.param(b"", id="empty"),
])
def test_corrupt_gzip_is_400(client: httpx.Client, live_server: LiveServer, gz: bytes) -> None:
    response = client.post("/v1/traces", content=gz,
                           headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
    assert_problem(response, 400, "gzip")
    assert_nothing_written(client, live_server)


@pytest.mark.parametrize("headers", [
    pytest.param({"Content-Type": "text/plain"}, id="text-plain"),
    pytest.param({"Content-Type": "application/xml"}, id="xml"),
    pytest.param({}, id="missing"),
])
def test_unsupported_content_type_is_415(client: httpx.Client, live_server: LiveServer,
                                         headers: dict[str, str]) -> None:
    request, _ = session_request("chat-415")
    response = client.post("/v1/traces", content=request.SerializeToString(), headers=headers)
    body = assert_problem(response, 415, PROTOBUF, JSON)
    assert body["instance"] == "/v1/traces"
    assert_nothing_written(client, live_server)


def test_unsupported_content_encoding_is_415(client: httpx.Client, live_server: LiveServer) -> None:
    request, _ = session_request("chat-br")
    response = client.post("/v1/traces", content=request.SerializeToString(),
                           headers={"Content-Type": PROTOBUF, "Content-Encoding": "br"})
    assert_problem(response, 415, "gzip")
    assert_nothing_written(client, live_server)


def test_other_method_is_405_problem(client: httpx.Client) -> None:
    response = client.put("/v1/traces", content=b"", headers={"Content-Type": PROTOBUF})
    assert_problem(response, 405)


# --- size limit -----------------------------------------------------------------------------------------------


@pytest.fixture
def small_server(store: Store) -> Iterator[LiveServer]:
    """The app with a 1000-byte body limit."""
    live = start_server(store, max_body_bytes=1000)
    yield live
    stop_server(live)


def big_request(session_id: str, text_bytes: int) -> ExportTraceServiceRequest:
    return export(span("big", attrs={"session.id": session_id, "input.value": "a" * text_bytes}))


def test_body_above_limit_is_413(small_server: LiveServer) -> None:
    with small_server.client() as client:
        small, _ = session_request("chat-small")
        parse_response(client.post("/v1/traces", content=small.SerializeToString(),
                                   headers={"Content-Type": PROTOBUF}), PROTOBUF)
        assert spans_in_store(small_server) == 2
        big = big_request("chat-big", 2000).SerializeToString()
        assert len(big) > 1000
        assert_problem(client.post("/v1/traces", content=big, headers={"Content-Type": PROTOBUF}), 413, "1000")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            for i in range(0, len(big), 100):
                yield big[i:i + 100]

        response = client.post("/v1/traces", content=chunks(), headers={"Content-Type": PROTOBUF})
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "1000")
        assert spans_in_store(small_server) == 2
        assert client.get("/v1/sessions").json()["pagination"]["total"] == 1


@pytest.mark.parametrize("content_type", [PROTOBUF, JSON])
def test_gzip_bomb_is_413(small_server: LiveServer, content_type: str) -> None:
    request = big_request("chat-bomb", 200_000)
    raw = request.SerializeToString() if content_type == PROTOBUF else to_otlp_json(request)
    bomb = gzip.compress(raw)
    assert len(bomb) < 1000 < len(raw)
    with small_server.client() as client:
        response = client.post("/v1/traces", content=bomb,
                               headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
        assert_problem(response, 413, "1000")
        assert client.get("/v1/sessions").json()["pagination"]["total"] == 0
    assert spans_in_store(small_server) == 0


def test_gzip_body_inflating_to_exactly_the_limit_is_accepted(store: Store) -> None:
    request = big_request("chat-exact", 100)
    raw = request.SerializeToString()
    live = start_server(store, max_body_bytes=len(raw))
    try:
        with live.client() as client:
            response = client.post("/v1/traces", content=gzip.compress(raw),
                                   headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
            parse_response(response, PROTOBUF)
            assert client.get("/v1/sessions/chat-exact").status_code == 200
    finally:
        stop_server(live)


def test_multi_member_gzip_is_read_whole(client: httpx.Client, live_server: LiveServer) -> None:
    """RFC 1952: a gzip file may be several members back to back; all of them are the body."""
    request, _ = session_request("chat-members")
    raw = request.SerializeToString()
    half = len(raw) // 2
    body = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
    assert gzip.decompress(body) == raw
    response = client.post("/v1/traces", content=body, headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})
    assert not parse_response(response, PROTOBUF).HasField("partial_success")
    assert client.get("/v1/sessions/chat-members").json()["span_count"] == 2
    assert spans_in_store(live_server) == 2
