"""The session page's reads: a fixed number of statements whatever the number of turns (no query per turn), and the
page's turns, gaps and bars agreeing with the API's own reads of the same session."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import LiveServer

from threadline.dashboard.session_view import read_session_page


def session_traces(session_id: str, turns: int, start: datetime) -> list[dict[str, Any]]:
    """``turns`` native-ingest traces, 30 s apart, each a root span with an LLM and a tool call below it."""
    out = []
    for n in range(turns):
        at = start + timedelta(seconds=30 * n)
        root = f"{n + 1:016x}"
        out.append({"name": "turn", "session_id": session_id, "spans": [
            {"span_id": root, "name": "turn", "start_time": at.isoformat(),
             "end_time": (at + timedelta(seconds=2)).isoformat(), "input": f"question {n + 1}", "output": "**ok**"},
            {"parent_span_id": root, "name": "llm", "type": "llm", "model": "gpt-4o", "start_time": at.isoformat(),
             "end_time": (at + timedelta(seconds=1)).isoformat(), "input_tokens": 10, "output_tokens": 5},
            {"parent_span_id": root, "name": "tool", "type": "tool",
             "start_time": (at + timedelta(seconds=1)).isoformat(), "end_time": (at + timedelta(seconds=2)).isoformat(),
             "status": "error" if n == 1 else "ok"}]})
    return out


def statements(caplog: pytest.LogCaptureFixture, live: LiveServer, session_id: str) -> list[str]:
    """The tags of the statements one read of the session's page runs. The app's background tasks on API keys
    (re-read ahead of requests every 0.8 s, last-use times every 5 s) log beside it and are left out: no part of a
    page."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="threadline.store"):
        assert read_session_page(live.store, "default", session_id) is not None
    tags = [r.getMessage().split(" took ")[0] for r in caplog.records if " took " in r.getMessage()]
    return [tag for tag in tags if not tag.startswith("keys.")]


def test_statements_do_not_grow_with_turns(live_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    with live_server.client() as http:
        for session_id, turns in (("short", 2), ("long", 120)):
            assert http.post("/v1/ingest", json=session_traces(session_id, turns, start)).status_code == 200
        assert http.get("/v1/sessions").status_code == 200  # a read waits for the rollups: the writer is idle after
    short, long = statements(caplog, live_server, "short"), statements(caplog, live_server, "long")
    # 13: the session row is three primary-key reads (queries.session_parts: cheaper than one statement with joins);
    # sorted: independent statements run side by side (queries.side_by_side), in any order
    assert sorted(short) == sorted(long) and len(long) <= 13, long
    assert len(set(long)) == len(long)  # no statement runs twice


def test_the_page_agrees_with_the_api(live_server: LiveServer) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    with live_server.client() as http:
        assert http.post("/v1/ingest", json=session_traces("s", 5, start)).status_code == 200
        timeline = http.get("/v1/sessions/s/timeline", params={"idle_gap_s": 20}).json()
        stats = http.get("/v1/sessions/s/stats", params={"idle_gap_s": 20}).json()
    page = read_session_page(live_server.store, "default", "s", idle_gap_s=20)
    assert page is not None
    assert page.stats.model_dump(exclude={"end_state"}) == {k: v for k, v in stats.items() if k != "end_state"}
    assert [t.timeline.model_dump() for t in page.turns] == timeline["turns"]
    assert [t.gap_before_ms for t in page.turns] == [None] + [28_000.0] * 4
    assert [len(t.bars) for t in page.turns] == [3] * 5
    assert page.turns[0].bars[0].bar.width == 100.0 and page.turns[0].bars[2].bar.left == 50.0
    assert str(page.turns[0].output_html) == "<p><strong>ok</strong></p>\n"
    assert page.turns[1].trace.error_count == 1
