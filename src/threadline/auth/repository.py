"""Projects and API keys in the store (tables ``projects``, ``api_keys``, ``api_key_usage``, ``server_secrets``)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from threadline.auth import scopes, tokens
from threadline.store.gateway import Store

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_PROJECT = "default"
MAX_RETENTION_DAYS = 36_500  # 100 years: anything longer is "forever" (0)
DATA_TABLES = ("spans", "trace_sessions", "trace_rollups", "session_rollups", "session_annotations", "scores", "logs",
               "jobs", "deleted_session_traces", "trace_state")


class ProjectError(ValueError):
    """A project or key operation the caller asked for cannot be done; the message says why."""


class NotFound(ProjectError):
    """The named project or key does not exist."""


@dataclass(frozen=True)
class Project:
    """A project: tenant boundary; ``project_id`` is a slug (lowercase letters, digits, ``-``, ``_``).
    ``retention_days``: how many days of its data are kept (0: forever)."""

    project_id: str
    name: str
    created_at: datetime
    retention_days: int = 0


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the secret): id, project, name, times (UTC), revoked flag, scope
    (:mod:`threadline.auth.scopes`) and expiry (UTC; None: never)."""

    key_id: str
    project_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    scope: str = scopes.ALL
    expires_at: datetime | None = None

    def state(self, now: datetime | None = None) -> str:
        """``revoked``, ``expired`` (at ``now``, default the current time) or ``active``."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or _now()):
            return "expired"
        return "active"


@dataclass(frozen=True)
class KeyRecord:
    """What authentication needs of a key (an expired key is kept, so that its refusal can say so)."""

    key_id: str
    project_id: str
    salt: str
    secret_hash: str
    scope: str = scopes.ALL
    expires_at: datetime | None = None


def _ms(moment: datetime) -> pa.Array:
    return pa.array([moment], pa.timestamp("ms", tz="UTC"))


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC time (the store may answer naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_retention(days: int) -> int:
    """``days`` when it is a valid retention window (0: forever). Raises ProjectError."""
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_RETENTION_DAYS:
        raise ProjectError(f"retention must be a whole number of days from 0 (keep forever) to {MAX_RETENTION_DAYS}, "
                           f"not {days!r}")
    return days


def _project_of(row: dict[str, Any]) -> Project:
    return Project(row["project_id"], row["name"], row["created_at"], int(row["retention_days"]))


class ProjectRepository:
    """CRUD of projects and keys. Raises ProjectError / NotFound for the caller's mistakes, StoreError otherwise."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _version(self) -> pa.Array:
        return pa.array([time.time_ns()], pa.uint64())

    # projects
    def list_projects(self) -> list[Project]:
        """Live projects, by id."""
        rows = self.store.select(
            "SELECT project_id, name, created_at, retention_days FROM {db}.projects FINAL WHERE deleted = 0 "
            "ORDER BY project_id", tag="projects.list")
        return [_project_of(r) for r in rows]

    def get_project(self, project_id: str) -> Project | None:
        """A live project, or None."""
        rows = self.store.select(
            "SELECT project_id, name, created_at, retention_days FROM {db}.projects FINAL "
            "WHERE project_id = {project_id:String} AND deleted = 0", {"project_id": project_id},
            tag="projects.get")
        return _project_of(rows[0]) if rows else None

    def _put_project(self, project: Project, *, deleted: bool, tag: str) -> None:
        """Write ``project``'s row with a new version (the newest version of a project id wins)."""
        self.store.insert("projects", pa.table({
            "project_id": [project.project_id], "name": [project.name], "created_at": _ms(project.created_at),
            "deleted": pa.array([int(deleted)], pa.uint8()), "version": self._version(),
            "retention_days": pa.array([project.retention_days], pa.uint32())}), tag=tag)

    def create_project(self, project_id: str, name: str | None = None, *, retention_days: int = 0) -> Project:
        """Create a project keeping ``retention_days`` days of data (0: forever). Raises ProjectError for an
        invalid or existing id, or an invalid retention."""
        if not PROJECT_ID.fullmatch(project_id):  # not .match: "$" also matches before a trailing newline
            raise ProjectError(f"project id {project_id!r} must be 1-63 lowercase letters, digits, '-' or '_', "
                               "starting with a letter or digit")
        check_retention(retention_days)
        if self.get_project(project_id) is not None:
            raise ProjectError(f"project {project_id!r} already exists")
        project = Project(project_id, name or project_id, _now(), retention_days)
        self._put_project(project, deleted=False, tag="projects.create")
        return project

    def update_project(self, project_id: str, *, name: str | None = None, retention_days: int | None = None
                       ) -> Project:
        """Change a project's name and/or retention (days, 0: forever; None: unchanged); returns the project as
        it now is. Raises NotFound, or ProjectError for an empty name or an invalid retention (nothing written)."""
        if retention_days is not None:
            check_retention(retention_days)
        if name is not None and not name.strip():
            raise ProjectError("a project's name cannot be empty")
        project = self.get_project(project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id!r}")
        updated = Project(project_id, project.name if name is None else name, project.created_at,
                          project.retention_days if retention_days is None else retention_days)
        if updated != project:
            self._put_project(updated, deleted=False, tag="projects.update")
        return updated

    def delete_project(self, project_id: str) -> None:
        """Delete a project, revoke its keys and delete its data. Raises NotFound."""
        project = self.get_project(project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id!r}")
        for key in self.list_keys(project_id):
            if not key.revoked:
                self.revoke_key(key.key_id)
        self._put_project(project, deleted=True, tag="projects.delete")
        for table in DATA_TABLES:
            self.store.command(f"DELETE FROM {{db}}.{table} WHERE project_id = {{project_id:String}}",
                               {"project_id": project_id}, tag="projects.delete_data")

    # keys
    def create_key(self, project_id: str, name: str | None = None, *, scope: str = scopes.ALL,
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """Create a key for an existing project with ``scope`` (:data:`threadline.auth.scopes.SCOPES`), valid until
        ``expires_at`` (aware; None: never); returns the stored key and its secret (shown once). Raises NotFound
        when the project does not exist, ProjectError for an unknown scope or an expiry not in the future."""
        try:
            scopes.check_name(scope)
        except ValueError as exc:
            raise ProjectError(str(exc)) from None
        created = _now()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ProjectError("the expiry needs a time zone (e.g. 2027-01-01T00:00:00Z)")
            expires_at = expires_at.astimezone(UTC).replace(microsecond=expires_at.microsecond // 1000 * 1000)
            if expires_at <= created:
                raise ProjectError(f"the expiry {expires_at:%Y-%m-%d %H:%M:%S} UTC is not in the future")
        if self.get_project(project_id) is None:
            raise NotFound(f"there is no project {project_id!r}; create it first (threadline projects create)")
        new = tokens.generate()
        record = KeyRecord(new.key_id, project_id, new.salt, new.secret_hash, scope, expires_at)
        self._put_key(record, name or "", created, revoked=False, tag="keys.create")
        return ApiKey(new.key_id, project_id, name or "", created, None, False, scope, expires_at), new.secret

    def _put_key(self, key: KeyRecord, name: str, created_at: datetime, *, revoked: bool, tag: str) -> None:
        """Write a key's row with a new version."""
        self.store.insert("api_keys", pa.table({
            "key_id": [key.key_id], "project_id": [key.project_id], "name": [name], "salt": [key.salt],
            "secret_hash": [key.secret_hash], "created_at": _ms(created_at),
            "revoked": pa.array([int(revoked)], pa.uint8()), "version": self._version(),
            "scope": [key.scope], "expires_at": pa.array([key.expires_at], pa.timestamp("ms", tz="UTC"))}), tag=tag)

    def list_keys(self, project_id: str | None = None) -> list[ApiKey]:
        """Keys (of one project, or all), newest first, with their last use, scope and expiry."""
        rows = self.store.select(
            "SELECT k.key_id AS key_id, k.project_id AS project_id, k.name AS name, k.created_at AS created_at, "
            "k.revoked AS revoked, k.scope AS scope, k.expires_at AS expires_at, "
            "u.last_used_at AS last_used_at, u.key_id != '' AS used "
            "FROM {db}.api_keys AS k FINAL "
            "LEFT JOIN (SELECT key_id, max(last_used_at) AS last_used_at FROM {db}.api_key_usage GROUP BY key_id) "
            "AS u ON u.key_id = k.key_id "
            "WHERE {all:UInt8} OR k.project_id = {project_id:String} ORDER BY k.created_at DESC, k.key_id",
            {"all": project_id is None, "project_id": project_id or ""}, tag="keys.list")
        return [ApiKey(r["key_id"], r["project_id"], r["name"], r["created_at"],
                       r["last_used_at"] if r["used"] else None, bool(r["revoked"]), r["scope"],
                       _utc(r["expires_at"])) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key (idempotent). Raises NotFound."""
        rows = self.store.select(
            "SELECT key_id, project_id, name, salt, secret_hash, created_at, scope, expires_at "
            "FROM {db}.api_keys FINAL WHERE key_id = {key_id:String}", {"key_id": key_id}, tag="keys.get")
        if not rows:
            raise NotFound(f"there is no key {key_id!r}")
        row = rows[0]
        record = KeyRecord(key_id, row["project_id"], row["salt"], row["secret_hash"], row["scope"],
                           _utc(row["expires_at"]))
        self._put_key(record, row["name"], row["created_at"], revoked=True, tag="keys.revoke")

    def active_keys(self) -> dict[str, KeyRecord]:
        """Every non-revoked key of a live project, by key id (what the authenticator caches), expired ones
        included (the authenticator refuses them saying when they expired)."""
        rows = self.store.select(
            "SELECT key_id, project_id, salt, secret_hash, scope, expires_at FROM {db}.api_keys FINAL "
            "WHERE revoked = 0 AND project_id IN (SELECT project_id FROM {db}.projects FINAL WHERE deleted = 0)",
            tag="keys.active")
        return {r["key_id"]: KeyRecord(r["key_id"], r["project_id"], r["salt"], r["secret_hash"], r["scope"],
                                       _utc(r["expires_at"])) for r in rows}

    def any_keys(self) -> bool:
        """Whether any key was ever created (then every request needs one)."""
        return bool(self.store.select("SELECT 1 AS one FROM {db}.api_keys LIMIT 1", tag="keys.any"))

    def touch(self, key_ids: dict[str, datetime]) -> None:
        """Record the last use of keys."""
        if key_ids:
            self.store.insert("api_key_usage", pa.table({
                "key_id": list(key_ids), "last_used_at": pa.array(list(key_ids.values()),
                                                                  pa.timestamp("ms", tz="UTC"))}), tag="keys.touch")

    def server_secret(self) -> str:
        """The server's signing secret (32 random bytes, hex), created on first use and shared by every replica
        of the store: the earliest one written wins a creation race."""
        query = ("SELECT argMin(value, (created_at, value)) AS value, count() AS n FROM {db}.server_secrets "
                 "WHERE name = 'session_signing'")
        rows = self.store.select(query, tag="secrets.get")
        if not rows[0]["n"]:
            self.store.insert("server_secrets", pa.table({
                "name": ["session_signing"], "value": [os.urandom(32).hex()], "created_at": _ms(_now())}),
                tag="secrets.create")
            rows = self.store.select(query, tag="secrets.get")
        return str(rows[0]["value"])
