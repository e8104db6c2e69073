"""Migrations on the configured backends (chDB always, a ClickHouse server or cluster when configured): every table
with its engine, every version recorded once, and a second run applies nothing; on chDB, merged parts' directories
removed within seconds."""

from __future__ import annotations

import os
import re
import time

import pytest

from threadline.store.chdb_transport import ChdbTransport
from threadline.store.gateway import Store
from threadline.store.migrations import LayoutMismatch, applied_versions, check_layout, migrate, server_version, waiting
from threadline.store.schema import MIGRATIONS, SHARDED_TABLES, TABLES, Migration
from threadline.store.table_engines import Statement


def test_every_table_has_its_engine(store: Store) -> None:
    rows = store.select("SELECT name, engine_full FROM system.tables WHERE database = {database:String}",
                        {"database": store.database}, tag="test.tables")
    engines = {r["name"]: r["engine_full"] for r in rows}
    if store.cluster is None:
        expected = {t.name: t.engine.local() for t in TABLES}
    else:
        expected = {t.name: "Distributed" if t.name in SHARDED_TABLES else f"Replicated{t.engine.family}("
                    for t in TABLES}
        expected |= {f"{t.name}_local": f"Replicated{t.engine.family}(" for t in TABLES if t.name in SHARDED_TABLES}
    assert set(engines) == set(expected)
    for name, engine in expected.items():
        assert engines[name].startswith(engine), name


def test_every_version_is_recorded_once_and_a_rerun_applies_nothing(store: Store) -> None:
    runnable = [m for m in MIGRATIONS if m not in waiting(store, list(MIGRATIONS))]
    assert applied_versions(store) == {m.version for m in runnable}
    assert migrate(store) == []
    rows = store.select("SELECT version, count() AS n FROM {db}.schema_migrations GROUP BY version ORDER BY version",
                        tag="test.versions")
    assert [(r["version"], r["n"]) for r in rows] == [(m.version, 1) for m in runnable]


def test_a_migration_for_a_newer_server_waits_unrecorded(store: Store) -> None:
    major, minor = server_version(store)
    assert major >= 24
    later = Migration(1000, "needs a future server", (Statement("CREATE TABLE {db}.future (x UInt8) "
                                                                 "ENGINE = MergeTree ORDER BY x"),),
                      min_server=(major, minor + 1))
    now = Migration(1001, "runs on this server", (Statement("CREATE TABLE {db}.present (x UInt8) "
                                                            "ENGINE = MergeTree ORDER BY x"),),
                    min_server=(major, minor))
    assert waiting(store, [later, now]) == [later]
    assert migrate(store, (*MIGRATIONS, later, now)) == [now]
    assert 1000 not in applied_versions(store) and 1001 in applied_versions(store)
    tables = {r["name"] for r in store.select("SELECT name FROM system.tables WHERE database = {d:String}",
                                              {"d": store.database}, tag="test.tables")}
    assert "present" in tables and "future" not in tables
    assert migrate(store, (*MIGRATIONS, later, now)) == []  # still waiting, nothing else to do


def test_content_search_uses_text_indexes_where_the_server_has_them(store: Store) -> None:
    table = "trace_rollups" if store.cluster is None else "trace_rollups_local"
    indexes = {r["name"]: r["type"] for r in store.select(
        "SELECT name, type FROM system.data_skipping_indices WHERE database = {d:String} AND table = {t:String}",
        {"d": store.database, "t": table}, tag="test.indexes")}
    if server_version(store) >= (26, 2):
        assert indexes == {"input_text": "text", "output_text": "text"}
    else:
        assert indexes == {"input_ngrams": "ngrambf_v1", "output_ngrams": "ngrambf_v1"}


def test_a_database_of_the_other_layout_is_refused(store: Store) -> None:
    """Migrating a single-server database with a cluster (or the reverse) would record nothing new or change one
    node only: it is refused with what to do instead."""
    other = Store(store.transport, store.database, cluster=None if store.cluster else "prod")
    with pytest.raises(LayoutMismatch, match="cluster" if other.cluster else "pass its name"):
        check_layout(other)
    check_layout(store)


def test_parts_replaced_by_a_merge_leave_the_disk_within_seconds(store: Store) -> None:
    """Migration 16: a table's cleanup runs every 1-2 s, so the directories of merged parts go soon after the merge
    instead of at ClickHouse's default cleanup (every 30-40 s, backing off to 300 s while idle)."""
    if store.cluster is not None or not isinstance(store.transport, ChdbTransport):
        pytest.skip("the directories are checked on the embedded store's own disk")
    for batch in range(6):  # six parts, merged into one below
        store.command("INSERT INTO {db}.trace_sessions (project_id, trace_id, session_id, version) "
                      "SELECT 'p', toString(number), 's', 1 FROM numbers({first:UInt64}, 1000)",
                      {"first": batch * 1000}, tag="test.insert")
    store.command("OPTIMIZE TABLE {db}.trace_sessions FINAL", tag="test.optimize")
    (path,) = store.select("SELECT data_paths[1] AS p FROM system.tables WHERE database = {d:String} "
                           "AND name = 'trace_sessions'", {"d": store.database}, tag="test.path")[0].values()
    deadline = time.monotonic() + 15
    part_name = re.compile(r"^\w+?_\d+_\d+_\d+(_\d+)?$")  # partition_min_max_level[_mutation]
    while len(parts := [name for name in os.listdir(path) if part_name.match(name)]) > 1:
        assert time.monotonic() < deadline, f"replaced parts still on disk after 15 s: {sorted(parts)}"
        time.sleep(0.5)
