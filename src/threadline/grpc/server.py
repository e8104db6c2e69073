"""The OTLP/gRPC listener: a ``grpc.aio`` server on the running event loop (uvicorn's), started and stopped by the
app's lifespan beside the HTTP server.

Plain (insecure) HTTP/2 on the HTTP server's host, as OTLP exporters expect of ``http://host:4317``; put TLS in
front, as for the HTTP port. Requests may be gzip-compressed (grpc's message compression: ``grpc-encoding: gzip``).
Messages up to ``THREADLINE_MAX_BODY_BYTES`` are accepted (grpc's default is 4 MiB; larger ones get
``RESOURCE_EXHAUSTED`` from grpc itself).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from threadline.api.state import AppState
from threadline.grpc.services import OtlpServices

log = logging.getLogger("threadline.grpc")
SHUTDOWN_GRACE_S = 15.0  # in-flight exports finish (their commits take milliseconds) before the writer stops


class GrpcBindError(RuntimeError):
    """The gRPC port cannot be bound (in use, or a host this machine does not have)."""


def listen_address(host: str, port: int) -> str:
    """``host:port`` as grpc wants it (an IPv6 literal in brackets)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class GrpcReceiver:
    """The running OTLP/gRPC server of one app. ``port``: the bound port."""

    def __init__(self, server: Any, port: int) -> None:
        self._server = server
        self.port = port

    async def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Refuse new calls, let in-flight ones finish for up to ``grace_s`` seconds, then cancel the rest."""
        await self._server.stop(grace_s)


async def start_receiver(state: AppState) -> GrpcReceiver:
    """Bind ``state.settings.grpc_port`` on ``state.settings.host`` and start serving the OTLP services on the
    running event loop. Raises GrpcBindError naming the port and how to change it."""
    settings = state.settings
    server = grpc.aio.server(options=[
        # grpc sets SO_REUSEPORT by default: a second server on the same port would then start and silently share
        # the connections; a port in use must fail instead, like the HTTP port.
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", settings.max_body_bytes),
    ])
    server.add_generic_rpc_handlers(OtlpServices(state).handlers())
    address = listen_address(settings.host, settings.grpc_port)
    refused = GrpcBindError(f"cannot listen for OTLP/gRPC on {address}: the port is in use, or the host is no "
                            "address of this machine (grpc logged why); set --grpc-port / THREADLINE_GRPC_PORT to a "
                            "free port, or to 0 to turn the gRPC receiver off")
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpc >= 1.65 raises where older versions returned 0
        raise refused from None
    if not port:
        raise refused
    await server.start()
    log.debug("OTLP/gRPC listening on %s", address)
    return GrpcReceiver(server, port)
