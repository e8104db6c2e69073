"""Cursor paging of ``/v1/sessions/{id}/logs`` and ``/timeline`` over real HTTP: walking every page with
``pagination.next_cursor`` (or ``links.next``) returns each entry exactly once, in order, also across ties of the
time; offsets keep working; a cursor altered, invented, of another endpoint, session or filters is a 400 problem."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_server, stop_server

from threadline.store.gateway import Store
from threadline.store.migrations import migrate

SESSION = "pages/1"  # a '/' in the id: links must still reach it
PATH = "/v1/sessions/pages%2F1"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
NS = 10**9
TURNS = 11
LOGS = 13


def _logs(session: str) -> bytes:
    """LOGS records of ``session``, three at a time sharing a timestamp (the entry id breaks the tie)."""
    records = [{"timeUnixNano": str((T0 + i // 3) * NS), "severityNumber": 9 if i % 2 else 13,
                "body": {"stringValue": f"record {i}"}} for i in range(LOGS)]
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "session.id", "value": {"stringValue": session}}]},
        "scopeLogs": [{"logRecords": records}]}]}).encode()


@pytest.fixture(scope="module")
def api(chdb_dir: Path) -> Iterator[httpx.Client]:
    store = Store.embedded(chdb_dir, "keyset_pages")
    migrate(store)
    live = start_server(store)
    try:
        with live.client() as http:
            # Turns two by two at the same start time (the trace id breaks the tie), one idle gap.
            batch = [{"trace_id": f"{n + 1:x}{i + 1:031x}", "name": f"turn {i}", "session_id": session,
                      "spans": [{"name": f"turn {i}", "start_time": T0 + (i // 2) * 10 + (600 if i > 6 else 0),
                                 "end_time": T0 + (i // 2) * 10 + 1 + (600 if i > 6 else 0)}]}
                     for n, session in enumerate((SESSION, "other")) for i in range(TURNS)]
            assert http.post("/v1/ingest", json=batch).status_code == 200
            for session in (SESSION, "other"):
                posted = http.post("/v1/logs", content=_logs(session), headers={"Content-Type": "application/json"})
                assert posted.status_code == 200
            yield http
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def _walk(api: httpx.Client, endpoint: str, items: str, params: dict[str, Any], *, via_links: bool = False
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item of ``endpoint`` paged by cursor (``via_links``: following ``links.next`` from the second page);
    and the pages' bodies."""
    page = api.get(f"{PATH}/{endpoint}", params=params).json()
    pages = [page]
    while page["pagination"]["next_cursor"]:
        if via_links and "cursor=" in page["links"]["self"]:  # a cursor page links on with cursors
            page = api.get(page["links"]["next"]).json()
        else:
            page = api.get(f"{PATH}/{endpoint}", params={**params, "cursor": page["pagination"]["next_cursor"]}
                           ).json()
        pages.append(page)
    return [item for p in pages for item in p[items]], pages


@pytest.mark.parametrize("via_links", [False, True])
def test_log_cursor_pages_hold_every_entry_once_in_order(api: httpx.Client, via_links: bool) -> None:
    everything = api.get(f"{PATH}/logs", params={"limit": 1000}).json()["data"]
    assert len(everything) == LOGS
    walked, pages = _walk(api, "logs", "data", {"limit": 4}, via_links=via_links)
    assert walked == everything
    assert [p["pagination"]["offset"] for p in pages] == [0, 4, 8, 12]
    assert [len(p["data"]) for p in pages] == [4, 4, 4, 1]
    assert pages[-1]["pagination"]["has_more"] is False and pages[-1]["links"]["next"] is None
    assert all(p["pagination"]["total"] == LOGS for p in pages)
    assert pages[0]["links"]["next"] == f"{PATH}/logs?limit=4&offset=4"  # an offset page links with offsets
    assert "cursor=" in pages[1]["links"]["self"] and pages[1]["links"]["prev"] == f"{PATH}/logs?limit=4&offset=0"
    # With a filter, the cursor carries on within it.
    warned, _ = _walk(api, "logs", "data", {"limit": 2, "severity": "warn"}, via_links=via_links)
    assert warned == [e for e in everything if e["severity_number"] >= 13] and len(warned) == 7


def test_timeline_cursor_pages_number_every_turn_once(api: httpx.Client) -> None:
    full = api.get(f"{PATH}/timeline", params={"limit": 1000, "idle_gap_s": 60}).json()
    assert [t["turn"] for t in full["turns"]] == list(range(1, TURNS + 1))
    walked, pages = _walk(api, "timeline", "turns", {"limit": 3, "idle_gap_s": 60})
    assert [(t["turn"], t["trace_id"]) for t in walked] == [(t["turn"], t["trace_id"]) for t in full["turns"]]
    assert walked == full["turns"]  # idle gaps and span trees too
    assert [g for p in pages for g in p["idle_gaps"]] == full["idle_gaps"] and len(full["idle_gaps"]) == 1
    assert [p["pagination"]["offset"] for p in pages] == [0, 3, 6, 9]
    assert pages[1]["links"]["next"].startswith(f"{PATH}/timeline?idle_gap_s=60&limit=3&cursor=")
    by_offset = api.get(f"{PATH}/timeline", params={"limit": 3, "offset": 3, "idle_gap_s": 60}).json()
    assert by_offset["turns"] == pages[1]["turns"]  # old clients page as before
    assert by_offset["links"]["next"] == f"{PATH}/timeline?idle_gap_s=60&limit=3&offset=6"


def _problem(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail


def test_bad_cursors_are_400_problems(api: httpx.Client) -> None:
    logs = api.get(f"{PATH}/logs", params={"limit": 2}).json()["pagination"]["next_cursor"]
    turns = api.get(f"{PATH}/timeline", params={"limit": 2}).json()["pagination"]["next_cursor"]
    tampered = logs[:-3] + ("AAA" if logs[-3:] != "AAA" else "BBB")
    for bad in (tampered, "not-a-cursor", logs[:10], "x" * 200):
        _problem(api.get(f"{PATH}/logs", params={"cursor": bad}), "malformed or was altered")
    _problem(api.get(f"{PATH}/logs", params={"cursor": logs, "severity": "error"}), "different filters")
    _problem(api.get(f"{PATH}/logs", params={"cursor": logs, "start_time": T0}), "different filters")
    _problem(api.get("/v1/sessions/other/logs", params={"cursor": logs}), "another session")
    _problem(api.get(f"{PATH}/timeline", params={"cursor": logs}), "another session")
    _problem(api.get(f"{PATH}/logs", params={"cursor": turns}), "another session")
    _problem(api.get(f"{PATH}/logs", params={"cursor": logs, "offset": 0}), "offset or cursor")
    _problem(api.get(f"{PATH}/timeline", params={"cursor": turns, "offset": 2}), "offset or cursor")
    # a different idle gap threshold changes no row: the timeline cursor still serves
    assert api.get(f"{PATH}/timeline", params={"cursor": turns, "limit": 2, "idle_gap_s": 5}).status_code == 200
