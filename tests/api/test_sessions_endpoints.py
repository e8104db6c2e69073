"""Sessions and traces read endpoints over real HTTP, on one known dataset: the list (order, pagination, links,
limits), every session field with its value, one session with its turns, a session's traces, one trace with its
span tree, special-character session ids, 404s, probes, and the OpenAPI document."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from conftest import BACKENDS, CLICKHOUSE_URL, LiveServer, start_server, stop_server
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROBLEM = "application/problem+json"
GPT4O = (2.50, 10.00)  # USD per 1M tokens, input/output: the shipped price table
GPT4O_MINI = (0.15, 0.60)
A1, A2 = "a1" * 16, "a2" * 16
OTEL_TRACE = "0f" * 16
SPECIAL_IDS = ["team/a b", "üñí☃ çødé", "q?x=1#frag%20&y"]


def cost(price: tuple[float, float], input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


A1_COST = cost(GPT4O, 1000, 200)
A2_COST = cost(GPT4O, 500, 100) + cost(GPT4O_MINI, 2000, 400)

# Sessions, newest last activity first.
EXPECTED_ORDER = ["chat-B", "chat-A", *SPECIAL_IDS, "paged", "s-3", "s-2", "s-1", "s-0"]


def _span(name: str, start: str, end: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "start_time": start, "end_time": end, **fields}


def _chat_a() -> list[dict[str, Any]]:
    day = "2025-03-01T10:"
    return [
        {"trace_id": A1, "name": "turn 1", "session_id": "chat-A", "user_id": "u-1",
         "metadata": {"plan": "pro"}, "tags": ["vip"], "spans": [
             _span("turn 1", f"{day}00:00Z", f"{day}00:02Z", span_id="a100000000000001", input="hello",
                   output="hi there"),
             _span("llm", f"{day}00:00.5Z", f"{day}00:01.5Z", span_id="a100000000000002",
                   parent_span_id="a100000000000001", type="llm", model="gpt-4o", input_tokens=1000,
                   output_tokens=200, input="prompt-1", output="completion-1"),
             _span("search", f"{day}00:01.5Z", f"{day}00:01.8Z", span_id="a100000000000003",
                   parent_span_id="a100000000000001", type="tool", status="error", status_message="timeout",
                   attributes={"tool.query": "weather", "retries": 2}),
         ]},
        {"trace_id": A2, "name": "turn 2", "session_id": "chat-A", "user_id": "u-1", "spans": [
            _span("turn 2", f"{day}05:00Z", f"{day}05:03Z", span_id="a200000000000001", input="and then?",
                  output="bye"),
            _span("llm", f"{day}05:00.5Z", f"{day}05:01Z", span_id="a200000000000002",
                  parent_span_id="a200000000000001", type="llm", model="gpt-4o", input_tokens=500,
                  output_tokens=100),
            _span("llm-mini", f"{day}05:01Z", f"{day}05:02Z", span_id="a200000000000003",
                  parent_span_id="a200000000000001", type="llm", model="gpt-4o-mini", input_tokens=2000,
                  output_tokens=400),
        ]},
    ]


def _one(session_id: str, start: str, end: str) -> dict[str, Any]:
    return {"name": f"turn of {session_id}", "session_id": session_id,
            "spans": [_span("root", start, end, input=f"in {session_id}", output=f"out {session_id}")]}


def _paged() -> list[dict[str, Any]]:
    traces = [{"trace_id": f"{i:032x}", "name": f"step-{i}", "session_id": "paged",
               "spans": [_span("root", f"2025-02-26T08:0{i}:00Z", f"2025-02-26T08:0{i}:01Z")]} for i in range(1, 6)]
    random.Random(7).shuffle(traces)  # arrival order is not turn order
    return traces


def _otel_request() -> ExportTraceServiceRequest:
    """A session-less three-level trace, children first, with events and typed attributes."""
    def kv(key: str, value: AnyValue) -> KeyValue:
        return KeyValue(key=key, value=value)

    t0 = 1_740_996_000_000_000_000  # 2025-03-03T10:00:00Z
    ms = 1_000_000
    trace_id = bytes.fromhex(OTEL_TRACE)
    root = Span(trace_id=trace_id, span_id=bytes.fromhex("0000000000000001"), name="agent", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=t0, end_time_unix_nano=t0 + 900 * ms)
    llm = Span(trace_id=trace_id, span_id=bytes.fromhex("0000000000000002"), parent_span_id=root.span_id, name="chat",
               kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=t0 + 100 * ms, end_time_unix_nano=t0 + 600 * ms,
               attributes=[kv("gen_ai.request.model", AnyValue(string_value="gpt-4o")),
                           kv("gen_ai.usage.input_tokens", AnyValue(int_value=40)),
                           kv("custom.flag", AnyValue(bool_value=True))],
               status=Status(code=Status.STATUS_CODE_OK))
    llm.events.add(time_unix_nano=t0 + 150 * ms, name="gen_ai.user.message",
                   attributes=[kv("content", AnyValue(string_value="What is up?"))])
    tool = Span(trace_id=trace_id, span_id=bytes.fromhex("0000000000000003"), parent_span_id=llm.span_id,
                name="lookup", start_time_unix_nano=t0 + 200 * ms, end_time_unix_nano=t0 + 300 * ms)
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=[tool, llm, root])])
    resource.scope_spans[0].scope.name = "my.instrumentation"
    resource.resource.attributes.append(kv("service.name", AnyValue(string_value="otel-svc")))
    return ExportTraceServiceRequest(resource_spans=[resource])


@dataclass
class Dataset:
    live: LiveServer
    client: httpx.Client


@pytest.fixture(scope="module", params=BACKENDS)
def dataset(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Dataset]:
    """One server on one database holding the known dataset, shared by the read-only tests of this module."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        store = Store.embedded(chdb_dir, database)
    else:
        assert CLICKHOUSE_URL
        store = Store.server(CLICKHOUSE_URL, database)
    migrate(store)
    live = start_server(store)
    client = live.client()
    try:
        batches = [
            _chat_a(),
            [_one("chat-B", "2025-03-02T09:00:00Z", "2025-03-02T09:00:01Z")],
            [_one(sid, f"2025-02-27T1{i}:00:00Z", f"2025-02-27T1{i}:00:01Z")
             for i, sid in enumerate(reversed(SPECIAL_IDS))],
            _paged(),
            [_one(f"s-{i}", f"2025-02-20T0{i}:00:00Z", f"2025-02-20T0{i}:00:01Z") for i in range(4)],
        ]
        for batch in batches:
            response = client.post("/v1/ingest", json=batch)
            assert response.status_code == 200, response.text
        response = client.post("/v1/traces", content=_otel_request().SerializeToString(),
                               headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 200, response.text
        yield Dataset(live, client)
    finally:
        client.close()
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


@pytest.fixture
def api(dataset: Dataset) -> httpx.Client:
    return dataset.client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["detail"]
    return body


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


# --- the list -------------------------------------------------------------------------------------------------


def test_list_is_newest_last_seen_first(api: httpx.Client) -> None:
    page = api.get("/v1/sessions").json()
    assert [s["session_id"] for s in page["data"]] == EXPECTED_ORDER  # the session-less trace is not a session
    assert page["pagination"] == {"limit": 50, "offset": 0, "total": len(EXPECTED_ORDER), "has_more": False,
                                  "next_cursor": None}
    assert page["links"]["next"] is None and page["links"]["prev"] is None
    last_seen = [s["last_seen"] for s in page["data"]]
    assert last_seen == sorted(last_seen, reverse=True)


def test_pagination_links_work_when_followed(api: httpx.Client) -> None:
    link: str | None = "/v1/sessions?limit=3"
    pages = []
    while link:
        response = api.get(link)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        link = page["links"]["next"]
    assert [len(p["data"]) for p in pages] == [3, 3, 3, 1]
    assert [s["session_id"] for p in pages for s in p["data"]] == EXPECTED_ORDER
    for index, page in enumerate(pages):
        assert page["pagination"]["offset"] == index * 3 and page["pagination"]["limit"] == 3
        assert page["pagination"]["total"] == len(EXPECTED_ORDER)
        assert page["pagination"]["has_more"] == (index < len(pages) - 1)
        assert query_of(page["links"]["self"]) == {"limit": ["3"], "offset": [str(index * 3)]}
        assert api.get(page["links"]["self"]).json()["data"] == page["data"]
        if index == 0:
            assert page["links"]["prev"] is None
        else:
            assert api.get(page["links"]["prev"]).json()["data"] == pages[index - 1]["data"]


def test_offset_not_on_a_page_boundary_and_past_the_end(api: httpx.Client) -> None:
    page = api.get("/v1/sessions", params={"limit": 2, "offset": 1}).json()
    assert [s["session_id"] for s in page["data"]] == EXPECTED_ORDER[1:3]
    assert query_of(page["links"]["prev"]) == {"limit": ["2"], "offset": ["0"]}
    beyond = api.get("/v1/sessions", params={"limit": 5, "offset": 100}).json()
    assert beyond["data"] == [] and beyond["pagination"]["has_more"] is False
    assert beyond["pagination"]["total"] == len(EXPECTED_ORDER) and beyond["links"]["next"] is None
    assert api.get(beyond["links"]["prev"]).status_code == 200


@pytest.mark.parametrize("params", [{"limit": 1}, {"limit": 1000}])
def test_limit_bounds_accepted(api: httpx.Client, params: dict[str, int]) -> None:
    page = api.get("/v1/sessions", params=params).json()
    assert page["pagination"]["limit"] == params["limit"]
    assert len(page["data"]) == min(params["limit"], len(EXPECTED_ORDER))


@pytest.mark.parametrize(("path", "params", "location"), [
    ("/v1/sessions", {"limit": 0}, "query.limit"),
    ("/v1/sessions", {"limit": 1001}, "query.limit"),
    ("/v1/sessions", {"limit": "ten"}, "query.limit"),
    ("/v1/sessions", {"offset": -1}, "query.offset"),
    ("/v1/sessions/chat-A/traces", {"limit": 0}, "query.limit"),
    ("/v1/sessions/chat-A/traces", {"limit": 1001}, "query.limit"),
])
def test_limit_out_of_bounds_is_422(api: httpx.Client, path: str, params: dict[str, Any], location: str) -> None:
    problem = assert_problem(api.get(path, params=params), 422)
    assert [e["location"] for e in problem["errors"]] == [location]
    assert location in problem["detail"]


# --- session fields -------------------------------------------------------------------------------------------

DESIGN_FIELDS = {
    "session_id", "trace_count", "total_duration_ms", "total_cost_usd", "total_tokens", "quality_score",
    "first_seen", "last_seen", "wall_duration_ms", "project_id", "name", "user_id", "metadata", "tags",
    "span_count", "llm_call_count", "error_count", "input_tokens", "output_tokens", "avg_latency_ms",
    "p50_latency_ms", "p95_latency_ms", "models", "end_state", "first_input", "last_output", "created_at",
    "updated_at", "links",
}


def check_chat_a(session: dict[str, Any]) -> None:
    assert session.keys() >= DESIGN_FIELDS, DESIGN_FIELDS - session.keys()
    expected = {
        "session_id": "chat-A", "project_id": "default", "user_id": "u-1", "trace_count": 2, "span_count": 6,
        "llm_call_count": 3, "tool_call_count": 1, "error_count": 1,
        "input_tokens": 1000 + 500 + 2000, "output_tokens": 200 + 100 + 400, "total_tokens": 4200,
        "total_duration_ms": 2000.0 + 3000.0, "wall_duration_ms": 303_000.0, "avg_latency_ms": 2500.0,
        "models": ["gpt-4o", "gpt-4o-mini"],
        "first_seen": "2025-03-01T10:00:00.000000Z", "last_seen": "2025-03-01T10:05:03.000000Z",
        "first_input": "hello", "last_output": "bye", "metadata": {"plan": "pro"}, "tags": ["vip"],
        "end_state": "indeterminate", "quality_score": None, "name": None,
        "links": {"self": "/v1/sessions/chat-A", "traces": "/v1/sessions/chat-A/traces"},
    }
    assert {key: session[key] for key in expected} == expected
    assert session["total_cost_usd"] == pytest.approx(A1_COST + A2_COST, abs=1e-9)
    assert session["total_cost_usd"] == pytest.approx(0.00729, abs=1e-9)
    assert 2000.0 <= session["p50_latency_ms"] <= session["p95_latency_ms"] <= 3000.0
    assert session["created_at"] == session["first_seen"]


def test_session_fields_in_the_list(api: httpx.Client) -> None:
    page = api.get("/v1/sessions").json()
    check_chat_a(next(s for s in page["data"] if s["session_id"] == "chat-A"))
    chat_b = next(s for s in page["data"] if s["session_id"] == "chat-B")
    assert chat_b["user_id"] is None and chat_b["models"] == [] and chat_b["total_cost_usd"] == 0
    assert (chat_b["first_input"], chat_b["last_output"]) == ("in chat-B", "out chat-B")
    for session in page["data"]:
        assert session.keys() >= DESIGN_FIELDS


def test_session_detail_has_turns_in_start_order(api: httpx.Client) -> None:
    response = api.get("/v1/sessions/chat-A")
    assert response.status_code == 200, response.text
    detail = response.json()
    check_chat_a(detail)
    listed = next(s for s in api.get("/v1/sessions").json()["data"] if s["session_id"] == "chat-A")
    assert {k: v for k, v in detail.items() if k != "traces"} == listed
    turns = detail["traces"]
    assert [(t["turn"], t["trace_id"], t["name"]) for t in turns] == [(1, A1, "turn 1"), (2, A2, "turn 2")]
    first, second = turns
    assert first == first | {
        "session_id": "chat-A", "user_id": "u-1", "start_time": "2025-03-01T10:00:00.000000Z",
        "end_time": "2025-03-01T10:00:02.000000Z", "duration_ms": 2000.0, "span_count": 3, "llm_call_count": 1,
        "tool_call_count": 1, "error_count": 1, "input_tokens": 1000, "output_tokens": 200, "total_tokens": 1200,
        "models": ["gpt-4o"], "input": "hello", "output": "hi there", "status_code": "ERROR",
        "metadata": {"plan": "pro"}, "tags": ["vip"],
        "links": {"self": f"/v1/traces/{A1}", "session": "/v1/sessions/chat-A"},
    }
    assert first["cost_usd"] == pytest.approx(A1_COST, abs=1e-9)
    assert (second["duration_ms"], second["span_count"], second["llm_call_count"], second["error_count"]) == (
        3000.0, 3, 2, 0)
    assert (second["input_tokens"], second["output_tokens"], second["total_tokens"]) == (2500, 500, 3000)
    assert second["models"] == ["gpt-4o", "gpt-4o-mini"] and second["status_code"] != "ERROR"
    assert (second["input"], second["output"]) == ("and then?", "bye")
    assert second["cost_usd"] == pytest.approx(A2_COST, abs=1e-9)
    assert sum(t["cost_usd"] for t in turns) == pytest.approx(detail["total_cost_usd"], abs=1e-9)
    assert api.get(first["links"]["self"]).json()["trace_id"] == A1
    assert api.get(first["links"]["session"]).json()["session_id"] == "chat-A"


@pytest.mark.parametrize("session_id", SPECIAL_IDS)
def test_session_ids_with_special_characters(api: httpx.Client, session_id: str) -> None:
    encoded = quote(session_id, safe="")
    response = api.get(f"/v1/sessions/{encoded}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["session_id"] == session_id and detail["trace_count"] == 1
    assert detail["links"]["self"] == f"/v1/sessions/{encoded}"
    assert [t["session_id"] for t in detail["traces"]] == [session_id]
    traces = api.get(detail["links"]["traces"])
    assert traces.status_code == 200, traces.text
    assert [t["turn"] for t in traces.json()["data"]] == [1]
    listed = next(s for s in api.get("/v1/sessions").json()["data"] if s["session_id"] == session_id)
    assert api.get(listed["links"]["self"]).json()["session_id"] == session_id


def test_special_session_id_traces_pagination_links(api: httpx.Client) -> None:
    path = f"/v1/sessions/{quote(SPECIAL_IDS[0], safe='')}/traces"
    page = api.get(path, params={"limit": 1}).json()
    assert page["links"]["self"].startswith(f"{path}?")
    assert api.get(page["links"]["self"]).json()["data"] == page["data"]


@pytest.mark.parametrize("path", ["/v1/sessions/no-such-session", "/v1/sessions/no-such-session/traces",
                                  f"/v1/sessions/{quote('no/such ☃', safe='')}"])
def test_unknown_session_is_404(api: httpx.Client, path: str) -> None:
    problem = assert_problem(api.get(path), 404)
    assert "no session" in problem["detail"]


def test_session_traces_pagination(api: httpx.Client) -> None:
    link: str | None = "/v1/sessions/paged/traces?limit=2"
    pages = []
    while link:
        page = api.get(link).json()
        pages.append(page)
        link = page["links"]["next"]
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    traces = [t for p in pages for t in p["data"]]
    assert [(t["turn"], t["name"]) for t in traces] == [(i, f"step-{i}") for i in range(1, 6)]
    assert [t["start_time"] for t in traces] == sorted(t["start_time"] for t in traces)
    assert all(p["pagination"]["total"] == 5 for p in pages)
    assert [p["pagination"]["has_more"] for p in pages] == [True, True, False]
    assert api.get(pages[2]["links"]["prev"]).json()["data"] == pages[1]["data"]
    whole = api.get("/v1/sessions/paged/traces").json()
    assert whole["data"] == traces and whole["links"]["next"] is None
    assert [t["turn"] for t in api.get("/v1/sessions/paged").json()["traces"]] == [1, 2, 3, 4, 5]


# --- traces ---------------------------------------------------------------------------------------------------


def test_trace_detail_has_spans_tree_events_and_attributes(api: httpx.Client) -> None:
    response = api.get(f"/v1/traces/{OTEL_TRACE}")
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["trace_id"] == OTEL_TRACE and trace["session_id"] is None and trace["turn"] is None
    assert "session" not in trace["links"]
    assert (trace["name"], trace["span_count"], trace["duration_ms"]) == ("agent", 3, 900.0)
    spans = trace["spans"]
    assert [s["name"] for s in spans] == ["agent", "chat", "lookup"]  # start order
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[str]] = {}
    for item in spans:
        assert item["parent_span_id"] is None or item["parent_span_id"] in by_id
        children.setdefault(item["parent_span_id"], []).append(item["name"])
    assert children == {None: ["agent"], "0000000000000001": ["chat"], "0000000000000002": ["lookup"]}
    agent, chat, lookup = spans
    assert (agent["kind"], chat["kind"], lookup["kind"]) == ("SERVER", "CLIENT", "UNSPECIFIED")
    assert chat["attributes"] == {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "40",
                                  "custom.flag": "true"}
    assert chat["resource_attributes"] == {"service.name": "otel-svc"}
    assert (chat["service_name"], chat["scope_name"], chat["model"]) == ("otel-svc", "my.instrumentation", "gpt-4o")
    assert (chat["span_type"], chat["input_tokens"], chat["status_code"]) == ("llm", 40, "OK")
    assert chat["cost_usd"] == pytest.approx(cost(GPT4O, 40, 0), abs=1e-12)
    assert chat["input"] == "What is up?"  # from the GenAI message event
    assert chat["events"] == [{"time": "2025-03-03T10:00:00.150000Z", "name": "gen_ai.user.message",
                               "attributes": {"content": "What is up?"}}]
    assert agent["events"] == [] and lookup["events"] == []
    assert (chat["start_time"], chat["end_time"], chat["duration_ms"]) == (
        "2025-03-03T10:00:00.100000Z", "2025-03-03T10:00:00.600000Z", 500.0)


def test_trace_detail_of_a_session_trace(api: httpx.Client) -> None:
    trace = api.get(f"/v1/traces/{A1}").json()
    assert trace["session_id"] == "chat-A" and trace["links"]["session"] == "/v1/sessions/chat-A"
    spans = {s["span_id"]: s for s in trace["spans"]}
    assert spans["a100000000000001"]["parent_span_id"] is None
    assert spans["a100000000000002"]["parent_span_id"] == "a100000000000001"
    tool = spans["a100000000000003"]
    assert (tool["parent_span_id"], tool["span_type"], tool["status_code"], tool["status_message"]) == (
        "a100000000000001", "tool", "ERROR", "timeout")
    assert tool["attributes"] == {"tool.query": "weather", "retries": "2"}
    llm = spans["a100000000000002"]
    assert (llm["input"], llm["output"], llm["total_tokens"]) == ("prompt-1", "completion-1", 1200)
    assert llm["cost_usd"] == pytest.approx(A1_COST, abs=1e-12)
    # upper-case ids find the trace too
    assert api.get(f"/v1/traces/{A1.upper()}").json()["trace_id"] == A1


@pytest.mark.parametrize("trace_id", ["ab" * 16, "not-a-trace", "0" * 32])
def test_unknown_trace_is_404(api: httpx.Client, trace_id: str) -> None:
    problem = assert_problem(api.get(f"/v1/traces/{trace_id}"), 404)
    assert "no trace" in problem["detail"]


# --- probes, docs, unknown paths ------------------------------------------------------------------------------


def test_health_probes(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["pending_spans"] == 0


def test_docs_and_openapi(api: httpx.Client) -> None:
    docs = api.get("/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()
    spec = api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"NativeTrace", "NativeSpan", "Session", "SessionPage", "Trace", "TraceDetail"} <= schemas.keys()
    assert {"name", "spans", "session_id", "trace_id", "user_id", "metadata"} <= schemas["NativeTrace"][
        "properties"].keys()
    body = spec["paths"]["/v1/ingest"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["items"]["$ref"] == "#/components/schemas/NativeTrace"
    for path in ("/v1/traces", "/v1/sessions", "/v1/sessions/{session_id}", "/v1/sessions/{session_id}/traces",
                 "/v1/traces/{trace_id}", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    refs = _refs(spec)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_unknown_path_is_404_problem(api: httpx.Client) -> None:
    problem = assert_problem(api.get("/v1/nothing-here"), 404)
    assert "/docs" in problem["detail"]


def test_empty_project_lists_nothing(client: httpx.Client) -> None:
    page = client.get("/v1/sessions").json()
    assert page["data"] == [] and page["pagination"]["total"] == 0 and page["pagination"]["has_more"] is False
    assert page["links"] == {"self": "/v1/sessions?limit=50&offset=0", "next": None, "prev": None}
    assert_problem(client.get(f"/v1/traces/{os.urandom(16).hex()}"), 404)
