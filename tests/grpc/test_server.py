"""The gRPC listener's life: started with the app on its own port, off with port 0, and a port it cannot bind fails
the server's start instead of being shared."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import free_port, start_server, stop_server
from grpc_helpers import session_spans, unique
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from threadline.grpc.server import listen_address
from threadline.store.gateway import Store
from threadline.store.migrations import migrate


@pytest.fixture(scope="module")
def store(chdb_dir: Path) -> Iterator[Store]:
    opened = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(opened)
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def test_port_0_turns_the_receiver_off(store: Store) -> None:
    live = start_server(store, grpc_port=0)
    try:
        with live.client() as http:
            assert http.get("/readyz").json()["grpc"] == "off"
    finally:
        stop_server(live)


# uvicorn ends its thread with SystemExit(3) when the lifespan's start fails: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_port_in_use_fails_the_start_and_a_stopped_server_frees_its_port(store: Store) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(RuntimeError, match="did not start"):
            start_server(store, grpc_port=port)
    live = start_server(store, grpc_port=port)  # free again: starts
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            TraceServiceStub(channel).Export(session_spans(unique("port")), timeout=30)
    finally:
        stop_server(live)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # the stopped receiver released it


@pytest.mark.parametrize(("host", "address"), [("127.0.0.1", "127.0.0.1:4317"), ("0.0.0.0", "0.0.0.0:4317"),
                                               ("::1", "[::1]:4317"), ("localhost", "localhost:4317")])
def test_listen_address(host: str, address: str) -> None:
    assert listen_address(host, 4317) == address
