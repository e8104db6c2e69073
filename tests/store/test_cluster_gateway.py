"""The gateway on a cluster: statements rewritten for the cluster layout, settings every cluster statement needs, and
the configuration errors a person sees. Run against real chDB: its ClickHouse checks setting names and parses
statements, and answers 'cluster not found' to a statement that reached it ON CLUSTER."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from threadline.api.app import open_store
from threadline.auth.repository import DATA_TABLES
from threadline.settings import Settings
from threadline.store.cluster_sql import CLUSTER_SETTINGS, for_cluster
from threadline.store.errors import QueryError, StoreUnavailable
from threadline.store.gateway import Store
from threadline.store.schema import SHARDED_TABLES

# What chDB (no cluster, no distributed DDL queue) answers a statement that reaches it ON CLUSTER:
# QUERY_IS_PROHIBITED ("Replicated DDL queries are disabled") or CLUSTER_DOESNT_EXIST.
ON_CLUSTER_REFUSED = {392, 701}


def test_mutations_of_sharded_tables_go_to_their_local_tables_on_cluster() -> None:
    assert for_cluster("DELETE FROM {db}.spans WHERE project_id = {p:String}", "prod", SHARDED_TABLES) == \
        "DELETE FROM {db}.spans_local ON CLUSTER 'prod' WHERE project_id = {p:String}"
    assert for_cluster("ALTER TABLE {db}.trace_rollups UPDATE name = '' WHERE 1", "prod", SHARDED_TABLES) == \
        "ALTER TABLE {db}.trace_rollups_local ON CLUSTER 'prod' UPDATE name = '' WHERE 1"
    assert for_cluster("TRUNCATE TABLE IF EXISTS {db}.logs", "prod", SHARDED_TABLES) == \
        "TRUNCATE TABLE IF EXISTS {db}.logs_local ON CLUSTER 'prod'"
    assert for_cluster("OPTIMIZE TABLE {db}.spans FINAL", "prod", SHARDED_TABLES) == \
        "OPTIMIZE TABLE {db}.spans_local ON CLUSTER 'prod' FINAL"
    assert for_cluster("ALTER TABLE {db}.spans APPLY DELETED MASK", "prod", SHARDED_TABLES) == \
        "ALTER TABLE {db}.spans_local ON CLUSTER 'prod' APPLY DELETED MASK"


def test_unsharded_tables_queries_and_inserts_run_as_written() -> None:
    for sql in ("DELETE FROM {db}.jobs WHERE project_id = {p:String}",  # replicated everywhere: Keeper copies it
                "SELECT * FROM {db}.spans FINAL", "INSERT INTO {db}.session_rollups SELECT * FROM {db}.x",
                "ALTER TABLE {db}.spans_local ON CLUSTER 'prod' DELETE WHERE 1"):
        assert for_cluster(sql, "prod", SHARDED_TABLES) == sql


def test_database_statements_run_on_every_node() -> None:
    assert for_cluster("CREATE DATABASE IF NOT EXISTS {db}", "prod", SHARDED_TABLES) == \
        "CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER 'prod'"
    assert for_cluster("DROP DATABASE IF EXISTS {db}", "prod", SHARDED_TABLES) == \
        "DROP DATABASE IF EXISTS {db} ON CLUSTER 'prod' SYNC"


@pytest.mark.parametrize("sql", ["ALTER TABLE {db}.spans ADD COLUMN x String", "CREATE TABLE {db}.t (x UInt8)",
                                 "DROP TABLE {db}.spans", "RENAME TABLE {db}.a TO {db}.b"])
def test_ad_hoc_ddl_on_a_cluster_is_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="migrations"):
        for_cluster(sql, "prod", SHARDED_TABLES)


def test_project_deletion_statements_parse_for_a_cluster(chdb_dir: Path) -> None:
    """The one mutation outside migrations (deleting a project's data) renders to statements ClickHouse accepts."""
    parser = Store.embedded(chdb_dir, "parse_only")
    for table in DATA_TABLES:
        sql = for_cluster(f"DELETE FROM {{db}}.{table} WHERE project_id = {{project_id:String}}", "prod",
                          SHARDED_TABLES)
        assert ("_local ON CLUSTER 'prod'" in sql) == (table in SHARDED_TABLES)
        assert parser.select("EXPLAIN AST " + sql, {"project_id": "p"}, tag="test.parse")


def test_cluster_store_sends_cluster_settings_and_on_cluster_statements(chdb_dir: Path) -> None:
    """chDB rejects unknown settings, so a query with the cluster settings proves their names; a mutation reaches
    ClickHouse ON CLUSTER (chDB has no cluster, hence its refusal); a plain query runs."""
    plain = Store.embedded(chdb_dir, "cluster_check")
    plain.command("CREATE DATABASE IF NOT EXISTS {db}", tag="test.create")
    plain.command("CREATE TABLE IF NOT EXISTS {db}.spans_local (project_id String) ENGINE = MergeTree "
                  "ORDER BY project_id", tag="test.create")
    store = Store(plain.transport, "cluster_check", cluster="prod")
    assert store.cluster == "prod"
    in_effect = store.select("SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}",
                             {"names": list(CLUSTER_SETTINGS)}, tag="test.settings")
    assert {r["name"]: r["value"] for r in in_effect} == {k: str(v) for k, v in CLUSTER_SETTINGS.items()}
    with pytest.raises(QueryError) as raised:
        store.command("DELETE FROM {db}.spans WHERE project_id = {p:String}", {"p": "x"}, tag="test.delete")
    assert raised.value.code in ON_CLUSTER_REFUSED
    assert store.select("SELECT count() AS n FROM {db}.spans_local", tag="test.count") == [{"n": 0}]
    with pytest.raises(QueryError) as raised:
        store.command("CREATE DATABASE IF NOT EXISTS {db}", tag="test.create")
    assert raised.value.code in ON_CLUSTER_REFUSED


def test_bad_cluster_names_are_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="cluster name"):
        Store.server("http://127.0.0.1:1", "db", cluster="prod'; DROP")


def test_a_cluster_without_a_clickhouse_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="needs a ClickHouse server: set THREADLINE_CLICKHOUSE_URL"):
        open_store(Settings(data_dir=tmp_path, cluster="prod"))


def test_migrate_command_reports_a_cluster_without_a_server(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "threadline", "migrate", "--data-dir", str(tmp_path / "d"),
                           "--cluster", "prod"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "cluster 'prod' needs a ClickHouse server" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()  # nothing was created
