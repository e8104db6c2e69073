"""The ``threadline`` command: serve, migrate, demo."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from threadline.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Threadline: session-first observability for LLM applications and agents.")
log = logging.getLogger("threadline")

HostOpt = Annotated[str | None, typer.Option(help="Address to bind [env THREADLINE_HOST; default 127.0.0.1]")]
PortOpt = Annotated[int | None, typer.Option(help="Port [env THREADLINE_PORT; default 4318]")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Embedded data directory [env THREADLINE_DATA_DIR; "
                                                      "default ./.threadline]")]


def _settings(host: str | None = None, port: int | None = None, data_dir: Path | None = None) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port), ("data_dir", data_dir))
                                 if v is not None}
    return Settings(**overrides)


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _server(settings: Settings) -> uvicorn.Server:
    from threadline.api.app import create_app

    # The single writer thread alternates between Python and chDB calls; with decoding threads busy, each return
    # to Python waits up to the GIL switch interval (5 ms by default). 0.5 ms keeps commits from convoying.
    sys.setswitchinterval(0.0005)
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_level=settings.log_level.lower(), access_log=False)
    return uvicorn.Server(config)


def _announce(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    where = settings.clickhouse_url or f"embedded chDB at {settings.data_dir.resolve()}"
    log.info("Threadline serving on %s  (OTLP: %s/v1/traces, sessions: %s/v1/sessions, docs: %s/docs; store: %s)",
             base, base, base, base, where)


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, data_dir: DataDirOpt = None) -> None:
    """Run the server: OTLP/HTTP and native ingest, the sessions API. Opens (creating and migrating) the store."""
    settings = _settings(host, port, data_dir)
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
def migrate(data_dir: DataDirOpt = None) -> None:
    """Apply pending schema migrations (the server also applies them on start)."""
    from threadline.api.app import open_store
    from threadline.store.migrations import migrate as apply

    settings = _settings(data_dir=data_dir)
    _configure_logging(settings.log_level)
    applied = apply(open_store(settings))
    typer.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.version}: {m.name}" for m in applied))


@app.command()
def demo(host: HostOpt = None, port: PortOpt = None, data_dir: DataDirOpt = None,
         sessions: Annotated[int, typer.Option(min=1, help="Number of sessions to generate")] = 500,
         seed: Annotated[int, typer.Option(help="Random seed of the generated data")] = 7) -> None:
    """Start the server, load realistic demo sessions through the real OTLP path, then keep serving."""
    from threadline.demo.generator import DemoExportError, generate_and_send

    settings = _settings(host, port, data_dir)
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
        summary = generate_and_send(base, sessions=sessions, seed=seed)
    except DemoExportError as exc:
        typer.echo(f"loading the demo data failed: {exc}", err=True)
        server.should_exit = True
        thread.join()
        raise typer.Exit(1) from None
    typer.echo(f"loaded {summary.sessions} sessions, {summary.traces} traces, {summary.spans} spans")
    _announce(settings)
    typer.echo(f"try: curl '{base}/v1/sessions?limit=5'")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join()


def main() -> None:
    """Console-script entry point."""
    app()
