"""``threadline projects|keys``: projects and API keys, in the store or through a running server's admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.cli.common import DataDirOpt, fail, settings_from

projects_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create, list and delete projects.")
keys_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create, list and revoke API keys.")
ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="Running server to administer through when it owns the data directory "
    "[env THREADLINE_SERVER_URL; default http://HOST:PORT of the settings]")]


def _admin(data_dir: Path | None, server: str | None) -> Any:
    """The store itself when this process can open it, else the running server's admin API."""
    from threadline.api.app import open_store
    from threadline.auth.remote import RemoteProjects
    from threadline.auth.repository import ProjectRepository
    from threadline.store.errors import StoreUnavailable
    from threadline.store.migrations import migrate as apply

    settings = settings_from(data_dir=data_dir)
    try:
        store = open_store(settings)
    except StoreUnavailable:
        if settings.clickhouse_url:
            raise
        url = server or os.environ.get("THREADLINE_SERVER_URL") or f"http://{settings.host}:{settings.port}"
        return RemoteProjects(url, settings.admin_key.get_secret_value() if settings.admin_key else None)
    apply(store)
    return ProjectRepository(store)


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "never"


@projects_app.command("create")
def projects_create(project_id: Annotated[str, typer.Argument(help="lowercase letters, digits, '-', '_'")],
                    name: Annotated[str | None, typer.Option(help="display name")] = None,
                    data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Create a project."""
    from threadline.auth.repository import ProjectError

    try:
        project = _admin(data_dir, server).create_project(project_id, name)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"created project {project.project_id}")


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
    table = Table("project", "name", "created (UTC)")
    for project in projects:
        table.add_row(project.project_id, project.name, _when(project.created_at))
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
                data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Create an API key; its secret is printed once."""
    from threadline.auth.repository import ProjectError

    try:
        key, secret = _admin(data_dir, server).create_key(project, name)
    except ProjectError as exc:
        raise fail(exc) from None
    typer.echo(f"created key {key.key_id} for project {key.project_id}; its secret is shown only now:")
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
    table = Table("key id", "project", "name", "created (UTC)", "last used (UTC)", "state")
    for key in keys:
        table.add_row(key.key_id, key.project_id, key.name, _when(key.created_at), _when(key.last_used_at),
                      "revoked" if key.revoked else "active")
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
