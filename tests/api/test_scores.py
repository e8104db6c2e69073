"""Scores of sessions and traces, and quality_score."""

from __future__ import annotations

import httpx

from tests.api.test_session_writes import ingest, turn


def test_session_scores_and_quality(client: httpx.Client) -> None:
    ingest(client, turn("chat-s"))
    for value in (0.5, 1.0):
        assert client.post("/v1/sessions/chat-s/scores", json={"name": "quality", "value": value}).status_code == 201
    boolean = client.post("/v1/sessions/chat-s/scores", json={"name": "resolved", "value": True, "source": "llm",
                                                             "comment": "user thanked"}).json()
    assert (boolean["data_type"], boolean["value"], boolean["source"]) == ("boolean", True, "llm")
    category = client.post("/v1/sessions/chat-s/scores", json={"name": "topic", "value": "refund"}).json()
    assert (category["data_type"], category["value"]) == ("categorical", "refund")
    scores = client.get("/v1/sessions/chat-s/scores").json()
    assert [s["name"] for s in scores] == ["quality", "quality", "resolved", "topic"]
    session = client.get("/v1/sessions/chat-s").json()
    assert session["quality_score"] == 0.75
    assert client.get("/v1/sessions").json()["data"][0]["quality_score"] == 0.75


def test_trace_scores(client: httpx.Client) -> None:
    [trace_id] = ingest(client, turn("chat-t"))
    created = client.post(f"/v1/traces/{trace_id}/scores", json={"name": "helpful", "value": 1})
    assert created.status_code == 201 and created.json()["target"] == "trace"
    assert [s["value"] for s in client.get(f"/v1/traces/{trace_id}/scores").json()] == [1.0]
    assert client.post("/v1/traces/" + "ab" * 16 + "/scores", json={"name": "x", "value": 1}).status_code == 404


def test_score_errors(client: httpx.Client) -> None:
    ingest(client, turn("chat-e"))
    assert client.post("/v1/sessions/nope/scores", json={"name": "q", "value": 1}).status_code == 404
    assert client.get("/v1/sessions/nope/scores").status_code == 404
    for body in ({"value": 1}, {"name": "", "value": 1}, {"name": "q"}, {"name": "q", "value": 1, "source": "x"},
                 {"name": "q", "value": [1]}):
        response = client.post("/v1/sessions/chat-e/scores", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
