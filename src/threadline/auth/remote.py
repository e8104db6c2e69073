"""Project and key administration over a running server's admin API (``/v1/admin``), for the CLI.

An embedded server owns its data directory, so while it runs the CLI changes projects and keys through it. Mirrors
:class:`threadline.auth.repository.ProjectRepository`'s methods and results.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from threadline.auth.repository import ApiKey, NotFound, Project, ProjectError


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _project(doc: dict[str, Any]) -> Project:
    return Project(doc["project_id"], doc["name"], datetime.fromisoformat(doc["created_at"]),
                   int(doc.get("retention_days", 0)))


def _key(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(doc["key_id"], doc["project_id"], doc["name"], datetime.fromisoformat(doc["created_at"]),
                  _when(doc.get("last_used_at")), bool(doc["revoked"]), doc.get("scope", "all"),
                  _when(doc.get("expires_at")))


class RemoteProjects:
    """Admin API client. Raises ProjectError / NotFound for refused operations, ProjectError when the server
    cannot be reached or refuses the admin key."""

    def __init__(self, server_url: str, admin_key: str | None) -> None:
        if not admin_key:
            raise ProjectError("the data directory is in use by a running server; to change projects and keys "
                               "through it, set THREADLINE_ADMIN_KEY for both the server and this command")
        self._http = httpx.Client(base_url=server_url.rstrip("/") + "/v1/admin", timeout=60,
                                  headers={"Authorization": f"Bearer {admin_key}"})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProjectError(f"cannot reach the server's admin API at {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise (NotFound if response.status_code == 404 else ProjectError)(str(detail))
        return response.json() if response.content else None

    def list_projects(self) -> list[Project]:
        """Every live project."""
        return [_project(p) for p in self._call("GET", "/projects")]

    def create_project(self, project_id: str, name: str | None = None, *, retention_days: int = 0) -> Project:
        """Create a project keeping ``retention_days`` days of data (0: forever)."""
        return _project(self._call("POST", "/projects", json={"project_id": project_id, "name": name,
                                                              "retention_days": retention_days}))

    def update_project(self, project_id: str, *, name: str | None = None, retention_days: int | None = None
                       ) -> Project:
        """Change a project's name and/or retention (None: unchanged); returns the project as it now is."""
        return _project(self._call("PATCH", f"/projects/{quote(project_id, safe='')}",
                                   json={"name": name, "retention_days": retention_days}))

    def delete_project(self, project_id: str) -> None:
        """Delete a project with its keys and data."""
        self._call("DELETE", f"/projects/{quote(project_id, safe='')}")

    def list_keys(self, project_id: str | None = None) -> list[ApiKey]:
        """Keys, newest first."""
        params = {"project_id": project_id} if project_id else {}
        return [_key(k) for k in self._call("GET", "/keys", params=params)]

    def create_key(self, project_id: str, name: str | None = None, *, scope: str = "all",
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """Create a key with ``scope``, expiring at ``expires_at`` (aware; None: never); returns it with its
        secret."""
        doc = self._call("POST", "/keys", json={"project_id": project_id, "name": name, "scope": scope,
                                                "expires_at": expires_at.isoformat() if expires_at else None})
        return _key(doc), str(doc["secret"])

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key."""
        self._call("DELETE", f"/keys/{quote(key_id, safe='')}")
