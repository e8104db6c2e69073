"""Retention through the real CLI and HTTP: a project's window set with ``threadline projects update``, the pass run
by ``threadline retention run`` through a running ``threadline serve`` (admin API), then on the data directory
directly once the server stopped; bad input refused with nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, free_port
from test_cli_keys import ADMIN_KEY, cli

pytestmark = pytest.mark.slow


def turn(session: str, days_ago: float, tokens: int) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=days_ago)
    return {"trace_id": uuid.uuid4().hex, "name": "turn", "session_id": session, "spans": [
        {"name": "llm", "type": "llm", "model": "gpt-4o-mini", "input": f"question {days_ago}",
         "output": f"answer {days_ago}", "input_tokens": tokens, "output_tokens": tokens,
         "start_time": start.isoformat(), "end_time": (start + timedelta(seconds=2)).isoformat()}]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log",
                        env={"THREADLINE_ADMIN_KEY": ADMIN_KEY, "THREADLINE_RETENTION_INTERVAL_S": "0"})
    yield proc
    proc.stop()


def sessions(url: str) -> dict[str, dict[str, Any]]:
    listed = httpx.get(f"{url}/v1/sessions", params={"limit": 100}, timeout=30).json()["data"]
    return {s["session_id"]: s for s in listed}


def test_retention_through_the_server_then_offline(server: ServeProcess) -> None:
    server.start()
    batch = [turn("mixed", 40, 100), turn("mixed", 1, 7), turn("old-only", 50, 5), turn("new-only", 2, 3),
             turn("edge", 20, 1)]
    assert httpx.post(f"{server.url}/v1/ingest", json=batch, timeout=30).status_code == 200
    assert set(sessions(server.url)) == {"mixed", "old-only", "new-only", "edge"}

    # Bad input changes nothing: a negative window, an unknown project.
    refused = cli("projects", "update", "default", "--retention-days", "-1", "--server", server.url,
                  admin_key=ADMIN_KEY, check=False)
    assert refused.returncode != 0 and "retention" in refused.stderr
    unknown = cli("retention", "run", "--project", "nope", "--server", server.url, admin_key=ADMIN_KEY,
                  check=False)
    assert unknown.returncode == 1 and "no project 'nope'" in unknown.stderr
    ran = cli("retention", "run", "--server", server.url, admin_key=ADMIN_KEY)
    assert "no project has a retention window" in ran.stdout
    assert set(sessions(server.url)) == {"mixed", "old-only", "new-only", "edge"}

    # A 30-day window, through the server that owns the data directory.
    cli("projects", "update", "default", "--retention-days", "30", "--server", server.url, admin_key=ADMIN_KEY)
    ran = cli("retention", "run", "--server", server.url, admin_key=ADMIN_KEY)
    assert "default" in ran.stdout and "30 days" in ran.stdout
    after = sessions(server.url)
    assert set(after) == {"mixed", "new-only", "edge"}
    mixed = after["mixed"]
    assert (mixed["trace_count"], mixed["input_tokens"], mixed["first_input"]) == (1, 7, "question 1")
    detail = httpx.get(f"{server.url}/v1/sessions/old-only", timeout=30)
    assert detail.status_code == 404

    # Offline: the server stopped, a shorter window applied to the data directory directly.
    server.stop()
    data = ["--data-dir", str(server.data_dir)]
    cli("projects", "update", "default", "--retention-days", "10", *data)
    ran = cli("retention", "run", *data)
    assert "10 days" in ran.stdout
    server.start()
    assert set(sessions(server.url)) == {"mixed", "new-only"}
