"""Migrations on the configured backends (chDB always, a ClickHouse server or cluster when configured): every table
with its engine, every version recorded once, and a second run applies nothing."""

from __future__ import annotations

import pytest

from threadline.store.gateway import Store
from threadline.store.migrations import LayoutMismatch, applied_versions, check_layout, migrate
from threadline.store.schema import MIGRATIONS, SHARDED_TABLES, TABLES


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
    assert applied_versions(store) == {m.version for m in MIGRATIONS}
    assert migrate(store) == []
    rows = store.select("SELECT version, count() AS n FROM {db}.schema_migrations GROUP BY version ORDER BY version",
                        tag="test.versions")
    assert [(r["version"], r["n"]) for r in rows] == [(m.version, 1) for m in MIGRATIONS]


def test_a_database_of_the_other_layout_is_refused(store: Store) -> None:
    """Migrating a single-server database with a cluster (or the reverse) would record nothing new or change one
    node only: it is refused with what to do instead."""
    other = Store(store.transport, store.database, cluster=None if store.cluster else "prod")
    with pytest.raises(LayoutMismatch, match="cluster" if other.cluster else "pass its name"):
        check_layout(other)
    check_layout(store)
