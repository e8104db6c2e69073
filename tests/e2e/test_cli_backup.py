"""``threadline backup`` and ``threadline restore`` end to end: sessions ingested into a running ``threadline serve``
are backed up through it while it runs, restored into a fresh directory, and a server on that directory shows every
session and its detail exactly as the original did; the refused cases change nothing; with no server running,
``backup`` opens the store itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, free_port
from typer.testing import CliRunner

from threadline.cli import app
from threadline.ingest.normalize import normalize_spans
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan
from threadline.store.schema import MIGRATIONS
from threadline.writer.span_log import SpanLog

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from sessions_dataset import CLAUDE, GPT4O, turn

pytestmark = pytest.mark.slow

ADMIN_KEY = "backup-admin-" + uuid.uuid4().hex
SESSIONS = 30


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    return {**env, "THREADLINE_ADMIN_KEY": ADMIN_KEY, "THREADLINE_GRPC_PORT": "0", **extra}


def _late_trace(session: str, spans: int) -> Any:
    """The Arrow rows of one trace of ``spans`` spans in ``session`` (project 'default'), as the writer logs them."""
    trace, start = uuid.uuid4().hex, 1_767_225_600_000_000_000
    raws = [RawSpan(trace, f"{n:016x}", f"{1:016x}" if n > 1 else "", f"span-{n}", start + n, start + 10**9,
                    attributes={"session.id": session}) for n in range(1, spans + 1)]
    table, problems = normalize_spans(raws, "default", PriceTable({}), 1)
    assert not problems
    return table


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "threadline", *args], capture_output=True, text=True, env=_env(),
                          timeout=180, check=False)


def in_process(*args: str) -> Any:
    """A command that is refused before it opens any store, run in this process."""
    return CliRunner().invoke(app, list(args), env={k: None for k in os.environ if k.startswith("THREADLINE_")}
                              | {"THREADLINE_ADMIN_KEY": ADMIN_KEY})


def _load(http: httpx.Client) -> None:
    traces = []
    for n in range(SESSIONS):
        session = f"chat-{n:02d}"
        for at in range(1 + n % 3):
            traces.append(turn(session, f"2025-03-{1 + n % 28:02d}T10:{at:02d}:00Z", user=f"u{n % 4}",
                               tags=["vip"] if n % 5 == 0 else None, metadata={"plan": "pro"} if n % 2 else None,
                               llm=(GPT4O, CLAUDE)[n % 2], tool_error=(n + at) % 4 == 0 if at else None,
                               text=(f"question {n}.{at} ÄÖÜ", f"answer {n}.{at}")))
    traces.append(turn(None, "2025-03-01T11:00:00Z", text=("outside any session", "-")))
    assert http.post("/v1/ingest", json=traces).status_code == 200
    assert http.patch("/v1/sessions/chat-03", json={"name": "Billing", "bookmarked": True,
                                                    "end_state": "failure"}).status_code == 200
    assert http.post("/v1/sessions/chat-04/scores", json={"name": "quality", "value": 0.7}).status_code == 201


def _sessions(url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every session of the list (all fields) and each one's detail (with its turns)."""
    with httpx.Client(base_url=url, timeout=60) as http:
        listed = http.get("/v1/sessions", params={"limit": 1000}).json()["data"]
        return listed, {s["session_id"]: http.get(f"/v1/sessions/{s['session_id']}").json() for s in listed}


def test_backup_through_a_running_server_restores_every_session(tmp_path: Path) -> None:
    original = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log", env=_env())
    copy = ServeProcess(tmp_path / "restored", free_port(), tmp_path / "serve-restored.log", env=_env())
    backup = tmp_path / "backups" / "first"
    try:
        original.start()
        with httpx.Client(base_url=original.url, timeout=60) as http:
            _load(http)
        listed, details = _sessions(original.url)
        assert len(listed) == SESSIONS and details["chat-03"]["name"] == "Billing"
        assert details["chat-04"]["quality_score"] == 0.7

        done = cli("backup", str(backup), "--data-dir", str(original.data_dir), "--server", original.url)
        assert done.returncode == 0, done.stderr
        assert f"to {backup}" in done.stdout and "backed up 16 tables" in done.stdout
        manifest = json.loads((backup / "manifest.json").read_text())
        assert manifest["schema_version"] == len(MIGRATIONS) and manifest["tables"]["session_rollups"] >= SESSIONS

        # refused, with nothing written or changed
        before = sorted(p.relative_to(backup) for p in backup.rglob("*"))
        taken = in_process("backup", str(backup), "--data-dir", str(original.data_dir))
        assert taken.exit_code == 1 and "already exists" in taken.output
        assert sorted(p.relative_to(backup) for p in backup.rglob("*")) == before
        live = in_process("restore", str(backup), "--data-dir", str(original.data_dir), "--force")
        assert live.exit_code == 1 and "in use by a running Threadline server" in live.output
        not_backup = in_process("restore", str(tmp_path), "--data-dir", str(tmp_path / "never"))
        assert not_backup.exit_code == 1 and "is not a Threadline backup" in not_backup.output
        occupied = tmp_path / "occupied"
        occupied.mkdir()
        (occupied / "notes.txt").write_text("mine")
        full = in_process("restore", str(backup), "--data-dir", str(occupied))
        assert full.exit_code == 1 and "is not empty" in full.output and "--force" in full.output
        assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
        assert not (tmp_path / "never").exists()
        assert _sessions(original.url) == (listed, details)

        restored = cli("restore", str(backup), "--data-dir", str(copy.data_dir))
        assert restored.returncode == 0, restored.stderr
        assert "restored 16 tables" in restored.stdout
        copy.start()
        assert _sessions(copy.url) == (listed, details)
        copy.stop()

        original.stop()  # no server: the command opens the store itself
        # a batch acknowledged by a server that died before writing it: the offline backup commits it first
        span_log = SpanLog(original.data_dir / "span-log" / "threadline")
        assert span_log.pending() == []  # a graceful stop wrote everything
        span_log.append(_late_trace("late-session", spans=3))
        direct = cli("backup", str(tmp_path / "backups" / "offline"), "--data-dir", str(original.data_dir))
        assert direct.returncode == 0, direct.stderr
        offline = json.loads((tmp_path / "backups" / "offline" / "manifest.json").read_text())
        assert offline["tables"].keys() == manifest["tables"].keys()
        assert offline["tables"]["spans"] >= manifest["tables"]["spans"] + 3 and span_log.pending() == []
    finally:
        copy.stop()
        original.stop()
