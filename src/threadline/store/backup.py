"""Backup and restore of the embedded store with ClickHouse's own ``BACKUP``/``RESTORE``.

A backup is a directory::

    PATH/manifest.json     what the backup holds (:class:`Manifest`), written last: no manifest, no backup
    PATH/clickhouse/       ``BACKUP DATABASE <db> TO File('PATH/clickhouse')``: every table's parts and DDL

Consistency: the ``BACKUP`` statement runs while every insert of the process is held and nothing else of the process
runs (:meth:`~threadline.store.chdb_transport.ChdbTransport.writes_held`), so it captures the store as a ``kill -9``
at that instant would leave it. A batch whose spans were inserted but whose rollups were not yet written is pending
in the rollup journal of the backup, and the first start on the restored directory rebuilds it, as after a crash;
a session deletion cut short is resumed from its job. Inserts wait while the statement runs (requests are answered
a little later, nothing is refused unless the writer's queue fills).

Restore creates the tables of the backup in an empty database with merges stopped, restores their data, checks
every table's row count against the manifest, then lets merges run. It restores the backup's schema; a start (or
``threadline migrate``) applies the migrations of a later release.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.store.errors import StoreError
from threadline.store.gateway import Store
from threadline.store.schema import MIGRATIONS

FORMAT = "threadline-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA = "clickhouse"


class BackupError(Exception):
    """A backup or restore that was refused or failed; the message says why and what to do."""


class NotABackup(BackupError):
    """The path holds no Threadline backup (no readable manifest)."""


class NotEmpty(BackupError):
    """The database to restore into already has tables."""


@dataclass(frozen=True)
class Manifest:
    """What a backup holds. ``tables``: table name -> rows stored (every stored version, before merges collapse
    replaced ones); ``bytes``: size of the backup on disk; ``pause_ms``: how long inserts were held; ``duration_ms``:
    the whole backup; ``created_at``: ISO 8601, UTC."""

    threadline_version: str
    clickhouse_version: str
    created_at: str
    database: str
    schema_version: int
    migrations: list[int]
    tables: dict[str, int]
    bytes: int
    pause_ms: float
    duration_ms: float
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def rows(self) -> int:
        """Rows of every table."""
        return sum(self.tables.values())


@dataclass(frozen=True)
class Restored:
    """A finished restore: the backup's manifest, and ``seconds`` it took."""

    manifest: Manifest
    seconds: float
    notes: list[str] = field(default_factory=list)


