"""Backup and restore of the embedded store (:mod:`threadline.store.backup`): a backup taken through the admin API
while ingest runs restores, after the start's journal recovery, to rollups equal to the from-scratch recomputation of
its spans; every table comes back with the manifest's rows; refusals leave everything as it was. The API writes
beside the data directory only."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import start_server, stop_server

from threadline.store.backup import (
    BackupError,
    NotABackup,
    NotEmpty,
    database_tables,
    read_manifest,
    restore_backup,
    write_backup,
)
from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.store.schema import MIGRATIONS
from threadline.writer.commit import BatchCommitter

sys.path.insert(0, str(Path(__file__).parents[1] / "writer"))
from test_commit_properties import assert_exact

ADMIN_KEY = "backup-admin-" + uuid.uuid4().hex
PROBLEM = "application/problem+json"


def _database(chdb_dir: Path, prefix: str) -> Store:
    return Store.embedded(chdb_dir, f"{prefix}_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def embedded(chdb_dir: Path) -> Iterator[Store]:
    """A migrated database of the test process's chDB directory (backups are of the embedded store only)."""
    opened = _database(chdb_dir, "backup")
    migrate(opened)
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def _trace(n: int, trace_id: str | None = None) -> dict[str, Any]:
    """Trace ``n`` of session ``s-{n % 7}``: a root and an LLM call with tokens and cost."""
    start = f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z"
    root = uuid.uuid4().hex[:16]
    return {"trace_id": trace_id or uuid.uuid4().hex, "name": "turn", "session_id": f"s-{n % 7}",
            "user_id": f"u-{n % 3}", "spans": [
                {"span_id": root, "name": "turn", "start_time": start, "end_time": start, "input": f"question {n}",
                 "output": f"answer {n}"},
                {"name": "llm", "type": "llm", "parent_span_id": root, "start_time": start, "end_time": start,
                 "model": "gpt-4o", "input_tokens": 10 + n, "output_tokens": 5, "cost_usd": 0.001}]}


def _ingest_until(url: str, stop: threading.Event, sent: list[int]) -> None:
    """Post batches of five traces until ``stop``; every third batch replays one trace of the batch before."""
    with httpx.Client(base_url=url, timeout=60) as http:
        n = 0
        previous: list[dict[str, Any]] = []
        while not stop.is_set():
            batch = [_trace(n + i) for i in range(5)]
            if previous and n % 15 == 0:
                batch.append(previous[0])
            response = http.post("/v1/ingest", json=batch)
            assert response.status_code == 200, response.text
            previous = batch
            n += 5
            sent[0] = n


def test_a_backup_taken_under_ingest_restores_to_exact_rollups(embedded: Store, chdb_dir: Path,
                                                                tmp_path: Path) -> None:
    live = start_server(embedded, admin_key=ADMIN_KEY)
    stop, sent = threading.Event(), [0]
    writer = threading.Thread(target=_ingest_until, args=(live.url, stop, sent), daemon=True)
    manifests = []
    try:
        with httpx.Client(base_url=live.url, timeout=120, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            writer.start()
            for at in range(2):
                while sent[0] < 40 * (at + 1) and writer.is_alive():
                    stop.wait(0.02)
                response = admin.post("/v1/admin/backup")
                assert response.status_code == 201, response.text
                manifests.append(response.json())
            stop.set()
            writer.join(timeout=60)
            assert not writer.is_alive()
            written = sorted((chdb_dir.parent / f"{chdb_dir.name}-backups").iterdir())
            wrong = httpx.post(f"{live.url}/v1/admin/backup", headers={"Authorization": "Bearer nope"}, timeout=30)
            assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM
            assert sorted((chdb_dir.parent / f"{chdb_dir.name}-backups").iterdir()) == written
    finally:
        stop.set()
        stop_server(live)

    for manifest in manifests:
        path = Path(manifest.pop("path"))
        assert path.parent == chdb_dir.parent / f"{chdb_dir.name}-backups"  # beside the data directory, always
        latest = max(migration.version for migration in MIGRATIONS)
        assert manifest["schema_version"] == latest and manifest["migrations"] == list(range(1, latest + 1))
        assert manifest["database"] == embedded.database and manifest["tables"]["spans"] > 0
        assert read_manifest(path).tables == manifest["tables"]
        target = _database(chdb_dir, "restored")
        try:
            restored = restore_backup(target, path)
            assert restored.manifest.tables == manifest["tables"] and restored.notes == []
            BatchCommitter(target).recover()  # what the first start on the restored directory does
            assert_exact(target, "default")
            sessions = target.select("SELECT count() AS n FROM {db}.session_rollups FINAL WHERE NOT is_deleted",
                                     tag="test.sessions")[0]["n"]
            assert sessions == 7
        finally:
            target.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def test_refusals_leave_everything_as_it_was(embedded: Store, chdb_dir: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="already exists"):
        write_backup(embedded, taken)
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]
    with pytest.raises(BackupError, match="relative"):
        write_backup(embedded, Path("relative/backup"))
    for not_a_backup in (taken, tmp_path / "missing"):
        with pytest.raises(NotABackup, match="not a Threadline backup"):
            read_manifest(not_a_backup)

    path = tmp_path / "backup"
    manifest = write_backup(embedded, path)
    assert manifest.tables["projects"] == 1 and manifest.tables["schema_migrations"] == len(MIGRATIONS)
    with pytest.raises(NotEmpty, match="--force"):
        restore_backup(embedded, path)  # its own database has tables

    target = _database(chdb_dir, "restored")
    try:
        restore_backup(target, path)
        assert restore_backup(target, path, replace=True).manifest == manifest

        later = tmp_path / "later"
        shutil.copytree(path, later)
        doc = json.loads((later / "manifest.json").read_text())
        (later / "manifest.json").write_text(json.dumps({**doc, "schema_version": 99}))
        with pytest.raises(BackupError, match="restore it with that release or a later one"):
            read_manifest(later)

        damaged = tmp_path / "damaged"
        shutil.copytree(path, damaged)
        for part in (damaged / "clickhouse" / "data" / embedded.database / "projects").iterdir():
            shutil.rmtree(part)
        with pytest.raises((BackupError, StoreError)):
            restore_backup(target, damaged, replace=True)
        assert database_tables(target) == []  # a failed restore leaves no half-restored database
    finally:
        target.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")
