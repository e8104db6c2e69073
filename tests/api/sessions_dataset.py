"""A small known dataset for the sessions list, search, metrics and export tests, built through the real API
(``POST /v1/ingest``, ``PATCH /v1/sessions/{id}``, ``POST /v1/sessions/{id}/scores``), and a module-scoped server
holding it. Every expected value below follows from the traces built here.

========  ====  ===========  ==========================  ======  ======  ========  =========  ======  =====
session   user  tags         metadata (shown)            turns   tokens  cost USD  wall ms    errors  tools
========  ====  ===========  ==========================  ======  ======  ========  =========  ======  =====
s-alpha   u1    beta, vip    plan=pro, region=eu         3       3300    0.0105    1201000    1       2
s-bravo   u2    beta         plan=enterprise (PATCH)     1       2500    0.0006    1000       0       0
s-charlie u1    -            plan=pro, region=us         2       900     0.004     1801000    2       2
s-delta   -     vip          -                           1       0       0         1000       0       0
s-echo    u3    -            -                           1       0       0         1000       0       0
s-fox     u3    -            -                           2       220     0.0007    301000     0       0
========  ====  ===========  ==========================  ======  ======  ========  =========  ======  =====

End states: bravo failure (PATCH), echo success (span attribute), fox active (its last turn 5 minutes ago), the
others indeterminate. Bookmarked: bravo, charlie. Quality: alpha 0.9, bravo 0.4, charlie 0.4, others unscored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CLICKHOUSE_URL, LiveServer, start_server, stop_server

from threadline.store.gateway import Store
from threadline.store.migrations import migrate

PROBLEM = "application/problem+json"
ALL = ["s-alpha", "s-bravo", "s-charlie", "s-delta", "s-echo", "s-fox"]
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def turn(session_id: str | None, start: str | datetime, *, user: str | None = None, tags: list[str] | None = None,
         metadata: dict[str, str] | None = None, llm: tuple[str, int, int, float] | None = None,
         tool_error: bool | None = None, text: tuple[str, str] = ("", ""),
         attributes: dict[str, str] | None = None) -> dict[str, Any]:
    """One trace: a 1 s root (input/output ``text``), an optional LLM call (model, tokens in, out, cost USD) and an
    optional tool call (failing when ``tool_error``)."""
    begin = datetime.fromisoformat(start.replace("Z", "+00:00")) if isinstance(start, str) else start

    def at(ms: int) -> str:
        return (begin + timedelta(milliseconds=ms)).isoformat()

    spans: list[dict[str, Any]] = [{"span_id": uuid.uuid4().hex[:16], "name": "turn", "start_time": at(0),
                                    "end_time": at(1000), "input": text[0], "output": text[1],
                                    "attributes": attributes or {}}]
    root = spans[0]["span_id"]
    if llm:
        model, tokens_in, tokens_out, cost = llm
        spans.append({"name": "llm", "type": "llm", "parent_span_id": root, "start_time": at(100), "end_time": at(600),
                      "model": model, "input_tokens": tokens_in, "output_tokens": tokens_out, "cost_usd": cost})
    if tool_error is not None:
        spans.append({"name": "tool", "type": "tool", "parent_span_id": root, "start_time": at(600),
                      "end_time": at(800), "status": "error" if tool_error else "ok"})
    trace: dict[str, Any] = {"name": "turn", "spans": spans}
    for key, value in (("session_id", session_id), ("user_id", user), ("tags", tags), ("metadata", metadata)):
        if value is not None:
            trace[key] = value
    return trace


GPT4O = ("gpt-4o", 1000, 100, 0.0035)
CLAUDE = ("claude-3-5-sonnet-20241022", 400, 50, 0.002)


def traces() -> list[dict[str, Any]]:
    """Every trace of the dataset (see the module docstring)."""
    return [
        turn("s-alpha", "2025-03-01T10:00:00Z", user="u1", tags=["vip", "beta"],
             metadata={"plan": "pro", "region": "eu"}, llm=GPT4O, text=("hello there", "hi, how can I help?")),
        turn("s-alpha", "2025-03-01T10:10:00Z", user="u1", llm=GPT4O, tool_error=True,
             text=("I was charged twice for my Refund request", "Let me check that for you.")),
        turn("s-alpha", "2025-03-01T10:20:00Z", user="u1", llm=GPT4O, tool_error=False, text=("thanks", "bye")),
        turn("s-bravo", "2025-03-02T09:00:00Z", user="u2", tags=["beta"], metadata={"plan": "free"},
             llm=("gpt-4o-mini", 2000, 500, 0.0006),
             text=("Überweisung fehlgeschlagen \u2013 ÄÖÜ", "Bitte versuchen Sie es erneut.")),
        turn("s-charlie", "2025-03-03T23:50:00Z", user="u1", metadata={"plan": "pro", "region": "us"}, llm=CLAUDE,
             tool_error=True, text=("what is 100% sure_thing? C:\\temp", 'It is "quoted" <b>bold</b> text')),
        turn("s-charlie", "2025-03-04T00:20:00Z", user="u1", llm=CLAUDE, tool_error=True, text=("again", "done")),
        turn("s-delta", "2025-02-20T12:00:00Z", tags=["vip"], text=("ping", "pong")),
        turn("s-echo", "2025-02-25T12:00:00Z", user="u3", attributes={"session.end_state": "success"},
             text=("close my account", "closed")),
        turn("s-fox", NOW - timedelta(minutes=10), user="u3", llm=("gpt-4o", 100, 10, 0.00035),
             text=("recent question", "recent answer")),
        turn("s-fox", NOW - timedelta(minutes=5), user="u3", llm=("gpt-4o", 100, 10, 0.00035),
             text=("recent follow-up", "recent answer 2")),
        turn(None, "2025-03-01T11:00:00Z", text=("refund outside any session", "-")),
    ]


def build(client: httpx.Client) -> None:
    """Ingest the traces, then annotate and score through the API."""
    response = client.post("/v1/ingest", json=traces())
    assert response.status_code == 200, response.text
    for session_id, patch in (("s-bravo", {"name": "Billing question", "bookmarked": True, "end_state": "failure",
                                           "metadata": {"plan": "enterprise"}}),
                              ("s-charlie", {"bookmarked": True})):
        response = client.patch(f"/v1/sessions/{session_id}", json=patch)
        assert response.status_code == 200, response.text
    for session_id, value in (("s-alpha", 0.9), ("s-bravo", 0.4), ("s-charlie", 0.4)):
        response = client.post(f"/v1/sessions/{session_id}/scores", json={"name": "quality", "value": value})
        assert response.status_code == 201, response.text


@dataclass
class Dataset:
    live: LiveServer
    client: httpx.Client


def serve_dataset(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Dataset]:
    """Body of a module-scoped fixture: one server on a fresh database holding the dataset."""
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
        build(client)
        yield Dataset(live, client)
    finally:
        client.close()
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["session_id"] for s in response.json()["data"]]


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The response is a problem document of ``status`` whose detail mentions every word."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body

