"""Table engines and migrations rendered locally (today's chDB DDL) and for a cluster (ON CLUSTER, Replicated*,
Distributed). Cluster statements cannot run without a cluster; they are parsed by the real ClickHouse parser of chDB
(``EXPLAIN AST``), and run for real by tests/store/test_cluster_server.py when a cluster is configured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from threadline.store.gateway import Store
from threadline.store.schema import MIGRATIONS, MIGRATIONS_TABLE, SHARDED_TABLES, TABLES
from threadline.store.table_engines import (
    UNSHARDED,
    AddColumn,
    AlterStorage,
    CreateTable,
    MergeTree,
    NotOnCluster,
    ReplacingMergeTree,
    Sharded,
    on_cluster,
)

SNAPSHOT = json.loads((Path(__file__).parent / "local_ddl_v4.json").read_text())
CLUSTER = "prod"
ON = on_cluster(CLUSTER)


def _cluster_statements() -> list[str]:
    return [s for t in (MIGRATIONS_TABLE,) for s in t.render(CLUSTER)] + [
        s for m in MIGRATIONS for s in m.statements(CLUSTER)]


def _order_by_columns(table: CreateTable) -> set[str]:
    match = re.search(r"^ORDER BY \(?([^)\n]*)\)?$", table.clauses, re.M)
    assert match, table.name
    return {c.strip() for c in match.group(1).split(",")}


def _columns(table: CreateTable) -> set[str]:
    return {line.split()[0] for line in table.columns.splitlines()}


def test_local_rendering_of_every_migration_is_the_ddl_chdb_runs_today() -> None:
    """Byte for byte: stores migrated before table engines existed are unchanged, and new ones get the same."""
    for migration in MIGRATIONS:
        if str(migration.version) not in SNAPSHOT["migrations"]:
            continue  # written after the snapshot (local_ddl_v4.json: migrations 1-4)
        today = SNAPSHOT["migrations"][str(migration.version)]
        assert migration.name == today["name"]
        assert list(migration.statements()) == today["statements"], migration.version
    # The bookkeeping table differs in one whitespace character (ORDER BY on its own line): the same statement.
    (rendered,) = MIGRATIONS_TABLE.render(None)
    assert rendered.split() == SNAPSHOT["migrations_table"].split()


def test_engines_render_local_and_replicated_forms() -> None:
    assert MergeTree().local() == "MergeTree"
    assert ReplacingMergeTree().local() == "ReplacingMergeTree"
    assert ReplacingMergeTree("version", "is_deleted").local() == "ReplacingMergeTree(version, is_deleted)"
    assert ReplacingMergeTree("v", "d").replicated("/p/{shard}", "{replica}") == \
        "ReplicatedReplacingMergeTree('/p/{shard}', '{replica}', v, d)"
    assert MergeTree().replicated("/p", "r") == "ReplicatedMergeTree('/p', 'r')"
    with pytest.raises(ValueError, match="version"):
        ReplacingMergeTree(is_deleted="is_deleted")


def test_every_cluster_statement_runs_on_cluster_with_replicated_engines() -> None:
    statements = _cluster_statements()
    assert statements
    for sql in statements:
        if sql.lstrip().startswith("INSERT"):
            continue  # seed rows: run once, replication copies them
        assert ON in sql, sql
        engine = re.search(r"ENGINE = (\w+)", sql)
        if engine:
            assert engine.group(1).startswith("Replicated") or engine.group(1) == "Distributed", sql


def test_sharded_tables_are_local_replicas_behind_distributed_tables() -> None:
    for table in TABLES:
        statements = table.render(CLUSTER)
        if not isinstance(table.distribution, Sharded):
            assert table.name not in SHARDED_TABLES
            (create,) = statements
            assert f"{{db}}.{table.name}{ON} (" in create
            assert "'/clickhouse/tables/noshard/{database}/{table}', '{replica}-{shard}'" in create
            continue
        local, distributed = statements
        assert table.name in SHARDED_TABLES
        assert f"{{db}}.{table.name}_local{ON} (" in local
        assert "('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in local
        assert table.clauses in local  # same keys, partitions and settings as locally
        assert f"{{db}}.{table.name}{ON} AS {{db}}.{table.name}_local" in distributed
        assert f"ENGINE = Distributed('{CLUSTER}', '{{db}}', '{table.name}_local', {table.distribution.key})" \
            in distributed


def test_sharding_keys_keep_every_version_of_a_row_on_one_shard() -> None:
    """FINAL and LIMIT 1 BY collapse rows per shard, so a key may only use the table's ORDER BY columns."""
    expected = {
        "spans": "cityHash64(project_id, trace_id)",
        "trace_sessions": "cityHash64(project_id, trace_id)",
        "trace_state": "cityHash64(project_id, trace_id)",
        "deleted_session_traces": "cityHash64(project_id, trace_id)",
        "trace_rollups": "cityHash64(project_id, if(session_id = '', trace_id, session_id))",
        "session_rollups": "cityHash64(project_id, session_id)",
        "session_annotations": "cityHash64(project_id, session_id)",
        "logs": "cityHash64(project_id, if(session_id = '', log_id, session_id))",
        "scores": "cityHash64(project_id, target_id)",
    }
    keys = {t.name: t.distribution.key for t in TABLES if isinstance(t.distribution, Sharded)}
    assert keys == expected
    for table in TABLES:
        if isinstance(table.distribution, Sharded):
            used = set(re.findall(r"\b[a-z_]+\b(?!\()", table.distribution.key)) & _columns(table)
            assert used and used <= _order_by_columns(table), table.name


