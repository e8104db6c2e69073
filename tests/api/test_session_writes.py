"""POST/PATCH/DELETE /v1/sessions and /v1/jobs through the real app."""

from __future__ import annotations

import time
from typing import Any

import httpx

T0 = "2026-11-20T10:00:00Z"


def turn(session_id: str, name: str = "turn", *, start: str = T0, tokens: int = 10, trace_id: str | None = None
         ) -> dict[str, Any]:
    trace: dict[str, Any] = {"name": name, "session_id": session_id, "spans": [
        {"name": name, "start_time": start, "input": f"in {name}", "output": f"out {name}"},
        {"name": "llm", "type": "llm", "model": "gpt-4o", "start_time": start, "input_tokens": tokens,
         "output_tokens": tokens}]}
    if trace_id:
        trace["trace_id"] = trace_id
    return trace


def ingest(client: httpx.Client, *traces: dict[str, Any]) -> list[str]:
    response = client.post("/v1/ingest", json=list(traces))
    assert response.status_code == 200, response.text
    return [t["trace_id"] for t in response.json()["traces"]]


def wait_job(client: httpx.Client, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = client.get(job["links"]["self"]).json()
        if current["status"] in ("done", "failed"):
            return current  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {current}")


def test_create_ahead_of_traffic_then_traces_join(client: httpx.Client) -> None:
    created = client.post("/v1/sessions", json={"session_id": "chat-new", "name": "Refund", "user_id": "u-1",
                                                 "metadata": {"channel": "web"}, "tags": ["billing"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["session_id"], body["name"], body["user_id"], body["trace_count"]) == ("chat-new", "Refund", "u-1", 0)
    assert body["metadata"] == {"channel": "web"} and body["tags"] == ["billing"]
    listed = client.get("/v1/sessions").json()["data"]
    assert [s["session_id"] for s in listed] == ["chat-new"]

    duplicate = client.post("/v1/sessions", json={"session_id": "chat-new"})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"].startswith("application/problem+json")

    ingest(client, turn("chat-new", "t1"), turn("chat-new", "t2", start="2026-11-20T10:01:00Z"))
    session = client.get("/v1/sessions/chat-new").json()
    assert (session["trace_count"], session["name"], session["user_id"]) == (2, "Refund", "u-1")
    assert session["total_tokens"] == 40


def test_create_validation(client: httpx.Client) -> None:
    assert client.post("/v1/sessions", json={"session_id": ""}).status_code == 422
    assert client.post("/v1/sessions", json={"session_id": "x" * 257}).status_code == 422
    assert client.post("/v1/sessions", json={"session_id": "a", "color": "red"}).status_code == 422
    assert client.post("/v1/sessions", json={"session_id": "a", "end_state": "active"}).status_code == 422


def test_patch_fields_persist(client: httpx.Client) -> None:
    ingest(client, turn("chat-p"))
    patched = client.patch("/v1/sessions/chat-p", json={"name": "Named", "tags": ["a", "b"], "bookmarked": True,
                                                        "end_state": "success", "metadata": {"k": "v"}})
    assert patched.status_code == 200, patched.text
    again = client.get("/v1/sessions/chat-p").json()
    assert (again["name"], again["tags"], again["bookmarked"], again["end_state"]) == ("Named", ["a", "b"], True,
                                                                                      "success")
    assert again["metadata"] == {"k": "v"}
    # Omitted fields keep their value; null clears name and end state.
    client.patch("/v1/sessions/chat-p", json={"name": None, "end_state": None})
    cleared = client.get("/v1/sessions/chat-p").json()
    assert cleared["name"] is None and cleared["tags"] == ["a", "b"] and cleared["bookmarked"] is True
    assert cleared["end_state"] in ("active", "indeterminate")
    assert client.patch("/v1/sessions/nope", json={"name": "x"}).status_code == 404
    assert client.patch("/v1/sessions/chat-p", json={"end_state": "done"}).status_code == 422


def test_delete_unlinks_traces_and_a_later_trace_starts_fresh(client: httpx.Client) -> None:
    old = ingest(client, turn("chat-d", "t1"), turn("chat-d", "t2", start="2026-11-20T10:01:00Z"))
    assert client.post("/v1/sessions/chat-d/scores", json={"name": "quality", "value": 0.2}).status_code == 201
    response = client.delete("/v1/sessions/chat-d")
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["links"]["self"]
    assert client.get("/v1/sessions/chat-d").status_code == 404  # gone at once
    finished = wait_job(client, job)
    assert (finished["status"], finished["total"], finished["done"]) == ("done", 2, 2)
    for trace_id in old:
        trace = client.get(f"/v1/traces/{trace_id}")
        assert trace.status_code == 200 and trace.json()["session_id"] is None
    assert client.get("/v1/sessions").json()["pagination"]["total"] == 0

    # The old spans still carry session.id = chat-d; replaying them does not bring them back.
    ingest(client, turn("chat-d", "t1", trace_id=old[0]))
    assert client.get("/v1/sessions/chat-d").status_code == 404

    ingest(client, turn("chat-d", "t3", start="2026-11-21T10:00:00Z"))
    fresh = client.get("/v1/sessions/chat-d").json()
    assert fresh["trace_count"] == 1 and fresh["first_input"] == "in t3"
    assert fresh["quality_score"] is None
    assert client.get("/v1/sessions/chat-d/scores").json() == []


def test_delete_a_session_created_ahead_of_traffic(client: httpx.Client) -> None:
    client.post("/v1/sessions", json={"session_id": "empty"})
    finished = wait_job(client, client.delete("/v1/sessions/empty").json())
    assert finished["status"] == "done" and finished["total"] == 0
    assert client.get("/v1/sessions/empty").status_code == 404
    assert client.post("/v1/sessions", json={"session_id": "empty"}).status_code == 201


def test_delete_unknown_and_unknown_job(client: httpx.Client) -> None:
    assert client.delete("/v1/sessions/nope").status_code == 404
    assert client.get("/v1/jobs/0123").status_code == 404


def test_delete_a_20000_turn_session(client: httpx.Client) -> None:
    turns = 20_000
    for at in range(0, turns, 2000):
        batch = [{"name": "t", "session_id": "big", "spans": [
            {"name": "t", "start_time": 1_790_000_000 + i, "end_time": 1_790_000_000 + i}]}
            for i in range(at, at + 2000)]
        assert client.post("/v1/ingest", json=batch).status_code == 200
    assert client.get("/v1/sessions/big").json()["trace_count"] == turns
    started = time.monotonic()
    response = client.delete("/v1/sessions/big", timeout=10)
    assert response.status_code == 202 and time.monotonic() - started < 10
    finished = wait_job(client, response.json(), timeout=300)
    assert (finished["status"], finished["done"]) == ("done", turns)
    assert client.get("/v1/sessions/big").status_code == 404
    assert client.get("/v1/sessions").json()["pagination"]["total"] == 0
