"""What the ``threadline`` commands share: options, settings from flags and environment, failing with a message."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.settings import Settings

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


def settings_from(host: str | None = None, port: int | None = None, data_dir: Path | None = None,
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


def require_queue(settings: Settings) -> str:
    """``settings.queue_url``; exits with a message saying how to set it when there is none."""
    if not settings.queue_url:
        raise fail(ValueError("no queue: pass --queue redis://host:6379/0 or set THREADLINE_QUEUE_URL"))
    return settings.queue_url


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def open_or_exit(settings: Settings) -> Any:
    from threadline.api.app import open_store
    from threadline.store.errors import StoreUnavailable

    try:
        return open_store(settings)
    except (StoreUnavailable, ValueError) as exc:  # ValueError: a database or cluster name that is no identifier
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None




def fail(exc: Exception) -> typer.Exit:
    """Print ``error: <exc>`` to stderr; returns the exit (status 1) to raise."""
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def admin_call(settings: Settings, server: str | None, method: str, path: str, *, purpose: str,
               params: dict[str, str] | None = None) -> Any:
    """Call the admin API (``/v1/admin`` + ``path``) of the server at ``server`` (else ``THREADLINE_SERVER_URL``, else
    ``http://HOST:PORT`` of the settings) with ``THREADLINE_ADMIN_KEY``; returns the decoded JSON answer. ``purpose``
    completes "to <purpose> through it" in the message when no admin key is set. No timeout: a backup or a retention
    pass of a large store takes a while. Raises typer.Exit (status 1, the server's problem detail on stderr)."""
    import os

    import httpx

    key = settings.admin_key.get_secret_value() if settings.admin_key else None
    if not key:
        raise fail(ValueError(f"the data directory is in use by a running server; to {purpose} through it, set "
                              "THREADLINE_ADMIN_KEY for both the server and this command"))
    url = (server or os.environ.get("THREADLINE_SERVER_URL") or f"http://{settings.host}:{settings.port}").rstrip("/")
    try:
        response = httpx.request(method, f"{url}/v1/admin{path}", params=params, timeout=None,
                                 headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise fail(ValueError(f"cannot reach the server's admin API at {url}: {exc}")) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise fail(ValueError(str(detail)))
    return response.json()
