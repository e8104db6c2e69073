"""``threadline projects|keys``: projects and API keys, in the store or through a running server's admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.cli.common import DataDirOpt, fail, settings_from

projects_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                           help="Create, list, update (name, retention) and delete projects.")
keys_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create, list and revoke API keys.")
ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="Administer through this running server's admin API (without it: the data directory itself, "
    "or the server that owns it, THREADLINE_SERVER_URL or http://HOST:PORT of the settings)")]


def _admin(data_dir: Path | None, server: str | None) -> Any:
    """The running server's admin API when ``server`` is given, else the store itself when this process can open
    it, else the admin API of the server that owns it."""
    from threadline.api.app import open_store
    from threadline.auth.remote import RemoteProjects
    from threadline.auth.repository import ProjectRepository
    from threadline.store.errors import StoreUnavailable
    from threadline.store.migrations import migrate as apply

    settings = settings_from(data_dir=data_dir)
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    if server:  # asked for by name: never a store this process happens to be able to open (./.threadline)
        return RemoteProjects(server, admin_key)
    try:
        store = open_store(settings)
    except StoreUnavailable:
        if settings.clickhouse_url:
            raise
        url = os.environ.get("THREADLINE_SERVER_URL") or f"http://{settings.host}:{settings.port}"
        return RemoteProjects(url, admin_key)
    apply(store)
    return ProjectRepository(store)


RetentionOpt = Annotated[int | None, typer.Option(
    "--retention-days", help="days of data kept; older spans, logs and scores are deleted (0: keep forever)")]


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


def retention_text(days: int) -> str:
    """``forever`` (0) or ``N day(s)``."""
    return "forever" if days == 0 else f"{days} day" if days == 1 else f"{days} days"


def _check_retention(days: int | None) -> None:
    """Exit with the repository's sentence for an invalid retention, before anything is opened or written."""
    from threadline.auth.repository import ProjectError, check_retention

    if days is not None:
        try:
            check_retention(days)
        except ProjectError as exc:
            raise fail(exc) from None


@projects_app.command("create")
def projects_create(project_id: Annotated[str, typer.Argument(help="lowercase letters, digits, '-', '_'")],
                    name: Annotated[str | None, typer.Option(help="display name")] = None,
                    retention_days: RetentionOpt = None,
                    data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Create a project (keeping its data forever unless --retention-days is given)."""
    from threadline.auth.repository import ProjectError

    _check_retention(retention_days)
    try:
        project = _admin(data_dir, server).create_project(project_id, name, retention_days=retention_days or 0)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"created project {project.project_id} (retention: {retention_text(project.retention_days)})")


@projects_app.command("update")
def projects_update(project_id: str, retention_days: RetentionOpt = None,
                    name: Annotated[str | None, typer.Option(help="new display name")] = None,
                    data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Change a project's retention (--retention-days N, 0: keep forever) and/or display name."""
    from threadline.auth.repository import ProjectError

    if retention_days is None and name is None:
        raise fail(ValueError("nothing to change: pass --retention-days N and/or --name NAME"))
    _check_retention(retention_days)
    try:
        project = _admin(data_dir, server).update_project(project_id, name=name, retention_days=retention_days)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"updated project {project.project_id}: name {project.name!r}, retention "
               f"{retention_text(project.retention_days)}")


@projects_app.command("list")
def projects_list(data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """List projects."""
    from rich.console import Console
    from rich.table import Table

    from threadline.auth.repository import ProjectError

    try:
        projects = _admin(data_dir, server).list_projects()
    except ProjectError as exc:
        raise fail(exc) from None
    table = Table("project", "name", "created (UTC)", "retention")
    for project in projects:
        table.add_row(project.project_id, project.name, _when(project.created_at),
                      retention_text(project.retention_days))
    Console().print(table)


@projects_app.command("delete")
def projects_delete(project_id: str, yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
                    data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Delete a project: revoke its keys and delete all its data."""
    from threadline.auth.repository import ProjectError

    if not yes:
        typer.confirm(f"Delete project {project_id!r}, its keys and all its data?", abort=True)
    try:
        _admin(data_dir, server).delete_project(project_id)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"deleted project {project_id}")


@keys_app.command("create")
def keys_create(project: Annotated[str, typer.Option("--project", help="project the key acts on")],
                name: Annotated[str | None, typer.Option(help="what the key is for")] = None,
                scope: Annotated[str, typer.Option(
                    help="ingest: send spans and logs only (safe to ship in a front end); read: read only; "
                         "all: everything, including session edits and scores")] = "all",
                expires_in: Annotated[str | None, typer.Option(
                    "--expires-in", help="the key stops working after this long: 30d, 12h, 90m or 3600s "
                                         "[default: never]")] = None,
                data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Create an API key; its secret is printed once."""
    from datetime import UTC, datetime, timedelta

    from threadline.auth.repository import ProjectError
    from threadline.auth.scopes import check_name
    from threadline.cli.durations import parse_duration

    try:  # both checked before the store is opened: a typo writes nothing
        checked = check_name(scope.strip().lower())
        expires_at = datetime.now(UTC) + timedelta(seconds=parse_duration(expires_in)) if expires_in else None
    except ValueError as exc:
        raise fail(exc) from None
    try:
        key, secret = _admin(data_dir, server).create_key(project, name, scope=checked, expires_at=expires_at)
    except ProjectError as exc:
        raise fail(exc) from None
    until = f", expires {_when(key.expires_at)} UTC" if key.expires_at else ""
    typer.echo(f"created key {key.key_id} for project {key.project_id} (scope {key.scope}{until}); its secret is "
               "shown only now:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list(project: Annotated[str | None, typer.Option("--project", help="only this project's")] = None,
              data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """List API keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from threadline.auth.repository import ProjectError

    try:
        keys = _admin(data_dir, server).list_keys(project)
    except ProjectError as exc:
        raise fail(exc) from None
    table = Table("key id", "project", "name", "scope", "created (UTC)", "expires (UTC)", "last used (UTC)",
                  "state")
    for key in keys:
        table.add_row(key.key_id, key.project_id, key.name, key.scope, _when(key.created_at),
                      _when(key.expires_at), _when(key.last_used_at), key.state())
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Revoke an API key (refused within a second everywhere)."""
    from threadline.auth.repository import ProjectError

    try:
        _admin(data_dir, server).revoke_key(key_id)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"revoked key {key_id}")
