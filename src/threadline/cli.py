"""The ``threadline`` command: serve, migrate, demo."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from threadline.settings import Settings

# rich_markup_mode=None: plain help text; with rich markup the "[env THREADLINE_...; default ...]" notes of the
# options were read as markup tags and vanished from --help.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Threadline: session-first observability for LLM applications and agents.")
log = logging.getLogger("threadline")

HostOpt = Annotated[str | None, typer.Option(help="Address to bind [env THREADLINE_HOST; default 127.0.0.1]")]
PortOpt = Annotated[int | None, typer.Option(help="Port [env THREADLINE_PORT; default 4318]")]
GrpcPortOpt = Annotated[int | None, typer.Option(
    "--grpc-port", help="OTLP/gRPC port on the same host; 0 turns gRPC off [env THREADLINE_GRPC_PORT; default 4317]")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Embedded data directory [env THREADLINE_DATA_DIR; "
                                                      "default ./.threadline]")]
QueueOpt = Annotated[str | None, typer.Option(
    "--queue", help="Redis URL of the ingest queue, redis://host:6379/0 [env THREADLINE_QUEUE_URL; default: none, "
    "commit in-process]")]
ClickhouseOpt = Annotated[str | None, typer.Option(
    "--clickhouse", help="ClickHouse server URL, http://user:pass@host:8123 [env THREADLINE_CLICKHOUSE_URL; "
    "default: the embedded store]")]
ClusterOpt = Annotated[str | None, typer.Option(
    "--cluster", help="ClickHouse cluster name: ON CLUSTER DDL, Replicated* engines [env THREADLINE_CLUSTER]")]
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=0, help="Queue consumers inside this server [env THREADLINE_WORKERS; default 2 on the "
    "embedded store, 0 with --clickhouse]")]


def _print_version(value: bool) -> None:
    """``--version``: print the installed distribution's version and exit 0."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from threadline import __version__

        try:
            installed = version("threadline")
        except PackageNotFoundError:  # run from a source tree that was never installed
            installed = __version__
        typer.echo(f"threadline {installed}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit")] = False) -> None:
    # Typer runs this before any command; --version (eager) exits from its callback before a command is needed.
    pass


def _settings(host: str | None = None, port: int | None = None, data_dir: Path | None = None,
              **flags: Any) -> Settings:
    """Settings from the environment and flags (``flags``: more fields by name; None means unset); an invalid value
    exits with a message naming the variable (never echoing its value, which may be a secret)."""
    from pydantic import ValidationError

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port), ("data_dir", data_dir),
                                                   *flags.items()) if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            name = "THREADLINE_" + "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"error: {name}: {error['msg']}", err=True)
        raise typer.Exit(1) from None


def _require_queue(settings: Settings) -> str:
    """``settings.queue_url``; exits with a message saying how to set it when there is none."""
    if not settings.queue_url:
        raise _fail(ValueError("no queue: pass --queue redis://host:6379/0 or set THREADLINE_QUEUE_URL"))
    return settings.queue_url


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _open_or_exit(settings: Settings) -> Any:
    from threadline.api.app import open_store
    from threadline.store.errors import StoreUnavailable

    try:
        return open_store(settings)
    except (StoreUnavailable, ValueError) as exc:  # ValueError: a database or cluster name that is no identifier
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _server(settings: Settings) -> uvicorn.Server:
    from threadline.api.app import create_app

    # The single writer thread alternates between Python and chDB calls; with decoding threads busy, each return
    # to Python waits up to the GIL switch interval (5 ms by default). 0.5 ms keeps commits from convoying.
    sys.setswitchinterval(0.0005)
    config = uvicorn.Config(create_app(settings, _open_or_exit(settings)), host=settings.host, port=settings.port,
                            log_level=settings.log_level.lower(), access_log=False)
    return uvicorn.Server(config)


