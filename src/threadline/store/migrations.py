"""Apply the numbered migrations of :mod:`threadline.store.schema` that a database has not recorded yet."""

from __future__ import annotations

import logging

from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.store.schema import MIGRATIONS, MIGRATIONS_TABLE, Migration

log = logging.getLogger("threadline.store")


class LayoutMismatch(StoreError):
    """The database was created for the other layout: on one server but now opened with a cluster, or the reverse.
    Migrating it would do nothing (its versions are recorded) or change one node only."""


def check_layout(store: Store) -> None:
    """Raise LayoutMismatch unless ``schema_migrations`` has the engine of the store's layout (``Replicated*`` on a
    cluster, a local engine otherwise)."""
    rows = store.select("SELECT engine FROM system.tables WHERE database = {database:String} "
                        "AND name = 'schema_migrations'", {"database": store.database}, tag="migrate.layout")
    replicated = bool(rows) and str(rows[0]["engine"]).startswith("Replicated")
    if rows and store.cluster and not replicated:
        raise LayoutMismatch(f"database {store.database!r} was created on a single server, not on cluster "
                             f"{store.cluster!r}: use a new database for the cluster (THREADLINE_DATABASE) and copy "
                             "the data over, or drop the cluster setting (docs/clickhouse-cluster.md)")
    if replicated and not store.cluster:
        raise LayoutMismatch(f"database {store.database!r} was created on a ClickHouse cluster: pass its name "
                             "(--cluster NAME or THREADLINE_CLUSTER), so schema changes reach every node")


def applied_versions(store: Store) -> set[int]:
    """Versions recorded in ``schema_migrations`` (creating the database and that table if needed). Raises
    LayoutMismatch for a database of the other layout (:func:`check_layout`)."""
    store.command("CREATE DATABASE IF NOT EXISTS {db}", tag="migrate.create_database")
    check_layout(store)
    for statement in MIGRATIONS_TABLE.render(store.cluster):
        store.command(statement, tag="migrate.create_migrations_table")
    rows = store.select("SELECT version FROM {db}.schema_migrations FINAL", tag="migrate.applied")
    return {int(r["version"]) for r in rows}


def server_version(store: Store) -> tuple[int, int]:
    """The (major, minor) version of the store's ClickHouse (chDB reports the ClickHouse it embeds). Raises
    StoreError."""
    text = str(store.select("SELECT version() AS v", tag="migrate.server_version")[0]["v"])
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def waiting(store: Store, pending: list[Migration]) -> list[Migration]:
    """Those of ``pending`` that need a newer ClickHouse than the store's (``Migration.min_server``): they are not
    applied (nor recorded) until the server is upgraded. Raises StoreError."""
    gated = [m for m in pending if m.min_server is not None]
    if not gated:
        return []
    version = server_version(store)
    return [m for m in gated if m.min_server is not None and version < m.min_server]


def restarted(store: Store, migration: Migration) -> list[str]:
    """The tables ``migration`` detaches and attaches again on ``store`` right after its statements, so that settings
    ClickHouse reads when a table starts apply at once (``Migration.restart``): on the embedded store only, where
    migrations run before anything else uses it; a ClickHouse server applies them at its next restart, when other
    processes may be reading the tables now. ``[]`` elsewhere."""
    # Imported here, not at the top: imported with this module, a `threadline worker --data-dir` died of SIGSEGV at
    # exit (chDB's teardown depends on the order in which modules holding it are torn down).
    from threadline.store.chdb_transport import ChdbTransport

    if store.cluster is not None or not isinstance(store.transport, ChdbTransport):
        return []
    return [table.name for table in migration.restart]


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    """Apply pending migrations in version order and return them. Statements are idempotent
    (``IF NOT EXISTS``), so a migration interrupted half-way is safely re-run. On a cluster (``store.cluster``) each
    DDL statement runs ``ON CLUSTER``, once for every node, and the version is recorded once in the replicated
    ``schema_migrations``, which every node reads. A migration that needs a newer ClickHouse than the store's
    (:func:`waiting`) is skipped with a warning and applied by the first run after the server's upgrade.
    Raises StoreError."""
    done = applied_versions(store)
    pending = [m for m in sorted(migrations, key=lambda m: m.version) if m.version not in done]
    for migration in waiting(store, pending):
        pending.remove(migration)
        log.warning("migration %d (%s) needs ClickHouse %d.%d or later; it will be applied after the server is "
                    "upgraded", migration.version, migration.name, *(migration.min_server or (0, 0)))
    for migration in pending:
        for statement in migration.statements(store.cluster):
            store.command(statement, tag=f"migrate.{migration.version}")
        for table in restarted(store, migration):
            store.command(f"DETACH TABLE {{db}}.{table}", tag=f"migrate.{migration.version}")
            store.command(f"ATTACH TABLE {{db}}.{table}", tag=f"migrate.{migration.version}")
        store.command(
            "INSERT INTO {db}.schema_migrations (version, name) SELECT {version:UInt32}, {name:String}",
            {"version": migration.version, "name": migration.name},
            tag="migrate.record",
        )
        log.info("applied migration %d: %s", migration.version, migration.name)
    return pending


def pending_migrations(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[Migration]:
    """The migrations :func:`migrate` would apply, in order, without changing anything (no database or table is
    created: where ``schema_migrations`` does not exist yet, every migration is pending). Raises LayoutMismatch,
    StoreError."""
    rows = store.select("SELECT count() AS n FROM system.tables WHERE database = {database:String} "
                        "AND name = 'schema_migrations'", {"database": store.database}, tag="migrate.plan")
    done: set[int] = set()
    if rows[0]["n"]:
        check_layout(store)
        done = {int(r["version"]) for r in store.select("SELECT version FROM {db}.schema_migrations FINAL",
                                                        tag="migrate.plan_applied")}
    return [m for m in sorted(migrations, key=lambda m: m.version) if m.version not in done]


def rendered(store: Store, migration: Migration) -> tuple[str, ...]:
    """The SQL ``migration`` runs on ``store``: for its layout (``ON CLUSTER`` on a cluster) and database."""
    return tuple(sql.replace("{db}", store.database) for sql in migration.statements(store.cluster))
