"""``POST /v1/ingest`` over real HTTP: native JSON batches, generated and provided ids, all-or-nothing validation
(422 problem+json naming the field), 400/415 refusals, and idempotent replays."""

from __future__ import annotations

import copy
import gzip
import json
import re
from typing import Any

import httpx
import pytest
from conftest import LiveServer

from threadline.store.gateway import Store

PROBLEM = "application/problem+json"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT_ID = "00f067aa0ba902b7"
CHILD_ID = "00f067aa0ba902b8"


def trace(session_id: str = "chat-ingest", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "turn", "session_id": session_id, "user_id": "u-1", "metadata": {"plan": "pro", "n": 3},
        "tags": ["beta"], "spans": [
            {"name": "turn", "start_time": "2026-01-01T10:00:00Z", "end_time": "2026-01-01T10:00:02Z",
             "input": "hi", "output": {"text": "hello"}},
            {"name": "llm", "type": "llm", "model": "gpt-4o", "start_time": "2026-01-01T10:00:00.5Z",
             "end_time": "2026-01-01T10:00:01.5Z", "input_tokens": 1000, "output_tokens": 100},
        ]}
    body.update(overrides)
    return body


def fixed_ids(body: dict[str, Any], trace_id: str = TRACE_ID, root: str = ROOT_ID,
              child: str = CHILD_ID) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["trace_id"] = trace_id
    body["spans"][0]["span_id"] = root
    body["spans"][1]["span_id"] = child
    body["spans"][1]["parent_span_id"] = root
    return body


