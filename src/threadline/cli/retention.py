"""``threadline retention run``: delete what is older than each project's retention window, now."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from threadline.cli.common import DataDirOpt, admin_call, fail, settings_from

retention_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                            help="Apply the projects' retention windows (set with `threadline projects update P "
                            "--retention-days N`).")
ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="Run the pass in this running server (without it: on the data directory itself, or in the "
    "server that owns it, THREADLINE_SERVER_URL or http://HOST:PORT of the settings)")]


def _here(settings: Any, project: str | None) -> list[dict[str, Any]]:
    """The pass run by this process on a store it opened itself."""
    from threadline.api.app import open_store
    from threadline.auth.repository import ProjectRepository
    from threadline.store.migrations import migrate
    from threadline.writer.commit import BatchCommitter
    from threadline.writer.retention import run_retention, windows_of

    store = open_store(settings)  # StoreUnavailable: a server owns the data directory
    migrate(store)
    projects = ProjectRepository(store)
    if project is not None and projects.get_project(project) is None:
        raise fail(ValueError(f"there is no project {project!r}"))
    if settings.queue_url:  # queue workers write rollups too: take their Redis locks
        from threadline.queue.pool import guarded_committer

        committer = guarded_committer(store, settings)
    else:
        committer = BatchCommitter(store)
    return [vars(r) for r in run_retention(store, committer, windows_of(projects.list_projects(), project))]


@retention_app.command("run")
def retention_run(project: Annotated[str | None, typer.Option("--project", help="only this project")] = None,
                  data_dir: DataDirOpt = None, server: ServerOpt = None) -> None:
    """Run the retention pass now: every project with a window loses its traces (whole), logs and finished jobs
    older than the window; sessions that lose traces are recomputed from what remains."""
    from rich.console import Console
    from rich.table import Table

    from threadline.store.errors import StoreError, StoreUnavailable

    settings = settings_from(data_dir=data_dir)
    params = {"project_id": project} if project else None
    results: list[dict[str, Any]]
    try:
        if server:  # asked for by name: never a store this process happens to be able to open
            results = admin_call(settings, server, "POST", "/retention", purpose="run the pass", params=params)
        else:
            try:
                results = _here(settings, project)
            except StoreUnavailable:
                if settings.clickhouse_url:
                    raise
                results = admin_call(settings, None, "POST", "/retention", purpose="run the pass", params=params)
    except StoreError as exc:
        raise fail(exc) from None
    table = Table("project", "window", "cutoff (UTC)", "traces removed", "sessions recomputed", "sessions emptied",
                  "time (s)")
    for r in results:
        table.add_row(r["project_id"], f"{r['retention_days']} days", str(r["cutoff"])[:19], str(r["traces_removed"]),
                      str(r["sessions_recomputed"]), str(r["sessions_emptied"]), f"{r['duration_s']:.1f}")
    Console().print(table)
    if not results:
        typer.echo("no project has a retention window (set one: threadline projects update P --retention-days N)")
