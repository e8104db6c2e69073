"""Upgrading a store written by an earlier release (migrations 1-6; migrations 7-16 came after):
``threadline migrate --dry-run`` shows migrations 7-16 with their SQL and changes nothing, ``threadline migrate``
applies them, and the server then shows every session with nothing lost, every key still valid, the text columns on
their new codec, the session rollups on their smaller blocks, content search on text indexes and the write-heavy
tables on vertical merges."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from conftest import start_server, stop_server
from typer.testing import CliRunner

from threadline.auth import tokens
from threadline.cli import app
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.store.schema import MIGRATIONS
from threadline.writer.commit import BatchCommitter

sys.path.insert(0, str(Path(__file__).parents[1] / "writer"))
from test_commit import agent_trace, rows
from test_commit_properties import assert_exact

PROJECT = "acme"


@pytest.fixture
def previous(chdb_dir: Path) -> Iterator[Store]:
    """A database of the previous release's schema (migrations 1-6) in the test process's chDB directory."""
    store = Store.embedded(chdb_dir, f"upgrade_{uuid.uuid4().hex[:10]}")
    migrate(store, MIGRATIONS[:6])
    yield store
    store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def _write_as_previous_release(store: Store) -> tokens.NewKey:
    """A project and a key as the previous release wrote them, and 8 traces in 4 sessions written by the writer.
    Returns the key."""
    store.command("INSERT INTO {db}.projects (project_id, name, created_at, deleted, version) "
                  "SELECT {p:String}, 'Acme', now64(3), 0, 1", {"p": PROJECT}, tag="test.old_project")
    key = tokens.generate()
    store.insert("api_keys", pa.table({
        "key_id": [key.key_id], "project_id": [PROJECT], "name": ["ci"], "salt": [key.salt],
        "secret_hash": [key.secret_hash], "created_at": pa.array([time.time_ns() // 1_000_000], pa.timestamp(
            "ms", tz="UTC")), "revoked": pa.array([0], pa.uint8()), "version": pa.array([1], pa.uint64())}),
        tag="test.old_key")
    committer = BatchCommitter(store)
    for n in range(8):
        committer.commit(rows(agent_trace(uuid.uuid4().hex, "root", session=f"chat-{n % 4}",
                                          offset_ms=n * 10_000), PROJECT))
    return key


def _state(store: Store) -> dict[str, Any]:
    """What a migration may change: recorded versions, the columns of every table, every session rollup."""
    return {
        "versions": store.select("SELECT version, name FROM {db}.schema_migrations ORDER BY version",
                                 tag="test.versions"),
        "columns": store.select("SELECT table, name, type, default_expression FROM system.columns WHERE database = "
                                "{d:String} ORDER BY table, position", {"d": store.database}, tag="test.columns"),
        "sessions": store.select("SELECT * FROM {db}.session_rollups FINAL ORDER BY project_id, session_id",
                                 tag="test.sessions"),
    }


def test_the_previous_release_store_upgrades_with_nothing_lost(previous: Store, chdb_dir: Path) -> None:
    key = _write_as_previous_release(previous)
    assert_exact(previous, PROJECT)
    before = _state(previous)
    assert [r["version"] for r in before["versions"]] == [1, 2, 3, 4, 5, 6] and len(before["sessions"]) == 4
    env = {"THREADLINE_DATA_DIR": str(chdb_dir), "THREADLINE_DATABASE": previous.database}

    shown = CliRunner().invoke(app, ["migrate", "--dry-run"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "10 migration(s) would be applied" in shown.output and "-- 7: faster text codecs" in shown.output
    assert "-- 8: smaller compressed blocks" in shown.output and "-- 9: text indexes for content search" in shown.output
    assert "-- 10: vertical merges" in shown.output
    assert "-- then spans, trace_sessions, trace_rollups, session_rollups, trace_state detached and attached again" \
        in shown.output  # migration 16, on the embedded store
    assert f"ALTER TABLE {previous.database}.spans MODIFY COLUMN input String CODEC(ZSTD(1))" in shown.output
    assert f"ALTER TABLE {previous.database}.session_rollups MODIFY COLUMN last_output String" in shown.output
    assert _state(previous) == before  # a dry run changes nothing

    applied = CliRunner().invoke(app, ["migrate"], env=env)
    assert applied.exit_code == 0 and "applied 10 migration(s)" in applied.output and "7: faster" in applied.output
    again = CliRunner().invoke(app, ["migrate", "--dry-run"], env=env)
    assert again.exit_code == 0 and "is up to date (schema 16); nothing to apply" in again.output

    after = _state(previous)
    assert after["sessions"] == before["sessions"]
    assert [r["version"] for r in after["versions"]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert_exact(previous, PROJECT)
    defaults = previous.select(
        "SELECT p.retention_days AS retention_days, k.scope AS scope, k.expires_at AS expires_at "
        "FROM {db}.projects AS p FINAL JOIN {db}.api_keys AS k FINAL ON k.project_id = p.project_id "
        "WHERE p.project_id = {p:String}", {"p": PROJECT}, tag="test.defaults")
    assert defaults == [{"retention_days": 0, "scope": "all", "expires_at": None}]
    codecs = previous.select(
        "SELECT table, name, compression_codec FROM system.columns WHERE database = {d:String} AND name IN "
        "('input', 'output', 'attributes', 'first_input', 'last_output') ORDER BY table, name",
        {"d": previous.database}, tag="test.codecs")
    expected = {("spans", "attributes"), ("spans", "input"), ("trace_rollups", "output"),
                ("session_rollups", "first_input")}
    assert {(c["table"], c["name"]) for c in codecs} >= expected
    assert all(c["compression_codec"] == "CODEC(ZSTD(1))" for c in codecs), codecs
    created = previous.select("SELECT create_table_query AS q FROM system.tables WHERE database = {d:String} "
                              "AND name = 'session_rollups'", {"d": previous.database}, tag="test.blocks")[0]["q"]
    assert "min_compress_block_size = 16384" in created and "max_compress_block_size = 65536" in created
    indexes = previous.select("SELECT name, type FROM system.data_skipping_indices WHERE database = {d:String} "
                              "AND table = 'trace_rollups' ORDER BY name", {"d": previous.database}, tag="test.idx")
    assert [(i["name"], i["type"]) for i in indexes] == [("input_text", "text"), ("output_text", "text")]
    vertical = previous.select("SELECT name, create_table_query AS q FROM system.tables WHERE database = {d:String} "
                               "AND name IN ('spans', 'trace_rollups', 'session_rollups', 'trace_state')",
                               {"d": previous.database}, tag="test.vertical")
    assert len(vertical) == 4 and all("vertical_merge_algorithm_min_rows_to_activate = 1" in t["q"] for t in vertical)
    spans_ddl = next(t["q"] for t in vertical if t["name"] == "spans")
    assert "max_bytes_to_merge_at_max_space_in_pool = 268435456" in spans_ddl  # migration 13
    assert "max_compress_block_size = 262144" in spans_ddl  # migration 15
    assert all("cleanup_delay_period = 1" in t["q"] for t in vertical)  # migration 16
    state_ddl = next(t["q"] for t in vertical if t["name"] == "trace_state")
    assert "max_bytes_to_merge_at_max_space_in_pool = 67108864" in state_ddl  # migration 14

    live = start_server(previous)  # what `threadline serve` then runs on the upgraded store
    try:
        with httpx.Client(base_url=live.url, timeout=30, headers={"Authorization": f"Bearer {key.secret}"}) as http:
            listed = http.get("/v1/sessions", params={"limit": 100})
            assert listed.status_code == 200, listed.text
            stored = {s["session_id"]: s for s in before["sessions"]}
            assert {s["session_id"]: (s["trace_count"], s["span_count"], s["total_tokens"])
                    for s in listed.json()["data"]} == {
                sid: (s["trace_count"], s["span_count"], s["total_tokens"]) for sid, s in stored.items()}
            detail = http.get("/v1/sessions/chat-0")
            assert detail.status_code == 200 and len(detail.json()["traces"]) == 2
    finally:
        stop_server(live)