def _announce(settings: Settings) -> None:
    from threadline.grpc.server import listen_address
    from threadline.queue.connection import redacted

    base = f"http://{settings.host}:{settings.port}"
    # The ClickHouse URL may carry a password (http://user:pass@host:8123): logged without it.
    where = (redacted(settings.clickhouse_url) if settings.clickhouse_url
             else f"embedded chDB at {settings.data_dir.resolve()}")
    grpc = f"http://{listen_address(settings.host, settings.grpc_port)}" if settings.grpc_port else "off"
    log.info("Threadline serving on %s  (dashboard: %s/, OTLP: %s/v1/traces, OTLP/gRPC: %s, sessions: "
             "%s/v1/sessions, docs: %s/docs; store: %s)", base, base, base, grpc, base, base, where)


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, data_dir: DataDirOpt = None, queue: QueueOpt = None,
          clickhouse: ClickhouseOpt = None, cluster: ClusterOpt = None, workers: WorkersOpt = None,
          grpc_port: GrpcPortOpt = None) -> None:
    """Run the server: OTLP/HTTP, OTLP/gRPC and native ingest, the sessions API. Opens (creating and migrating)
    the store. With --queue, ingest goes through Redis Streams (see docs/scaling-out.md)."""
    settings = _settings(host, port, data_dir, queue_url=queue, clickhouse_url=clickhouse, cluster=cluster,
                         workers=workers, grpc_port=grpc_port)
    _configure_logging(settings.log_level)
    server = _server(settings)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        if server.started:
            _announce(settings)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
    if not server.started:
        raise typer.Exit(1)


@app.command()
def worker(queue: QueueOpt = None, clickhouse: ClickhouseOpt = None, cluster: ClusterOpt = None,
           data_dir: DataDirOpt = None,
           consumers: Annotated[int, typer.Option(
               min=1, help="Consumer threads in this process; default 2 (two overlap one's insert with the other's "
               "rollups)")] = 2,
           metrics_port: Annotated[int | None, typer.Option(
               help="Serve Prometheus metrics on this port (all interfaces)")] = None) -> None:
    """Consume the ingest queue into the store until SIGTERM or Ctrl-C (then finish and acknowledge the current
    batch). Without --clickhouse it writes to the embedded data directory, which no server may hold meanwhile."""
    from threadline.queue.runner import run_workers
    from threadline.store.migrations import migrate as apply

    settings = _settings(data_dir=data_dir, queue_url=queue, clickhouse_url=clickhouse, cluster=cluster)
    _configure_logging(settings.log_level)
    _require_queue(settings)
    store = _open_or_exit(settings)
    apply(store)  # idempotent; a worker may start before any API replica did
    run_workers(settings, store, consumers, metrics_port)


@app.command()
def migrate(data_dir: DataDirOpt = None, clickhouse: ClickhouseOpt = None, cluster: ClusterOpt = None) -> None:
    """Apply pending schema migrations (the server also applies them on start)."""
    from threadline.store.errors import StoreError
    from threadline.store.migrations import migrate as apply

    settings = _settings(data_dir=data_dir)
    flags = {name: value for name, value in (("clickhouse_url", clickhouse), ("cluster", cluster)) if value is not None}
    settings = settings.model_copy(update=flags)  # the store validates the cluster name (_open_or_exit reports it)
    _configure_logging(settings.log_level)
    store = _open_or_exit(settings)
    try:
        applied = apply(store)
    except StoreError as exc:  # e.g. a database created for the other layout (single server / cluster)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.version}: {m.name}" for m in applied))


@app.command()
def demo(host: HostOpt = None, port: PortOpt = None, data_dir: DataDirOpt = None, grpc_port: GrpcPortOpt = None,
         sessions: Annotated[int, typer.Option(min=1, help="Number of sessions to generate")] = 500,
         seed: Annotated[int, typer.Option(help="Random seed of the generated data")] = 7,
         api_key: Annotated[str | None, typer.Option(
             envvar="THREADLINE_API_KEY", help="Key to send the demo data with, once keys exist [env "
             "THREADLINE_API_KEY]")] = None) -> None:
    """Start the server, load realistic demo sessions through the real OTLP path, then keep serving."""
    from threadline.demo.generator import DemoExportError, generate_and_send

    settings = _settings(host, port, data_dir, grpc_port=grpc_port)
    _configure_logging(settings.log_level)
    server = _server(settings)
    thread = threading.Thread(target=server.run, name="threadline-server", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise typer.Exit(1)
        time.sleep(0.05)
    base = f"http://{settings.host}:{settings.port}"
    try:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        summary = generate_and_send(base, sessions=sessions, seed=seed, headers=headers)
    except DemoExportError as exc:
        typer.echo(f"loading the demo data failed: {exc}", err=True)
        server.should_exit = True
        thread.join()
        raise typer.Exit(1) from None
    typer.echo(f"loaded {summary.sessions} sessions, {summary.traces} traces, {summary.spans} spans")
    _announce(settings)
    typer.echo(f"open {base}/ in a browser, or try: curl '{base}/v1/sessions?limit=5'")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join()


projects_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create, list and delete projects.")
keys_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Create, list and revoke API keys.")
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
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

    settings = _settings(data_dir=data_dir)
    try:
        store = open_store(settings)
    except StoreUnavailable:
        if settings.clickhouse_url:
            raise
        url = server or os.environ.get("THREADLINE_SERVER_URL") or f"http://{settings.host}:{settings.port}"
        return RemoteProjects(url, settings.admin_key.get_secret_value() if settings.admin_key else None)
    apply(store)
    return ProjectRepository(store)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


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
        raise _fail(exc) from None
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
        raise _fail(exc) from None
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
        raise _fail(exc) from None
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
        raise _fail(exc) from None
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
        raise _fail(exc) from None
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
        raise _fail(exc) from None
    typer.echo(f"revoked key {key_id}")


dlq_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                      help="Inspect, retry or drop batches in the ingest queue's dead-letter stream.")
app.add_typer(dlq_app, name="dlq")
DlqIdsArg = Annotated[list[str] | None, typer.Argument(help="dead-letter entry ids (from `threadline dlq list`)")]
AllOpt = Annotated[bool, typer.Option("--all", help="every dead-lettered batch")]


