"""Migrations on the configured backends (chDB always, a ClickHouse server when configured): every table with its
local engine, every version recorded once, and a second run applies nothing."""

from __future__ import annotations

from threadline.store.gateway import Store
from threadline.store.migrations import applied_versions, migrate
from threadline.store.schema import MIGRATIONS, TABLES


def test_every_table_has_its_local_engine(store: Store) -> None:
    rows = store.select("SELECT name, engine_full FROM system.tables WHERE database = {database:String}",
                        {"database": store.database}, tag="test.tables")
    engines = {r["name"]: r["engine_full"] for r in rows}
    assert set(engines) == {t.name for t in TABLES}
    for table in TABLES:
        assert engines[table.name].startswith(table.engine.local()), table.name


def test_every_version_is_recorded_once_and_a_rerun_applies_nothing(store: Store) -> None:
    assert applied_versions(store) == {m.version for m in MIGRATIONS}
    assert migrate(store) == []
    rows = store.select("SELECT version, count() AS n FROM {db}.schema_migrations GROUP BY version ORDER BY version",
                        tag="test.versions")
    assert [(r["version"], r["n"]) for r in rows] == [(m.version, 1) for m in MIGRATIONS]
