"""Apply the numbered migrations of :mod:`threadline.store.schema` that a database has not recorded yet."""

from __future__ import annotations

import logging

from threadline.store.gateway import Store
from threadline.store.schema import MIGRATIONS, MIGRATIONS_TABLE, Migration

log = logging.getLogger("threadline.store")


def applied_versions(store: Store) -> set[int]:
    """Versions recorded in ``schema_migrations`` (creating the database and that table if needed)."""
    store.command("CREATE DATABASE IF NOT EXISTS {db}", tag="migrate.create_database")
    for statement in MIGRATIONS_TABLE.render(store.cluster):
        store.command(statement, tag="migrate.create_migrations_table")
    rows = store.select("SELECT version FROM {db}.schema_migrations FINAL", tag="migrate.applied")
    return {int(r["version"]) for r in rows}


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    """Apply pending migrations in version order and return them. Statements are idempotent
    (``IF NOT EXISTS``), so a migration interrupted half-way is safely re-run. On a cluster (``store.cluster``) each
    DDL statement runs ``ON CLUSTER``, once for every node, and the version is recorded once in the replicated
    ``schema_migrations``, which every node reads. Raises StoreError."""
    done = applied_versions(store)
    pending = [m for m in sorted(migrations, key=lambda m: m.version) if m.version not in done]
    for migration in pending:
        for statement in migration.statements(store.cluster):
            store.command(statement, tag=f"migrate.{migration.version}")
        store.command(
            "INSERT INTO {db}.schema_migrations (version, name) SELECT {version:UInt32}, {name:String}",
            {"version": migration.version, "name": migration.name},
            tag="migrate.record",
        )
        log.info("applied migration %d: %s", migration.version, migration.name)
    return pending
