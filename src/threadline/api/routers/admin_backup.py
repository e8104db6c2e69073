"""Admin API: ``POST /v1/admin/backup`` writes a consistent backup of the embedded store while the server runs.

The server owns its data directory (one chDB process per directory), so ``threadline backup`` asks it to write the
backup (:mod:`threadline.store.backup`). It is written beside the data directory, in ``<data dir>-backups/`` (never
where a request says: the admin key does not let its holder write anywhere the server may), and the CLI then moves it
where it was asked to.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

from fastapi import APIRouter

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.routers.admin import ERRORS, Admin
from threadline.store.backup import BackupError, Manifest, staging_path, write_backup

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@dataclass(frozen=True)
class BackupOut(Manifest):
    """A backup written on the server's machine: its manifest (:class:`~threadline.store.backup.Manifest`) and
    ``path``, its directory."""

    path: str = ""


@router.post("/backup", response_model=BackupOut, status_code=201, summary="Back up the embedded store",
             responses={**ERRORS, **problem_responses(described={
                 409: "the store is a ClickHouse server: back it up with the server's BACKUP"})})
async def backup(state: Admin) -> BackupOut:
    """Write a consistent backup of every table into a new directory beside the data directory
    (``<data dir>-backups/backup-<time>-<random>``, in ``path``): ingest requests wait while the tables are copied.
    Restore it with ``threadline restore PATH`` into a data directory no server uses."""
    if state.settings.clickhouse_url:
        raise Problem(409, "this server stores its data on a ClickHouse server: back it up there with BACKUP "
                           f"DATABASE {state.store.database} TO Disk('backups', 'threadline-<date>')")
    # Everything acknowledged before this request goes into the backup: batches the writer holds in its span log
    # (acknowledged, not yet inserted) are written first.
    await state.writer.settled()
    try:
        path = staging_path(state.store)
        manifest = await asyncio.to_thread(write_backup, state.store, path)
    except BackupError as exc:
        raise Problem(409, str(exc)) from None
    return BackupOut(path=str(path), **asdict(manifest))
