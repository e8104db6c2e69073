"""Admin API: ``POST /v1/admin/backup`` writes a consistent backup of the embedded store while the server runs.

The server owns its data directory (one chDB process per directory), so ``threadline backup`` asks it to write the
backup (:mod:`threadline.store.backup`); the path is on the server's machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, Field

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.routers.admin import ERRORS, Admin
from threadline.store.backup import BackupError, Manifest, write_backup

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class BackupIn(BaseModel):
    """Where to write the backup: an absolute path on the server's machine that does not exist yet."""

    path: str = Field(min_length=1, max_length=4096, examples=["/var/backups/threadline/2026-12-04"])


class BackupOut(BaseModel):
    """The backup's manifest: ``tables`` maps each table to its rows stored (every version, before merges),
    ``bytes`` is its size on disk, ``pause_ms`` how long inserts waited, ``duration_ms`` the whole backup."""

    path: str
    format: str
    format_version: int
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


@router.post("/backup", response_model=BackupOut, status_code=201, summary="Back up the embedded store",
             responses={**ERRORS, **problem_responses(422, described={
                 400: "the path is relative or not usable", 409: "the path exists, or the store is a ClickHouse "
                 "server (back it up with the server's BACKUP)"})})
async def backup(body: BackupIn, state: Admin) -> BackupOut:
    """Write a consistent backup of every table into ``path`` (a new directory): ingest requests wait while the
    tables are copied, reads and writes go on afterwards. Restore it with ``threadline restore PATH`` into a data
    directory no server uses."""
    path = Path(body.path)
    if not path.is_absolute():
        raise Problem(400, f"the backup path {body.path!r} is relative: give an absolute path on the server's "
                           "machine")
    if state.settings.clickhouse_url:
        raise Problem(409, "this server stores its data on a ClickHouse server: back it up there with BACKUP "
                           f"DATABASE {state.store.database} TO Disk('backups', 'threadline-<date>')")
    if path.exists():
        raise Problem(409, f"{path} already exists; a backup is never written over anything: choose a new path")
    try:
        manifest: Manifest = await asyncio.to_thread(write_backup, state.store, path)
    except BackupError as exc:
        raise Problem(409 if path.exists() else 400, str(exc)) from None
    except OSError as exc:  # e.g. no permission to create the directory
        raise Problem(400, f"cannot write the backup to {path}: {exc.strerror or exc}") from None
    return BackupOut(path=str(path), **asdict(manifest))