def threadline_version() -> str:
    """The installed distribution's version (the source tree's when it was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    from threadline import __version__

    try:
        return version("threadline")
    except PackageNotFoundError:
        return __version__


def _literal(path: Path) -> str:
    # BACKUP/RESTORE take their destination as a literal (no query parameters there).
    text = str(path)
    if any(ord(c) < 32 for c in text):
        raise BackupError(f"the path {text!r} holds control characters; choose a plain path")
    return "File('" + text.replace("\\", "\\\\").replace("'", "\\'") + "')"


def _embedded(store: Store) -> Any:
    from threadline.store.chdb_transport import ChdbTransport

    if not isinstance(store.transport, ChdbTransport):
        raise BackupError("the store is a ClickHouse server: back it up with the server's own BACKUP, e.g. "
                          f"BACKUP DATABASE {store.database} TO Disk('backups', 'threadline-<date>') (see the "
                          "ClickHouse documentation on backups; the disk is configured on the server)")
    return store.transport


def staging_path(store: Store) -> Path:
    """A new backup directory for ``store`` (embedded) beside its data directory: ``<data dir>-backups/backup-<UTC
    time>-<random>``. The admin API writes there (it never writes where a request says); the CLI then moves the
    backup where it was asked to. Raises BackupError for a ClickHouse server."""
    data_dir: Path = _embedded(store).data_dir
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return data_dir.parent / f"{data_dir.name}-backups" / f"backup-{stamp}-{os.urandom(3).hex()}"


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _bare(store: Store, sql: str) -> None:
    # Straight to the transport: the gateway adds a SETTINGS clause (the query tag), which SYSTEM statements and
    # the Backup database engine refuse.
    store.transport.command(sql.replace("{db}", store.database), {}, {})


def _row_counts(store: Store, source: Path, database: str) -> dict[str, int]:
    """Rows per table read from the backup itself (a read-only ``Backup`` database over it)."""
    name = f"threadline_backup_{os.getpid()}_{time.monotonic_ns()}"
    _bare(store, f"CREATE DATABASE {name} ENGINE = Backup('{database}', {_literal(source)})")
    try:
        tables = [r["name"] for r in store.select(
            "SELECT name FROM system.tables WHERE database = {name:String} ORDER BY name", {"name": name},
            tag="backup.tables")]
        return {t: int(store.select(f"SELECT count() AS n FROM {name}.`{t}`", tag="backup.count")[0]["n"])
                for t in tables}
    finally:
        store.command(f"DROP DATABASE IF EXISTS {name}", tag="backup.close")


def write_backup(store: Store, path: Path) -> Manifest:
    """Back up every table of ``store`` (embedded) into the new directory ``path`` (absolute; its parents are
    created). Raises BackupError when ``path`` exists, is relative, or the store is a ClickHouse server; StoreError
    when ClickHouse fails (the directory is then removed)."""
    if not path.is_absolute():
        raise BackupError(f"the backup path {str(path)!r} is relative: give an absolute path")
    if path.exists() or path.is_symlink():
        raise BackupError(f"{path} already exists; a backup is never written over anything: choose a new path")
    transport = _embedded(store)
    started = time.perf_counter()
    versions = sorted(int(r["version"]) for r in store.select(
        "SELECT version FROM {db}.schema_migrations FINAL", tag="backup.migrations"))
    clickhouse = str(store.select("SELECT version() AS v", tag="backup.version")[0]["v"])
    path.mkdir(parents=True)
    created = datetime.now(UTC)
    try:
        with transport.writes_held():
            held = time.perf_counter()
            store.command(f"BACKUP DATABASE {{db}} TO {_literal(path / DATA)}", tag="backup.write")
            pause_ms = (time.perf_counter() - held) * 1000
        tables = _row_counts(store, path / DATA, store.database)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # made here, above: nothing half-written is left behind
        raise
    manifest = Manifest(
        threadline_version=threadline_version(), clickhouse_version=clickhouse,
        created_at=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"), database=store.database,
        schema_version=max(versions, default=0), migrations=versions, tables=tables, bytes=_size(path),
        pause_ms=round(pause_ms, 1), duration_ms=round((time.perf_counter() - started) * 1000, 1))
    partial = path / (MANIFEST + ".partial")
    partial.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    partial.replace(path / MANIFEST)  # last, and atomically: a directory with a manifest is a whole backup
    return manifest


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup at ``path``. Raises NotABackup when there is none, or it is not Threadline's;
    BackupError when a later Threadline wrote it (newer format or schema)."""
    file = path / MANIFEST
    if not path.is_dir():
        raise NotABackup(f"{path} is not a Threadline backup (no such directory)")
    try:
        doc = json.loads(file.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError("not a Threadline manifest")
        manifest = Manifest(**doc)
    except (OSError, ValueError, TypeError) as exc:
        raise NotABackup(f"{path} is not a Threadline backup (no readable {MANIFEST}: {exc}); give the directory "
                         "`threadline backup` wrote") from None
    if manifest.format_version > FORMAT_VERSION or manifest.schema_version > MIGRATIONS[-1].version:
        raise BackupError(f"{path} was written by Threadline {manifest.threadline_version} (schema "
                          f"{manifest.schema_version}); this is Threadline {threadline_version()} (schema "
                          f"{MIGRATIONS[-1].version}): restore it with that release or a later one")
    if not (path / DATA).is_dir():
        raise NotABackup(f"{path} has a manifest but no {DATA}/ directory: the backup is incomplete")
    return manifest


def database_tables(store: Store) -> list[str]:
    """Tables of the store's database (none when it does not exist)."""
    return [r["name"] for r in store.select(
        "SELECT name FROM system.tables WHERE database = {database:String} ORDER BY name",
        {"database": store.database}, tag="restore.existing")]


def _restore(store: Store, path: Path, manifest: Manifest) -> None:
    source = f"RESTORE DATABASE `{manifest.database}` AS {{db}} FROM {_literal(path / DATA)}"
    try:
        store.command(source + " SETTINGS structure_only = 1", tag="restore.tables")
    except StoreError as exc:
        raise BackupError(f"restoring the tables of {path} failed: {exc}") from None
    tables = database_tables(store)
    for table in tables:  # merges would collapse replaced rows and blur the count check below
        _bare(store, f"SYSTEM STOP MERGES {{db}}.`{table}`")
    try:
        store.command(source, tag="restore.data")
        counts = {t: int(store.select(f"SELECT count() AS n FROM {{db}}.`{t}`", tag="restore.count")[0]["n"])
                  for t in tables}
    finally:
        for table in tables:
            _bare(store, f"SYSTEM START MERGES {{db}}.`{table}`")
    wrong = {t: (counts.get(t), n) for t, n in manifest.tables.items() if counts.get(t) != n}
    if wrong:
        detail = ", ".join(f"{t}: {got} rows of {want}" for t, (got, want) in sorted(wrong.items()))
        raise BackupError(f"the restored tables do not match the backup's manifest ({detail}); the backup at {path} "
                          "may be damaged")


def restore_backup(store: Store, path: Path, *, replace: bool = False) -> Restored:
    """Restore the backup at ``path`` into the store's database (embedded). That database must have no tables;
    with ``replace`` an existing one is dropped first. Raises NotABackup, NotEmpty, BackupError (also when a
    restored table's row count differs from the manifest's), StoreError; a restore that fails drops the database
    it was restoring."""
    manifest = read_manifest(path)
    _embedded(store)
    started = time.perf_counter()
    if database_tables(store):
        if not replace:
            raise NotEmpty(f"database {store.database!r} already has tables; restore into a new data directory, "
                           "or pass --force to replace that database")
        store.command("DROP DATABASE {db} SYNC", tag="restore.drop")
    try:
        _restore(store, path, manifest)
    except BaseException:
        store.command("DROP DATABASE IF EXISTS {db} SYNC", tag="restore.undo")  # no half-restored database is left
        raise
    notes = []
    if manifest.schema_version < MIGRATIONS[-1].version:
        notes.append(f"the backup has schema {manifest.schema_version}; `threadline serve` (or `threadline "
                     f"migrate`) upgrades it to {MIGRATIONS[-1].version}")
    return Restored(manifest, time.perf_counter() - started, notes)