def test_alters_target_the_stored_tables_on_a_cluster() -> None:
    annotations = next(t for t in TABLES if t.name == "session_annotations")
    rollups = next(t for t in TABLES if t.name == "trace_rollups")
    projects = next(t for t in TABLES if t.name == "projects")
    assert AddColumn(annotations, "x String").render(CLUSTER) == (
        f"ALTER TABLE {{db}}.session_annotations_local{ON} ADD COLUMN IF NOT EXISTS x String",
        f"ALTER TABLE {{db}}.session_annotations{ON} ADD COLUMN IF NOT EXISTS x String")
    assert AddColumn(projects, "x String").render(CLUSTER) == (
        f"ALTER TABLE {{db}}.projects{ON} ADD COLUMN IF NOT EXISTS x String",)
    assert AlterStorage(rollups, "MATERIALIZE INDEX i").render(CLUSTER) == (
        f"ALTER TABLE {{db}}.trace_rollups_local{ON} MATERIALIZE INDEX i",)
    assert AlterStorage(rollups, "MATERIALIZE INDEX i").render(None) == (
        "ALTER TABLE {db}.trace_rollups MATERIALIZE INDEX i",)


def test_not_on_cluster_operations_run_on_one_clickhouse_only() -> None:
    rollups = next(t for t in TABLES if t.name == "trace_rollups")
    setting = NotOnCluster(AlterStorage(rollups, "MODIFY SETTING cleanup_delay_period = 1"))
    assert setting.render(None) == ("ALTER TABLE {db}.trace_rollups MODIFY SETTING cleanup_delay_period = 1",)
    assert setting.render(CLUSTER) == ()


def test_unsharded_layout_is_the_one_small_tables_use() -> None:
    small = {t.name for t in TABLES if t.distribution == UNSHARDED}
    assert small == {"schema_migrations", "projects", "api_keys", "api_key_usage", "server_secrets", "jobs",
                     "rollup_journal"}


def test_clickhouse_parses_every_cluster_statement(chdb_dir: Path) -> None:
    """The real ClickHouse parser (chDB) accepts every rendered cluster statement."""
    parser = Store.embedded(chdb_dir, "parse_only")
    for sql in _cluster_statements():
        rows = parser.select("EXPLAIN AST " + sql, tag="test.parse")
        assert rows, sql
