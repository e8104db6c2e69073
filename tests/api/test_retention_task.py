"""The server's own retention schedule (``THREADLINE_RETENTION_INTERVAL_S``) over real HTTP: a project's old traces
leave without anyone asking, the sessions that lose traces are recomputed, and ``/metrics`` counts what left."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from conftest import start_server, stop_server

from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store


def turn(session: str, days_ago: float) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=days_ago)
    return {"trace_id": uuid.uuid4().hex, "name": "turn", "session_id": session, "spans": [
        {"name": "llm", "type": "llm", "input": f"asked {days_ago} days ago", "input_tokens": 5,
         "start_time": start.isoformat(), "end_time": (start + timedelta(seconds=1)).isoformat()}]}


def test_the_server_applies_retention_on_its_schedule(store: Store) -> None:
    ProjectRepository(store).update_project("default", retention_days=7)
    live = start_server(store, retention_interval_s=0.5)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            sent = [turn("recent", 1), turn("recent", 8), turn("stale", 9)]
            assert http.post("/v1/ingest", json=sent).status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                listed = {s["session_id"]: s for s in http.get("/v1/sessions").json()["data"]}
                if "stale" not in listed and listed.get("recent", {}).get("trace_count") == 1:
                    break
                time.sleep(0.2)
            assert set(listed) == {"recent"}
            assert listed["recent"]["first_input"] == "asked 1 days ago"
            # The sessions change before the pass ends and counts what it removed: poll the counter too.
            removed = 0.0
            while time.monotonic() < deadline and removed < 2:
                lines = [line for line in http.get("/metrics").text.splitlines()
                         if line.startswith("threadline_retention_traces_removed_total")]
                removed = float(lines[0].split()[-1]) if lines else 0.0
                time.sleep(0.2)
            assert removed >= 2
    finally:
        stop_server(live)