def counts(client: httpx.Client, store: Store) -> tuple[int, int, int]:
    """(sessions total, span rows, distinct spans)."""
    sessions = client.get("/v1/sessions").json()["pagination"]["total"]
    rows = store.select("SELECT count() AS n, uniqExact(trace_id, span_id) AS u FROM {db}.spans", tag="test.count")
    return int(sessions), int(rows[0]["n"]), int(rows[0]["u"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body


def test_generated_ids_are_returned_and_retrievable(client: httpx.Client) -> None:
    response = client.post("/v1/ingest", json=[trace(), trace("chat-other")])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted_spans"] == 4
    assert len(body["traces"]) == 2
    for item in body["traces"]:
        assert HEX32.match(item["trace_id"])
        assert len(item["span_ids"]) == 2 and all(HEX16.match(s) for s in item["span_ids"])
    assert body["traces"][0]["trace_id"] != body["traces"][1]["trace_id"]
    first = body["traces"][0]
    detail = client.get(f"/v1/traces/{first['trace_id']}")
    assert detail.status_code == 200, detail.text
    got = detail.json()
    assert got["trace_id"] == first["trace_id"]
    assert got["session_id"] == "chat-ingest" and got["user_id"] == "u-1"
    assert [s["span_id"] for s in got["spans"]] == first["span_ids"]  # start order = request order here
    assert got["name"] == "turn" and got["metadata"] == {"plan": "pro", "n": "3"} and got["tags"] == ["beta"]
    assert got["input"] == "hi" and json.loads(got["output"]) == {"text": "hello"}
    assert got["total_tokens"] == 1100
    assert got["cost_usd"] == pytest.approx((1000 * 2.50 + 100 * 10.0) / 1e6)
    llm = got["spans"][1]
    assert (llm["span_type"], llm["model"], llm["input_tokens"], llm["output_tokens"]) == ("llm", "gpt-4o", 1000, 100)
    assert llm["duration_ms"] == pytest.approx(1000.0)


def test_provided_ids_are_preserved(client: httpx.Client) -> None:
    response = client.post("/v1/ingest", json=[fixed_ids(trace())])
    assert response.status_code == 200, response.text
    assert response.json()["traces"] == [{"trace_id": TRACE_ID, "span_ids": [ROOT_ID, CHILD_ID]}]
    spans = {s["span_id"]: s for s in client.get(f"/v1/traces/{TRACE_ID}").json()["spans"]}
    assert spans[ROOT_ID]["parent_span_id"] is None
    assert spans[CHILD_ID]["parent_span_id"] == ROOT_ID
    # upper-case ids in the URL find the same trace
    assert client.get(f"/v1/traces/{TRACE_ID.upper()}").json()["trace_id"] == TRACE_ID


def test_epoch_times_and_gzip_are_accepted(client: httpx.Client) -> None:
    body = trace("chat-epoch")
    body["spans"] = [{"name": "only", "start_time": 1767261600, "end_time": 1767261601.25}]
    response = client.post("/v1/ingest", content=gzip.compress(json.dumps([body]).encode()),
                           headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    session = client.get("/v1/sessions/chat-epoch").json()
    assert session["first_seen"] == "2026-01-01T10:00:00.000000Z"
    assert session["total_duration_ms"] == pytest.approx(1250.0)


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = trace()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def _without(key: str) -> dict[str, Any]:
    body = trace()
    del body[key]
    return body


def _span_without(key: str) -> dict[str, Any]:
    body = trace()
    del body["spans"][1][key]
    return body


@pytest.mark.parametrize(("body", "location"), [
    pytest.param(_set(("spans", 1, "input_tokens"), "abc"), "body.0.spans.1.input_tokens", id="tokens-abc"),
    pytest.param(_set(("spans", 1, "output_tokens"), -5), "body.0.spans.1.output_tokens", id="tokens-negative"),
    pytest.param(_without("name"), "body.0.name", id="trace-name-missing"),
    pytest.param(_span_without("name"), "body.0.spans.1.name", id="span-name-missing"),
    pytest.param(_span_without("start_time"), "body.0.spans.1.start_time", id="start-missing"),
    pytest.param(_set(("trace_id",), "XYZ"), "body.0.trace_id", id="bad-trace-id"),
    pytest.param(_set(("trace_id",), TRACE_ID.upper()), "body.0.trace_id", id="upper-trace-id"),
    pytest.param(_set(("spans", 0, "span_id"), "123"), "body.0.spans.0.span_id", id="bad-span-id"),
    pytest.param(_set(("surprise",), 1), "body.0.surprise", id="extra-trace-field"),
    pytest.param(_set(("spans", 1, "tokens"), 1), "body.0.spans.1.tokens", id="extra-span-field"),
    pytest.param(_set(("spans",), []), "body.0.spans", id="no-spans"),
    pytest.param(_set(("session_id",), "s" * 257), "body.0.session_id", id="session-id-too-long"),
    pytest.param(_set(("spans", 1, "type"), "banana"), "body.0.spans.1.type", id="bad-span-type"),
    pytest.param(_set(("spans", 1, "start_time"), "yesterday"), "body.0.spans.1.start_time", id="bad-time"),
])
def test_invalid_field_is_422_naming_it(client: httpx.Client, live_server: LiveServer, body: dict[str, Any],
                                        location: str) -> None:
    problem = assert_problem(client.post("/v1/ingest", json=[body]), 422)
    assert isinstance(problem["errors"], list) and problem["errors"]
    assert location in [e["location"] for e in problem["errors"]], problem["errors"]
    assert all({"location", "message", "type"} <= e.keys() for e in problem["errors"])
    assert location in problem["detail"]
    assert counts(client, live_server.store) == (0, 0, 0)


def test_body_that_is_not_a_list_is_422(client: httpx.Client, live_server: LiveServer) -> None:
    problem = assert_problem(client.post("/v1/ingest", json=trace()), 422)
    assert problem["errors"][0]["location"] == "body"
    assert counts(client, live_server.store) == (0, 0, 0)


def test_one_invalid_trace_in_three_writes_nothing(client: httpx.Client, live_server: LiveServer) -> None:
    batch = [trace("chat-a"), _set(("spans", 1, "input_tokens"), "abc"), trace("chat-c")]
    batch[1]["session_id"] = "chat-b"
    problem = assert_problem(client.post("/v1/ingest", json=batch), 422)
    assert [e["location"] for e in problem["errors"]] == ["body.1.spans.1.input_tokens"]
    assert counts(client, live_server.store) == (0, 0, 0)
    for session in ("chat-a", "chat-b", "chat-c"):
        assert client.get(f"/v1/sessions/{session}").status_code == 404


def test_span_failing_normalisation_rejects_the_batch(client: httpx.Client, live_server: LiveServer) -> None:
    bad = trace("chat-backwards")
    bad["spans"][1]["end_time"] = "2026-01-01T09:00:00Z"  # before its start
    problem = assert_problem(client.post("/v1/ingest", json=[trace("chat-fine"), bad]), 422)
    assert "end time is before start time" in problem["detail"]
    assert counts(client, live_server.store) == (0, 0, 0)


@pytest.mark.parametrize("body", [b"[{", b"not json", b"\xff\xfe\x00", b""])
def test_invalid_json_is_400(client: httpx.Client, live_server: LiveServer, body: bytes) -> None:
    problem = assert_problem(client.post("/v1/ingest", content=body, headers={"Content-Type": "application/json"}),
                             400)
    assert "JSON" in problem["detail"]
    assert counts(client, live_server.store) == (0, 0, 0)


@pytest.mark.parametrize("headers", [
    pytest.param({"Content-Type": "text/plain"}, id="text-plain"),
    pytest.param({"Content-Type": "application/x-protobuf"}, id="protobuf"),
    pytest.param({}, id="missing"),
])
def test_wrong_content_type_is_415(client: httpx.Client, live_server: LiveServer, headers: dict[str, str]) -> None:
    problem = assert_problem(client.post("/v1/ingest", content=json.dumps([trace()]).encode(), headers=headers),
                             415)
    assert "application/json" in problem["detail"]
    assert counts(client, live_server.store) == (0, 0, 0)


def test_replaying_a_batch_with_fixed_ids_changes_nothing(client: httpx.Client, live_server: LiveServer) -> None:
    second = fixed_ids(trace(), trace_id="5" * 32, root="1" * 16, child="2" * 16)
    second["spans"][0]["start_time"] = "2026-01-01T10:01:00Z"
    second["spans"][0]["end_time"] = "2026-01-01T10:01:03Z"
    batch = [fixed_ids(trace()), second]
    assert client.post("/v1/ingest", json=batch).status_code == 200
    before_session = client.get("/v1/sessions/chat-ingest").json()
    before_counts = counts(client, live_server.store)
    assert before_counts == (1, 4, 4)
    for _ in range(2):
        replay = client.post("/v1/ingest", json=batch)
        assert replay.status_code == 200, replay.text
        assert replay.json()["accepted_spans"] == 4
    # the same spans again, in another batch shape (one trace per request): still no double count
    assert client.post("/v1/ingest", json=[batch[1]]).status_code == 200
    after = client.get("/v1/sessions/chat-ingest").json()
    sessions, _rows, distinct = counts(client, live_server.store)
    assert (sessions, distinct) == (1, 4)
    final = live_server.store.select("SELECT count() AS n FROM {db}.spans FINAL", tag="test.final")[0]["n"]
    assert final == 4
    for field in ("trace_count", "span_count", "llm_call_count", "input_tokens", "output_tokens", "total_tokens",
                  "total_cost_usd", "total_duration_ms", "wall_duration_ms", "first_seen", "last_seen"):
        assert after[field] == before_session[field], field
    assert (after["trace_count"], after["span_count"], after["total_tokens"]) == (2, 4, 2200)
    assert after["total_cost_usd"] == pytest.approx(2 * (1000 * 2.50 + 100 * 10.0) / 1e6)
    traces = client.get("/v1/sessions/chat-ingest/traces").json()
    assert [t["trace_id"] for t in traces["data"]] == [TRACE_ID, "5" * 32]
