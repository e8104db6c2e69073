"""One session's reads over real HTTP on a known dataset (OTLP traces and logs): ``/stats``, ``/timeline``,
``/logs``, ``/metrics`` and ``/export`` with exact numbers, idle gaps, span trees and offsets, log merging, filters and
pagination, 404s, parameter errors, OpenAPI, and a two-project server where no endpoint shows another project's
data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import LiveServer, start_server, stop_server
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from threadline.auth.repository import ProjectRepository
from threadline.queries.scores import add_score
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROTOBUF = "application/x-protobuf"
PROBLEM = "application/problem+json"
T0 = 1_740_823_200_000_000_000  # 2025-03-01T10:00:00Z
MS = 1_000_000
SESSION = "chat-1"
SLASHED = "team/x y"
T1, T2, T3, T_OTHER, T_SLASHED = "a1" * 16, "a2" * 16, "a3" * 16, "b1" * 16, "c1" * 16
GPT4O, MINI = (2.50, 10.00), (0.15, 0.60)  # USD per 1M tokens (input, output): the shipped price table
ENDPOINTS = ("stats", "timeline", "logs", "metrics", "export")


def cost(price: tuple[float, float], tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * price[0] + tokens_out * price[1]) / 1e6


TURN_COSTS = [cost(GPT4O, 1000, 200), cost(GPT4O, 500, 100) + cost(MINI, 2000, 400), 0.0]


def value(item: str | int | float) -> AnyValue:
    if isinstance(item, str):
        return AnyValue(string_value=str(item))
    if isinstance(item, int):
        return AnyValue(int_value=item)
    return AnyValue(double_value=item)


def attrs(**items: str | int | float) -> list[KeyValue]:
    return [KeyValue(key=k.replace("__", "."), value=value(v)) for k, v in items.items()]


def span(trace: str, span_id: str, name: str, start_ms: int, end_ms: int, parent: str = "", *,
         error: str = "", events: list[tuple[int, str, dict[str, str]]] | None = None,
         **items: str | int | float) -> Span:
    made = Span(trace_id=bytes.fromhex(trace), span_id=bytes.fromhex(span_id),
                parent_span_id=bytes.fromhex(parent) if parent else b"", name=name,
                start_time_unix_nano=T0 + start_ms * MS, end_time_unix_nano=T0 + end_ms * MS,
                attributes=attrs(**items))
    if error:
        made.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    for at, event_name, event_attrs in events or []:
        made.events.add(time_unix_nano=T0 + at * MS, name=event_name,
                        attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in event_attrs.items()])
    return made


def chat(trace: str, span_id: str, parent: str, start_ms: int, end_ms: int, model: str, tokens: tuple[int, int],
         **kw: Any) -> Span:
    return span(trace, span_id, f"chat {model}", start_ms, end_ms, parent, gen_ai__operation__name="chat",
                gen_ai__request__model=model, gen_ai__usage__input_tokens=tokens[0],
                gen_ai__usage__output_tokens=tokens[1], **kw)


EXCEPTION = {"exception.type": "TimeoutError", "exception.message": "upstream timed out",
             "exception.stacktrace": "Traceback (most recent call last): ..."}


def session_spans() -> list[Span]:
    """Three turns of chat-1; the session id sits on the roots only. Gaps: 298 s after turn 1, 7 s after turn 2."""
    root1, root2, root3 = "a100000000000001", "a200000000000001", "a300000000000001"
    return [
        # children first, as exporters send them
        chat(T1, "a100000000000002", root1, 500, 1500, "gpt-4o", (1000, 200),
             gen_ai__server__time_to_first_token=0.25),
        span(T1, "a100000000000003", "search", 1500, 1800, root1, error="timeout",
             events=[(1700, "exception", EXCEPTION)], gen_ai__operation__name="execute_tool"),
        span(T1, "a100000000000004", "http GET", 1550, 1750, "a100000000000003"),
        span(T1, root1, "turn 1", 0, 2000, session__id=SESSION, input__value="hello", output__value="hi there"),
        span(T2, root2, "turn 2", 300_000, 303_000, session__id=SESSION, input__value="and then?",
             output__value="bye"),
        chat(T2, "a200000000000002", root2, 300_500, 301_000, "gpt-4o", (500, 100),
             events=[(300_620, "gen_ai.content.first_token", {})]),
        chat(T2, "a200000000000003", root2, 301_000, 302_000, "gpt-4o-mini", (2000, 400),
             events=[(301_500, "retry", {"attempt": "2"})]),
        span(T3, root3, "turn 3", 310_000, 311_000, session__id=SESSION, session__end_state="success"),
        # another session, and one whose id holds '/' and a space
        span(T_OTHER, "b100000000000001", "other", 0, 10, session__id="chat-2"),
        span(T_SLASHED, "c100000000000001", "slashed", 0, 10, session__id=SLASHED),
    ]


def log_request(*records: tuple[int, str, int, str, str, str], resource_session: str = "") -> bytes:
    """(time ms, body, severity number, severity text, trace id or '', session id or '') records."""
    scope = ScopeLogs(log_records=[
        LogRecord(time_unix_nano=T0 + at * MS, body=AnyValue(string_value=body), severity_number=number,  # type: ignore
                  severity_text=text, trace_id=bytes.fromhex(trace) if trace else b"",
                  attributes=attrs(session__id=sid) if sid else [])
        for at, body, number, text, trace, sid in records])
    resource = ResourceLogs(scope_logs=[scope])
    if resource_session:
        resource.resource.attributes.extend(attrs(session__id=resource_session))
    return ExportLogsServiceRequest(resource_logs=[resource]).SerializeToString()


LOGS = [
    log_request((1000, "rate limited", 13, "WARN", "", SESSION),
                (300_700, "model refused", 0, "ERROR", T2, ""),  # no session id: its trace's session
                (5, "other session", 21, "FATAL", T_OTHER, "")),
    log_request((310_500, "cache miss", 5, "DEBUG", "", ""), resource_session=SESSION),
]
# Every entry of chat-1's log: (ms from T0, source, severity, text)
ENTRIES = [
    (1000, "log", "warn", "rate limited"),
    (1700, "exception", "error", "upstream timed out"),
    (300_620, "span_event", "info", "gen_ai.content.first_token"),
    (300_700, "log", "error", "model refused"),
    (301_500, "span_event", "info", "retry"),
    (310_500, "log", "debug", "cache miss"),
]


def post_dataset(client: httpx.Client, spans: list[Span], logs: list[bytes]) -> None:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    request.resource_spans[0].resource.attributes.extend(attrs(service__name="chat-svc"))
    response = client.post("/v1/traces", content=request.SerializeToString(), headers={"Content-Type": PROTOBUF})
    assert response.status_code == 200, response.text
    for body in logs:
        response = client.post("/v1/logs", content=body, headers={"Content-Type": PROTOBUF})
        assert response.status_code == 200 and not response.content, response.content


@dataclass
class Dataset:
    live: LiveServer
    client: httpx.Client


@pytest.fixture(scope="module")
def dataset(chdb_dir: Path) -> Iterator[Dataset]:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    live = start_server(store)
    try:
        with live.client() as client:
            post_dataset(client, session_spans(), LOGS)
            for quality in (0.8, 0.6):
                add_score(store, "default", "session", SESSION, name="quality", value=quality, comment="",
                          source="human")
            add_score(store, "default", "session", SESSION, name="topic", value="billing", comment="refund",
                      source="llm")
            yield Dataset(live, client)
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


@pytest.fixture
def api(dataset: Dataset) -> httpx.Client:
    return dataset.client


def get(api: httpx.Client, path: str, **params: Any) -> Any:
    response = api.get(path, params=params or None)  # httpx drops the query of `path` when given params={}
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in response.text
    for word in words:
        assert word in body["detail"], body["detail"]


# --- stats --------------------------------------------------------------------------------------------------------


def test_stats_has_every_computed_field_with_exact_values(api: httpx.Client) -> None:
    stats = get(api, f"/v1/sessions/{SESSION}/stats")
    expected = {
        "session_id": SESSION, "trace_count": 3, "span_count": 8, "llm_call_count": 3, "tool_call_count": 1,
        "error_count": 1, "input_tokens": 3500, "output_tokens": 700, "total_tokens": 4200,
        "total_duration_ms": 6000.0, "wall_duration_ms": 311_000.0, "avg_latency_ms": 2000.0,
        "p50_latency_ms": 2000.0, "p95_latency_ms": 3000.0, "first_input": "hello", "last_output": "bye",
        "end_state": "success", "first_seen": "2025-03-01T10:00:00.000000Z",
        "last_seen": "2025-03-01T10:05:11.000000Z", "idle_gap_threshold_s": 300.0, "idle_gaps": [],
        "idle_time_ms": 0.0, "links": {"session": f"/v1/sessions/{SESSION}"},
    }
    assert {k: stats[k] for k in expected} == expected
    assert stats["total_cost_usd"] == pytest.approx(sum(TURN_COSTS))
    assert stats["quality_score"] == pytest.approx(0.7)
    # TTFT: 250 ms (attribute, seconds) on turn 1, 120 ms (first-token event) on turn 2
    assert stats["time_to_first_token"] == {"call_count": 2, "avg_ms": 185.0, "p50_ms": 250.0, "p95_ms": 250.0}
    models = [(m["model"], m["call_count"], m["input_tokens"], m["output_tokens"], m["total_tokens"])
              for m in stats["models"]]
    assert models == [("gpt-4o", 2, 1500, 300, 1800), ("gpt-4o-mini", 1, 2000, 400, 2400)]
    assert stats["models"][0]["cost_usd"] == pytest.approx(cost(GPT4O, 1500, 300))
    assert stats["models"][1]["cost_usd"] == pytest.approx(cost(MINI, 2000, 400))
    assert set(stats) == set(expected) | {"total_cost_usd", "quality_score", "time_to_first_token", "models"}


@pytest.mark.parametrize(("idle_gap_s", "gaps"), [
    (300, []), (298, []), (297.9, [{"after_turn": 1, "gap_ms": 298_000.0}]),
    (5, [{"after_turn": 1, "gap_ms": 298_000.0}, {"after_turn": 2, "gap_ms": 7000.0}]),
])
def test_stats_idle_gaps_above_the_threshold(api: httpx.Client, idle_gap_s: float,
                                             gaps: list[dict[str, float]]) -> None:
    stats = get(api, f"/v1/sessions/{SESSION}/stats", idle_gap_s=idle_gap_s)
    assert stats["idle_gaps"] == gaps and stats["idle_gap_threshold_s"] == idle_gap_s
    assert stats["idle_time_ms"] == sum(g["gap_ms"] for g in gaps)


def test_stats_of_a_session_without_llm_calls(api: httpx.Client) -> None:
    stats = get(api, "/v1/sessions/chat-2/stats")
    assert stats["trace_count"] == 1 and stats["models"] == [] and stats["time_to_first_token"] is None
    assert stats["quality_score"] is None and stats["end_state"] == "indeterminate"


# --- timeline -----------------------------------------------------------------------------------------------------


def test_timeline_turns_with_span_trees_and_offsets(api: httpx.Client) -> None:
    timeline = get(api, f"/v1/sessions/{SESSION}/timeline")
    assert timeline["session_start"] == "2025-03-01T10:00:00.000000Z" and timeline["idle_gap_threshold_s"] == 300
    turns = timeline["turns"]
    assert [(t["turn"], t["trace_id"], t["start_offset_ms"], t["duration_ms"]) for t in turns] == [
        (1, T1, 0.0, 2000.0), (2, T2, 300_000.0, 3000.0), (3, T3, 310_000.0, 1000.0)]
    tree = [(s["name"], s["depth"], s["parent_span_id"], s["start_offset_ms"], s["duration_ms"])
            for s in turns[0]["spans"]]
    assert tree == [
        ("turn 1", 0, None, 0.0, 2000.0),
        ("chat gpt-4o", 1, "a100000000000001", 500.0, 1000.0),
        ("search", 1, "a100000000000001", 1500.0, 300.0),
        ("http GET", 2, "a100000000000003", 1550.0, 200.0),
    ]
    search = turns[0]["spans"][2]
    assert (search["status_code"], search["status_message"], search["span_type"], search["event_count"]) == (
        "ERROR", "timeout", "tool", 1)
    llm = turns[0]["spans"][1]
    assert (llm["model"], llm["input_tokens"], llm["output_tokens"]) == ("gpt-4o", 1000, 200)
    assert llm["cost_usd"] == pytest.approx(TURN_COSTS[0])
    assert [s["start_offset_ms"] for s in turns[1]["spans"]] == [300_000.0, 300_500.0, 301_000.0]
    assert (turns[0]["input"], turns[0]["output"], turns[0]["error_count"]) == ("hello", "hi there", 1)
    assert [t["idle_gap_before_ms"] for t in turns] == [None, None, None] and timeline["idle_gaps"] == []
    assert timeline["pagination"] == {"limit": 50, "offset": 0, "total": 3, "has_more": False, "next_cursor": None}


def test_timeline_marks_idle_gaps_and_pages_turns(api: httpx.Client) -> None:
    first = get(api, f"/v1/sessions/{SESSION}/timeline", limit=2, idle_gap_s=5)
    assert [t["turn"] for t in first["turns"]] == [1, 2]
    assert [t["idle_gap_before_ms"] for t in first["turns"]] == [None, 298_000.0]
    assert first["idle_gaps"] == [{"after_turn": 1, "gap_ms": 298_000.0}]
    assert first["pagination"]["has_more"] is True
    second = api.get(first["links"]["next"]).json()  # the link keeps idle_gap_s
    assert [t["turn"] for t in second["turns"]] == [3] and second["turns"][0]["start_offset_ms"] == 310_000.0
    assert second["idle_gaps"] == [{"after_turn": 2, "gap_ms": 7000.0}]
    assert second["turns"][0]["idle_gap_before_ms"] == 7000.0 and second["idle_gap_threshold_s"] == 5
    assert get(api, f"/v1/sessions/{SESSION}/timeline", offset=2, idle_gap_s=60)["idle_gaps"] == []
    beyond = get(api, f"/v1/sessions/{SESSION}/timeline", offset=10)
    assert beyond["turns"] == [] and beyond["pagination"]["total"] == 3


# --- logs ---------------------------------------------------------------------------------------------------------


def entries(page: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    return [((e["time_unix_nano"] - T0) // MS, e["source"], e["severity"], e["body"] or e["name"])
            for e in page["data"]]


def test_logs_merge_span_events_exceptions_and_records_in_time_order(api: httpx.Client) -> None:
    page = get(api, f"/v1/sessions/{SESSION}/logs")
    assert entries(page) == ENTRIES
    assert page["pagination"]["total"] == len(ENTRIES)
    exception = page["data"][1]
    assert exception["exception"] == {"type": "TimeoutError", "message": "upstream timed out",
                                      "stacktrace": "Traceback (most recent call last): ..."}
    assert (exception["trace_id"], exception["span_id"], exception["severity_number"]) == (
        T1, "a100000000000003", 17)
    assert exception["time"] == "2025-03-01T10:00:01.700000Z"
    refused = page["data"][3]
    assert (refused["severity_number"], refused["severity_text"], refused["trace_id"]) == (17, "ERROR", T2)
    assert page["data"][4]["attributes"] == {"attempt": "2"} and page["data"][4]["exception"] is None


@pytest.mark.parametrize(("params", "expected"), [
    ({"severity": "trace"}, ENTRIES),
    ({"severity": "info"}, [e for e in ENTRIES if e[2] != "debug"]),
    ({"severity": "warn"}, [e for e in ENTRIES if e[2] in ("warn", "error")]),
    ({"severity": "error"}, [e for e in ENTRIES if e[2] == "error"]),
    ({"severity": "fatal"}, []),
    ({"start_time": "2025-03-01T10:05:00Z"}, ENTRIES[2:]),
    ({"start_time": "1740823500"}, ENTRIES[2:]),  # epoch seconds
    ({"end_time": "2025-03-01T10:05:01.5Z"}, ENTRIES[:4]),  # end is exclusive
    ({"start_time": "2025-03-01T11:00:00+01:00", "end_time": "2025-03-01T10:05:00.700Z"}, ENTRIES[:3]),
    ({"start_time": "2025-03-01T10:00:01.5", "severity": "error"}, [ENTRIES[1], ENTRIES[3]]),
    ({"start_time": "9999-12-31T23:59:59Z"}, []),  # beyond what DateTime64(9) holds: clamped, not an error
    ({"end_time": "1960-01-01T00:00:00Z"}, []),
])
def test_logs_filters(api: httpx.Client, params: dict[str, str], expected: list[tuple[int, str, str, str]]) -> None:
    page = get(api, f"/v1/sessions/{SESSION}/logs", **params)
    assert entries(page) == expected and page["pagination"]["total"] == len(expected)


def test_logs_pagination_links_keep_the_filters(api: httpx.Client) -> None:
    link: str | None = f"/v1/sessions/{SESSION}/logs?limit=2&severity=info"
    seen = []
    while link:
        page = get(api, link)
        seen += entries(page)
        link = page["links"]["next"]
        if link:
            assert "severity=info" in link
    assert seen == [e for e in ENTRIES if e[2] != "debug"]


def test_logs_of_another_session_stay_there(api: httpx.Client) -> None:
    assert entries(get(api, "/v1/sessions/chat-2/logs")) == [(5, "log", "fatal", "other session")]


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"start_time": "2025-03-02T00:00:00Z", "end_time": "2025-03-01T00:00:00Z"}, 400, "before end_time"),
    ({"start_time": "2025-03-01T00:00:00Z", "end_time": "2025-03-01T00:00:00Z"}, 400, "before end_time"),
    ({"severity": "loud"}, 422, "severity"),
    ({"start_time": "yesterday"}, 422, "start_time"),
    ({"limit": 0}, 422, "limit"),
    ({"limit": 1001}, 422, "limit"),
    ({"offset": -1}, 422, "offset"),
    ({"offset": 2**63}, 422, "offset"),
])
def test_logs_parameter_errors(api: httpx.Client, params: dict[str, Any], status: int, words: str) -> None:
    assert_problem(api.get(f"/v1/sessions/{SESSION}/logs", params=params), status, words)


# --- metrics ------------------------------------------------------------------------------------------------------


def test_metrics_per_turn_series_and_per_model_breakdown(api: httpx.Client) -> None:
    metrics = get(api, f"/v1/sessions/{SESSION}/metrics")
    series = [(t["turn"], t["trace_id"], t["start_offset_ms"], t["duration_ms"], t["input_tokens"],
               t["output_tokens"], t["total_tokens"], t["error_count"], t["llm_call_count"], t["tool_call_count"],
               t["time_to_first_token_ms"]) for t in metrics["turns"]]
    assert series == [
        (1, T1, 0.0, 2000.0, 1000, 200, 1200, 1, 1, 1, 250.0),
        (2, T2, 300_000.0, 3000.0, 2500, 500, 3000, 0, 2, 0, 120.0),
        (3, T3, 310_000.0, 1000.0, 0, 0, 0, 0, 0, 0, None),
    ]
    assert [t["cost_usd"] for t in metrics["turns"]] == pytest.approx(TURN_COSTS)
    assert [t["start_time"] for t in metrics["turns"]][2] == "2025-03-01T10:05:10.000000Z"
    assert metrics["models"] == get(api, f"/v1/sessions/{SESSION}/stats")["models"]
    page = get(api, f"/v1/sessions/{SESSION}/metrics", limit=1, offset=1)
    assert [t["turn"] for t in page["turns"]] == [2] and page["pagination"]["total"] == 3
    assert page["models"] == metrics["models"]  # the breakdown is of the whole session


# --- export -------------------------------------------------------------------------------------------------------


def test_export_is_one_json_attachment_with_summary_turns_spans_and_scores(api: httpx.Client) -> None:
    response = api.get(f"/v1/sessions/{SESSION}/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith('attachment; filename="session-chat-1.json"')
    document = response.json()
    assert document["format"] == "threadline.session.v1" and document["exported_at"].endswith("Z")
    detail = get(api, f"/v1/sessions/{SESSION}")
    assert document["summary"] == {k: v for k, v in detail.items() if k != "traces"}
    summary = document["summary"]
    assert (summary["session_id"], summary["trace_count"], summary["span_count"]) == (SESSION, 3, 8)
    assert summary["quality_score"] == pytest.approx(0.7)
    assert [t["trace_id"] for t in document["turns"]] == [T1, T2, T3]
    assert [t["turn"] for t in document["turns"]] == [1, 2, 3]
    spans = document["spans"]
    assert [(s["trace_id"], s["name"]) for s in spans] == [
        (T1, "turn 1"), (T1, "chat gpt-4o"), (T1, "search"), (T1, "http GET"),
        (T2, "turn 2"), (T2, "chat gpt-4o"), (T2, "chat gpt-4o-mini"), (T3, "turn 3")]
    search = spans[2]
    assert search["events"][0]["name"] == "exception" and search["events"][0]["attributes"] == EXCEPTION
    assert search["attributes"] == {"gen_ai.operation.name": "execute_tool"}
    assert search["resource_attributes"] == {"service.name": "chat-svc"}
    assert sorted((s["name"], s["value"], s["data_type"]) for s in document["scores"]) == [
        ("quality", 0.6, "numeric"), ("quality", 0.8, "numeric"), ("topic", "billing", "categorical")]


def test_export_of_an_id_with_special_characters(api: httpx.Client) -> None:
    response = api.get(f"/v1/sessions/{quote(SLASHED, safe='')}/export")
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert 'filename="session-team_x_y.json"' in disposition
    assert "filename*=UTF-8''session-team%2Fx%20y.json" in disposition
    document = response.json()
    assert document["summary"]["session_id"] == SLASHED and document["scores"] == []
    assert [s["name"] for s in document["spans"]] == ["slashed"]


# --- every endpoint ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_session_is_a_404_problem(api: httpx.Client, endpoint: str) -> None:
    assert_problem(api.get(f"/v1/sessions/no-such-session/{endpoint}"), 404, "no-such-session")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_session_ids_with_slashes_and_spaces_route(api: httpx.Client, endpoint: str) -> None:
    response = api.get(f"/v1/sessions/{quote(SLASHED, safe='')}/{endpoint}")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("endpoint", "params"), [
    ("stats", {"idle_gap_s": -1}), ("timeline", {"idle_gap_s": "x"}), ("timeline", {"limit": 1001}),
    ("metrics", {"limit": 0}), ("metrics", {"offset": -5})])
def test_out_of_range_parameters_are_422_problems(api: httpx.Client, endpoint: str, params: dict[str, Any]) -> None:
    assert_problem(api.get(f"/v1/sessions/{SESSION}/{endpoint}", params=params), 422)


def test_openapi_describes_the_endpoints(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    for endpoint in ENDPOINTS:
        operation = schema["paths"][f"/v1/sessions/{{session_id}}/{endpoint}"]["get"]
        assert {"200", "401", "404", "422"} <= operation["responses"].keys(), endpoint
        assert "application/problem+json" in operation["responses"]["404"]["content"]
        for parameter in operation["parameters"]:
            if parameter["in"] == "query":
                assert parameter.get("description"), (endpoint, parameter["name"])
    idle = next(p for p in schema["paths"]["/v1/sessions/{session_id}/stats"]["get"]["parameters"]
                if p["name"] == "idle_gap_s")
    assert "seconds" in idle["description"]
    assert "400" in schema["paths"]["/v1/sessions/{session_id}/logs"]["get"]["responses"]
    for model in ("SessionStats", "SessionTimeline", "LogEntry", "TurnMetrics", "ModelUsage"):
        assert schema["components"]["schemas"][model].get("examples"), model
    export = schema["paths"]["/v1/sessions/{session_id}/export"]["get"]["responses"]["200"]
    assert export["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SessionExport"}


# --- two projects -------------------------------------------------------------------------------------------------


def test_no_endpoint_shows_another_projects_data(chdb_dir: Path) -> None:
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    live = start_server(store)
    try:
        repository = ProjectRepository(live.store)
        keys = {}
        for project in ("alpha", "beta"):
            repository.create_project(project)
            keys[project] = repository.create_key(project)[1]
        clients = {p: httpx.Client(base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {k}"})
                   for p, k in keys.items()}
        deadline = time.monotonic() + 5
        while clients["beta"].get("/v1/sessions").status_code == 401 and time.monotonic() < deadline:
            time.sleep(0.1)  # keys are picked up within a second
        # The same session id, trace ids and span ids in both projects; alpha has the full dataset.
        post_dataset(clients["alpha"], session_spans(), LOGS)
        post_dataset(clients["beta"], [span(T1, "a100000000000001", "beta turn", 0, 50, session__id=SESSION,
                                            events=[(10, "exception", {"exception.message": "beta"})]),
                                       span(T_OTHER, "b100000000000001", "beta only", 0, 10,
                                            session__id="beta-only")],
                     [log_request((20, "beta log", 9, "", "", SESSION), (30, "beta by trace", 9, "", T1, ""))])
        alpha, beta = clients["alpha"], clients["beta"]

        stats = get(beta, f"/v1/sessions/{SESSION}/stats")
        assert (stats["trace_count"], stats["span_count"], stats["models"], stats["total_tokens"]) == (1, 1, [], 0)
        assert get(alpha, f"/v1/sessions/{SESSION}/stats")["trace_count"] == 3
        timeline = get(beta, f"/v1/sessions/{SESSION}/timeline")
        assert [[s["name"] for s in t["spans"]] for t in timeline["turns"]] == [["beta turn"]]
        assert entries(get(beta, f"/v1/sessions/{SESSION}/logs")) == [
            (10, "exception", "error", "beta"), (20, "log", "info", "beta log"), (30, "log", "info", "beta by trace")]
        assert entries(get(alpha, f"/v1/sessions/{SESSION}/logs")) == ENTRIES
        metrics = get(beta, f"/v1/sessions/{SESSION}/metrics")
        assert [t["trace_id"] for t in metrics["turns"]] == [T1] and metrics["models"] == []
        document = beta.get(f"/v1/sessions/{SESSION}/export").json()
        assert [s["name"] for s in document["spans"]] == ["beta turn"] and document["summary"]["project_id"] == "beta"
        assert len(alpha.get(f"/v1/sessions/{SESSION}/export").json()["spans"]) == 8
        for endpoint in ENDPOINTS:
            assert_problem(alpha.get(f"/v1/sessions/beta-only/{endpoint}"), 404)
            assert_problem(beta.get(f"/v1/sessions/chat-2/{endpoint}"), 404)
        for client in clients.values():
            client.close()
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")
