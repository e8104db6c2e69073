"""Projects and API keys in the store (tables ``projects``, ``api_keys``, ``api_key_usage``, ``server_secrets``)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from threadline.auth import tokens
from threadline.store.gateway import Store

PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_PROJECT = "default"
DATA_TABLES = ("spans", "trace_sessions", "trace_rollups", "session_rollups", "session_annotations", "scores", "logs",
               "jobs", "deleted_session_traces", "trace_state")


class ProjectError(ValueError):
    """A project or key operation the caller asked for cannot be done; the message says why."""


class NotFound(ProjectError):
    """The named project or key does not exist."""


@dataclass(frozen=True)
class Project:
    """A project: tenant boundary; ``project_id`` is a slug (lowercase letters, digits, ``-``, ``_``)."""

    project_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the secret): id, project, name, times (UTC), revoked flag."""

    key_id: str
    project_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class KeyRecord:
    """What authentication needs of a key."""

    key_id: str
    project_id: str
    salt: str
    secret_hash: str


def _ms(moment: datetime) -> pa.Array:
    return pa.array([moment], pa.timestamp("ms", tz="UTC"))


def _now() -> datetime:
    return datetime.now(UTC)


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
            "SELECT project_id, name, created_at FROM {db}.projects FINAL WHERE deleted = 0 ORDER BY project_id",
            tag="projects.list")
        return [Project(r["project_id"], r["name"], r["created_at"]) for r in rows]

    def get_project(self, project_id: str) -> Project | None:
        """A live project, or None."""
        rows = self.store.select(
            "SELECT project_id, name, created_at FROM {db}.projects FINAL "
            "WHERE project_id = {project_id:String} AND deleted = 0", {"project_id": project_id},
            tag="projects.get")
        return Project(rows[0]["project_id"], rows[0]["name"], rows[0]["created_at"]) if rows else None

    def create_project(self, project_id: str, name: str | None = None) -> Project:
        """Create a project. Raises ProjectError for an invalid or existing id."""
        if not PROJECT_ID.fullmatch(project_id):  # not .match: "$" also matches before a trailing newline
            raise ProjectError(f"project id {project_id!r} must be 1-63 lowercase letters, digits, '-' or '_', "
                               "starting with a letter or digit")
        if self.get_project(project_id) is not None:
            raise ProjectError(f"project {project_id!r} already exists")
        created = _now()
        self.store.insert("projects", pa.table({
            "project_id": [project_id], "name": [name or project_id], "created_at": _ms(created),
            "deleted": pa.array([0], pa.uint8()), "version": self._version()}), tag="projects.create")
        return Project(project_id, name or project_id, created)

    def delete_project(self, project_id: str) -> None:
        """Delete a project, revoke its keys and delete its data. Raises NotFound."""
        project = self.get_project(project_id)
        if project is None:
            raise NotFound(f"there is no project {project_id!r}")
        for key in self.list_keys(project_id):
            if not key.revoked:
                self.revoke_key(key.key_id)
        self.store.insert("projects", pa.table({
            "project_id": [project_id], "name": [project.name], "created_at": _ms(project.created_at),
            "deleted": pa.array([1], pa.uint8()), "version": self._version()}), tag="projects.delete")
        for table in DATA_TABLES:
            self.store.command(f"DELETE FROM {{db}}.{table} WHERE project_id = {{project_id:String}}",
                               {"project_id": project_id}, tag="projects.delete_data")

    # keys
    def create_key(self, project_id: str, name: str | None = None) -> tuple[ApiKey, str]:
        """Create a key for an existing project; returns the stored key and its secret (shown once).
        Raises NotFound when the project does not exist."""
        if self.get_project(project_id) is None:
            raise NotFound(f"there is no project {project_id!r}; create it first (threadline projects create)")
        new = tokens.generate()
        created = _now()
        self.store.insert("api_keys", pa.table({
            "key_id": [new.key_id], "project_id": [project_id], "name": [name or ""], "salt": [new.salt],
            "secret_hash": [new.secret_hash], "created_at": _ms(created), "revoked": pa.array([0], pa.uint8()),
            "version": self._version()}), tag="keys.create")
        return ApiKey(new.key_id, project_id, name or "", created, None, False), new.secret

    def list_keys(self, project_id: str | None = None) -> list[ApiKey]:
        """Keys (of one project, or all), newest first, with their last use."""
        rows = self.store.select(
            "SELECT k.key_id AS key_id, k.project_id AS project_id, k.name AS name, k.created_at AS created_at, "
            "k.revoked AS revoked, u.last_used_at AS last_used_at, u.key_id != '' AS used "
            "FROM {db}.api_keys AS k FINAL "
            "LEFT JOIN (SELECT key_id, max(last_used_at) AS last_used_at FROM {db}.api_key_usage GROUP BY key_id) "
            "AS u ON u.key_id = k.key_id "
            "WHERE {all:UInt8} OR k.project_id = {project_id:String} ORDER BY k.created_at DESC, k.key_id",
            {"all": project_id is None, "project_id": project_id or ""}, tag="keys.list")
        return [ApiKey(r["key_id"], r["project_id"], r["name"], r["created_at"],
                       r["last_used_at"] if r["used"] else None, bool(r["revoked"])) for r in rows]

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key (idempotent). Raises NotFound."""
        rows = self.store.select(
            "SELECT key_id, project_id, name, salt, secret_hash, created_at FROM {db}.api_keys FINAL "
            "WHERE key_id = {key_id:String}", {"key_id": key_id}, tag="keys.get")
        if not rows:
            raise NotFound(f"there is no key {key_id!r}")
        row = rows[0]
        self.store.insert("api_keys", pa.table({
            "key_id": [key_id], "project_id": [row["project_id"]], "name": [row["name"]], "salt": [row["salt"]],
            "secret_hash": [row["secret_hash"]], "created_at": _ms(row["created_at"]),
            "revoked": pa.array([1], pa.uint8()), "version": self._version()}), tag="keys.revoke")

    def active_keys(self) -> dict[str, KeyRecord]:
        """Every non-revoked key of a live project, by key id (what the authenticator caches)."""
        rows = self.store.select(
            "SELECT key_id, project_id, salt, secret_hash FROM {db}.api_keys FINAL WHERE revoked = 0 "
            "AND project_id IN (SELECT project_id FROM {db}.projects FINAL WHERE deleted = 0)", tag="keys.active")
        return {r["key_id"]: KeyRecord(r["key_id"], r["project_id"], r["salt"], r["secret_hash"]) for r in rows}

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
