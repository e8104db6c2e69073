"""``threadline backup|restore`` and ``threadline migrate --dry-run``: the embedded store's backups and upgrades.

While a server owns the data directory (one chDB process per directory) ``backup`` goes through its admin API
(``POST /v1/admin/backup``, THREADLINE_ADMIN_KEY in both environments); otherwise it opens the store itself.
``restore`` writes only into a data directory no server uses.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from threadline.cli.common import ClickhouseOpt, DataDirOpt, admin_call, fail, settings_from
from threadline.settings import Settings

if TYPE_CHECKING:
    from threadline.store.gateway import Store

ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="Running server to back up through when it owns the data directory [env THREADLINE_SERVER_URL; "
    "default http://HOST:PORT of the settings]")]


def in_use(data_dir: Path) -> bool:
    """Whether a running process (a server) holds the chDB data directory: ClickHouse keeps an exclusive ``flock``
    on its ``status`` file while it runs. Checked without opening the store, so nothing is touched."""
    import fcntl

    try:
        fd = os.open(data_dir / "status", os.O_RDWR)
    except OSError:  # no status file: never opened, or not a data directory
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _empty(directory: Path) -> bool:
    return not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _server_backup(settings: Settings, server: str | None, path: Path) -> Any:
    """Ask the server owning the data directory to write a backup, and move it to ``path``; returns its
    manifest."""
    from threadline.store.backup import Manifest

    doc = admin_call(settings, server, "POST", "/backup", purpose="back up")
    written = Path(doc.pop("path"))
    try:  # the server writes beside its data directory; a rename when `path` is on the same file system
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise FileExistsError(f"{path} appeared meanwhile")
        shutil.move(written, path)
    except OSError as exc:
        raise fail(ValueError(f"the server wrote the backup to {written}, but moving it to {path} failed: {exc}; "
                              "it is complete where it is")) from None
    return Manifest(**doc)


def _commit_span_log(store: Store, max_spans: int) -> None:
    """Commit the batches a stopped server acknowledged and left in its span log (as its next start would), so that
    the backup holds every acknowledged span. Raises StoreError, SpanLogError."""
    from threadline.writer.commit import BatchCommitter
    from threadline.writer.span_log import of_store, replay

    span_log = of_store(store)
    if span_log is not None:
        replay(span_log, BatchCommitter(store), max_spans)


def backup(path: Annotated[Path, typer.Argument(help="New directory to write the backup into (must not exist)")],
           data_dir: DataDirOpt = None, server: ServerOpt = None, clickhouse: ClickhouseOpt = None) -> None:
    """Write a consistent backup of every table of the embedded store into PATH, while the server runs (through its
    admin API) or not. Ingest waits while the tables are copied; nothing is refused."""
    from threadline.api.app import open_store
    from threadline.store.backup import BackupError, database_tables, write_backup
    from threadline.store.errors import StoreError, StoreUnavailable
    from threadline.writer.span_log import SpanLogError

    settings = settings_from(data_dir=data_dir, clickhouse_url=clickhouse)
    if settings.clickhouse_url:
        raise fail(ValueError(
            "the store is a ClickHouse server: back it up with the server's own BACKUP, e.g. `BACKUP DATABASE "
            f"{settings.database} TO Disk('backups', 'threadline-<date>')` in clickhouse-client (the 'backups' disk "
            "is configured on the server; see the ClickHouse documentation on backup and restore)"))
    target = path.expanduser().resolve()  # the server, on this machine, needs an absolute path
    if target.exists() or target.is_symlink():
        raise fail(ValueError(f"{target} already exists; a backup is never written over anything: choose a new "
                              "path"))
    if _empty(settings.data_dir):
        raise fail(ValueError(f"there is no store at {settings.data_dir.resolve()}: pass --data-dir (or set "
                              "THREADLINE_DATA_DIR) to the data directory to back up"))
    try:
        if in_use(settings.data_dir):
            raise StoreUnavailable("in use")
        store = open_store(settings)
    except StoreUnavailable:
        manifest = _server_backup(settings, server, target)
    else:
        try:
            if not database_tables(store):
                raise BackupError(f"{settings.data_dir.resolve()} holds no database {settings.database!r}: check "
                                  "--data-dir and THREADLINE_DATABASE")
            _commit_span_log(store, settings.flush_max_spans)
            manifest = write_backup(store, target)
        except (BackupError, StoreError, OSError, SpanLogError) as exc:
            raise fail(exc) from None
    spans = manifest.tables.get("spans", 0)
    typer.echo(f"backed up {len(manifest.tables)} tables ({manifest.rows:,} rows, {spans:,} spans; schema "
               f"{manifest.schema_version}) to {target}: {_mb(manifest.bytes)} in {manifest.duration_ms / 1000:.1f} s "
               f"(inserts held {manifest.pause_ms:.0f} ms)")


def restore(path: Annotated[Path, typer.Argument(help="Backup directory written by `threadline backup`")],
            data_dir: DataDirOpt = None,
            force: Annotated[bool, typer.Option(
                "--force", help="Restore into a data directory that is not empty, replacing its Threadline database "
                "(never one a server is using)")] = False) -> None:
    """Restore a backup into a data directory no server is using: a new or empty one, or with --force an existing
    one whose Threadline database is replaced. Then start it with `threadline serve --data-dir ...`."""
    from threadline.api.app import open_store
    from threadline.store.backup import BackupError, read_manifest, restore_backup
    from threadline.store.errors import StoreError, StoreUnavailable

    settings = settings_from(data_dir=data_dir)
    if settings.clickhouse_url:
        raise fail(ValueError("the store is a ClickHouse server: restore with the server's own RESTORE, e.g. "
                              f"`RESTORE DATABASE {settings.database} FROM Disk('backups', 'threadline-<date>')`"))
    try:
        read_manifest(path.expanduser().resolve())  # a bad path is reported before the data directory is opened
    except BackupError as exc:
        raise fail(exc) from None
    target = settings.data_dir.resolve()
    if target.exists() and not target.is_dir():
        raise fail(ValueError(f"{target} is a file, not a data directory"))
    if in_use(target):
        raise fail(ValueError(f"{target} is in use by a running Threadline server: stop it, or restore into a new "
                              "directory; nothing was changed"))
    if not force and not _empty(target):
        raise fail(ValueError(f"{target} is not empty: restore into a new or empty directory (--data-dir), or pass "
                              "--force to replace the Threadline database in it; nothing was changed"))
    try:
        store = open_store(settings)
    except StoreUnavailable:
        raise fail(ValueError(f"{target} is in use by a running Threadline server: stop it, or restore into a new "
                              "directory; nothing was changed")) from None
    try:
        restored = restore_backup(store, path.expanduser().resolve(), replace=force)
    except (BackupError, StoreError) as exc:
        raise fail(exc) from None
    from threadline.writer.span_log import of_store

    span_log = of_store(store)
    if span_log is not None:  # batches acknowledged to the replaced database are not the backup's
        span_log.discard(span_log.pending())
    manifest = restored.manifest
    typer.echo(f"restored {len(manifest.tables)} tables ({manifest.rows:,} rows) of the backup of "
               f"{manifest.created_at} (Threadline {manifest.threadline_version}, schema {manifest.schema_version}) "
               f"into {target} in {restored.seconds:.1f} s; start it with `threadline serve --data-dir {target}`")
    for note in restored.notes:
        typer.echo(f"note: {note}")


def dry_run(settings: Settings) -> None:
    """``threadline migrate --dry-run``: print the migrations ``migrate`` would apply with their SQL (for the store's
    layout and database), changing nothing. Exits 1 when the store cannot be opened."""
    from threadline.api.app import open_store
    from threadline.store.errors import StoreError, StoreUnavailable
    from threadline.store.migrations import pending_migrations, rendered, restarted, waiting
    from threadline.store.schema import MIGRATIONS

    if not settings.clickhouse_url and _empty(settings.data_dir):
        typer.echo(f"no store at {settings.data_dir.resolve()} yet: the first start (or `threadline migrate`) "
                   f"creates it with all {len(MIGRATIONS)} migrations")
        return
    try:
        store = open_store(settings)
    except StoreUnavailable as exc:
        where = "" if settings.clickhouse_url else (
            " (a running server applies every migration it knows on start; stop it to see what this release would "
            "apply)")
        raise fail(ValueError(f"{exc}{where}")) from None
    except ValueError as exc:
        raise fail(exc) from None
    try:
        pending = pending_migrations(store)
        later = waiting(store, pending)
    except StoreError as exc:
        raise fail(exc) from None
    for migration in later:
        pending.remove(migration)
        minimum = ".".join(map(str, migration.min_server or ()))
        typer.echo(f"migration {migration.version} ({migration.name}) waits for ClickHouse {minimum} or later: it "
                   "is applied by the first start after the server's upgrade")
    if not pending and later:
        typer.echo(f"database {store.database!r} has every migration this ClickHouse can run; nothing to apply")
        return
    if not pending:
        typer.echo(f"database {store.database!r} is up to date (schema {MIGRATIONS[-1].version}); nothing to apply")
        return
    typer.echo(f"{len(pending)} migration(s) would be applied to database {store.database!r} (dry run: nothing was "
               "changed):")
    for migration in pending:
        typer.echo(f"\n-- {migration.version}: {migration.name}")
        for sql in rendered(store, migration):
            typer.echo(sql.strip() + ";")
        if tables := restarted(store, migration):
            typer.echo(f"-- then {', '.join(tables)} detached and attached again (their new settings apply at once)")