def _dlq(queue: str | None) -> Any:
    from threadline.queue.connection import sync_client
    from threadline.queue.pool import queue_keys

    settings = _settings(queue_url=queue)
    return sync_client(_require_queue(settings)), queue_keys(settings)


def _dlq_ids(ids: list[str] | None, every: bool) -> list[str] | None:
    if bool(ids) == every:
        raise _fail(ValueError("name dead-letter entry ids, or pass --all"))
    return None if every else ids


@dlq_app.command("list")
def dlq_list(queue: QueueOpt = None,
             limit: Annotated[int, typer.Option(min=1, help="show at most this many, oldest first")] = 100) -> None:
    """List dead-lettered batches: where they came from, span count, deliveries, when and why they failed."""
    import datetime

    import redis
    from rich.console import Console
    from rich.table import Table

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    try:
        letters = dlq.list_letters(client, keys, limit)
        total = dlq.size(client, keys)
    except redis.RedisError as exc:
        raise _fail(exc) from None
    table = Table("dlq id", "stream", "entry id", "spans", "deliveries", "failed (UTC)", "error")
    for letter in letters:
        when = datetime.datetime.fromtimestamp(letter.failed_at_ms / 1000, datetime.UTC)
        table.add_row(letter.dlq_id, letter.stream, letter.entry_id, str(letter.spans), str(letter.attempts),
                      when.strftime("%Y-%m-%d %H:%M:%S"), letter.error[:200])
    Console().print(table)
    typer.echo(f"{total} batch(es) in {keys.dlq}")


@dlq_app.command("retry")
def dlq_retry(ids: DlqIdsArg = None, every: AllOpt = False, queue: QueueOpt = None) -> None:
    """Put dead-lettered batches back on their streams for the workers (with fresh delivery attempts)."""
    import redis

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    try:
        count = dlq.retry(client, keys, _dlq_ids(ids, every))
    except KeyError as exc:
        raise _fail(ValueError(f"no dead-lettered batch has id {exc.args[0]}; see `threadline dlq list`")) from None
    except redis.RedisError as exc:
        raise _fail(exc) from None
    typer.echo(f"requeued {count} batch(es)")


@dlq_app.command("drop")
def dlq_drop(ids: DlqIdsArg = None, every: AllOpt = False, queue: QueueOpt = None,
             yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete dead-lettered batches for good (their spans are never stored)."""
    import redis

    from threadline.queue import dlq

    client, keys = _dlq(queue)
    selected = _dlq_ids(ids, every)
    if not yes:
        typer.confirm(f"Delete {'every' if selected is None else len(selected)} dead-lettered batch(es) for good?",
                      abort=True)
    try:
        count = dlq.drop(client, keys, selected)
    except KeyError as exc:
        raise _fail(ValueError(f"no dead-lettered batch has id {exc.args[0]}; see `threadline dlq list`")) from None
    except redis.RedisError as exc:
        raise _fail(exc) from None
    typer.echo(f"dropped {count} batch(es)")


def main() -> None:
    """Console-script entry point."""
    app()
