"""The ``threadline`` command: serve, worker, migrate, demo; projects/keys in :mod:`.admin`, dlq in :mod:`.dlq`."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Annotated

import typer
import uvicorn

from threadline.allocators import tune_allocators
from threadline.cli.common import (
    ClickhouseOpt,
    ClusterOpt,
    DataDirOpt,
    GrpcPortOpt,
    HostOpt,
    PortOpt,
    QueueOpt,
    WorkersOpt,
    configure_logging,
    open_or_exit,
    require_queue,
    settings_from,
)
from threadline.cli.gc_tuning import tune_gc
from threadline.settings import Settings

# rich_markup_mode=None: plain help text; with rich markup the "[env THREADLINE_...; default ...]" notes of the
# options were read as markup tags and vanished from --help.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Threadline: session-first observability for LLM applications and agents.")
log = logging.getLogger("threadline")

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


def _server(settings: Settings) -> uvicorn.Server:
    from threadline.api.app import create_app

    tune_allocators()  # before the store opens and the request threads start

    # The single writer thread alternates between Python and chDB calls; with decoding threads busy, each return
    # to Python waits up to the GIL switch interval (5 ms by default). 0.5 ms keeps commits from convoying.
    sys.setswitchinterval(0.0005)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from loopback peers (FORWARDED_ALLOW_IPS);
    # the app decides whom to believe (THREADLINE_TRUSTED_PROXIES, threadline.api.proxies).
    config = uvicorn.Config(create_app(settings, open_or_exit(settings)), host=settings.host, port=settings.port,
                            log_level=settings.log_level.lower(), access_log=False, proxy_headers=False)
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
    settings = settings_from(host, port, data_dir, queue_url=queue, clickhouse_url=clickhouse, cluster=cluster,
                         workers=workers, grpc_port=grpc_port)
    configure_logging(settings.log_level)
    server = _server(settings)
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        if server.started:
            _announce(settings)

    server.startup = startup  # type: ignore[method-assign]
    tune_gc()
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

    settings = settings_from(data_dir=data_dir, queue_url=queue, clickhouse_url=clickhouse, cluster=cluster)
    configure_logging(settings.log_level)
    require_queue(settings)
    tune_allocators()
    tune_gc()  # before the store opens: chDB's session must not be frozen (it is torn down at exit)
    store = open_or_exit(settings)
    apply(store)  # idempotent; a worker may start before any API replica did
    run_workers(settings, store, consumers, metrics_port)


@app.command()
def migrate(data_dir: DataDirOpt = None, clickhouse: ClickhouseOpt = None, cluster: ClusterOpt = None,
            dry_run: Annotated[bool, typer.Option(
                "--dry-run", help="Print the pending migrations and their SQL; change nothing")] = False) -> None:
    """Apply pending schema migrations (the server also applies them on start)."""
    from threadline.store.errors import StoreError
    from threadline.store.migrations import migrate as apply

    settings = settings_from(data_dir=data_dir)
    flags = {name: value for name, value in (("clickhouse_url", clickhouse), ("cluster", cluster)) if value is not None}
    settings = settings.model_copy(update=flags)  # the store validates the cluster name (_open_or_exit reports it)
    configure_logging(settings.log_level)
    if dry_run:
        return _backup_commands.dry_run(settings)
    store = open_or_exit(settings)
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

    settings = settings_from(host, port, data_dir, grpc_port=grpc_port)
    configure_logging(settings.log_level)
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


from threadline.cli import admin as _admin_commands  # noqa: E402  (the sub-commands register on import)
from threadline.cli import backup as _backup_commands  # noqa: E402
from threadline.cli import dlq as _dlq_commands  # noqa: E402
from threadline.cli import retention as _retention_commands  # noqa: E402

app.add_typer(_admin_commands.projects_app, name="projects")
app.add_typer(_admin_commands.keys_app, name="keys")
app.add_typer(_dlq_commands.dlq_app, name="dlq")
app.command()(_backup_commands.backup)
app.command()(_backup_commands.restore)
app.add_typer(_retention_commands.retention_app, name="retention")


def main() -> None:
    """Console-script entry point."""
    app()
