"""A first end-to-end check of the live app: native ingest in, the session out."""

import httpx


def test_native_ingest_then_list(client: httpx.Client) -> None:
    body = [{"name": "turn", "session_id": "chat-1", "user_id": "u1", "spans": [
        {"name": "turn", "start_time": "2026-11-22T01:00:00Z", "end_time": "2026-11-22T01:00:02Z",
         "input": "hi", "output": "hello"},
        {"name": "llm", "type": "llm", "model": "gpt-4o", "start_time": "2026-11-22T01:00:00.5Z",
         "end_time": "2026-11-22T01:00:01.5Z", "input_tokens": 100, "output_tokens": 20}]}]
    assert client.post("/v1/ingest", json=body).status_code == 200
    page = client.get("/v1/sessions").json()
    assert page["pagination"]["total"] == 1
    session = page["data"][0]
    assert (session["session_id"], session["trace_count"], session["span_count"]) == ("chat-1", 1, 2)
    assert session["total_tokens"] == 120
