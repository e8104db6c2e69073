"""Shared fixtures: real stores (chDB in a temp dir; a ClickHouse server when THREADLINE_TEST_CLICKHOUSE_URL is set),
the real app served over real HTTP by uvicorn, and ``threadline serve`` subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from threadline.api.app import create_app
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

CLICKHOUSE_URL = os.environ.get("THREADLINE_TEST_CLICKHOUSE_URL")
CLICKHOUSE_CLUSTER = os.environ.get("THREADLINE_TEST_CLICKHOUSE_CLUSTER")  # the server's cluster, if any
BACKENDS = ["chdb", pytest.param("clickhouse", marks=pytest.mark.skipif(
    not CLICKHOUSE_URL, reason="set THREADLINE_TEST_CLICKHOUSE_URL to run against a ClickHouse server"))]


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB data directory of this test process (chDB allows one per process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[Store]:
    """A migrated, empty database on each backend; dropped afterwards."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    if request.param == "chdb":
        opened = Store.embedded(chdb_dir, database)
    else:
        assert CLICKHOUSE_URL
        opened = Store.server(CLICKHOUSE_URL, database, cluster=CLICKHOUSE_CLUSTER)
    migrate(opened)
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The real app served by uvicorn in a thread of the test process."""

    url: str
    store: Store
    settings: Settings
    server: uvicorn.Server = field(repr=False)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def settled(self, timeout_s: float = 20) -> None:
        """Wait until the writer holds nothing: every acknowledged span is in the store with its rollups. (The API's
        reads wait for this themselves; a test reading the store directly must, since the embedded writer
        acknowledges spans once they are in its span log.)"""
        deadline = time.monotonic() + timeout_s
        while self.server.config.app.state.threadline.writer.pending_spans:
            assert time.monotonic() < deadline, "the writer did not finish its acknowledged spans"
            time.sleep(0.01)


def start_server(store: Store, **overrides: object) -> LiveServer:
    # gRPC off unless asked for: the default port (4317) is one per machine
    settings = Settings(**{"port": free_port(), "grpc_port": 0, **overrides})  # type: ignore[arg-type]
    config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=settings.port, log_level="warning",
                            proxy_headers=False)  # as `threadline serve`: the app alone reads forwarding headers
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    live = LiveServer(f"http://127.0.0.1:{settings.port}", store, settings, server)
    live._thread = thread  # type: ignore[attr-defined]
    return live


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live._thread.join(timeout=20)  # type: ignore[attr-defined]


@pytest.fixture
def live_server(store: Store) -> Iterator[LiveServer]:
    """The real app over real HTTP on a fresh database."""
    live = start_server(store)
    yield live
    stop_server(live)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client of :func:`live_server`."""
    with live_server.client() as http:
        yield http


@dataclass
class ServeProcess:
    """A ``threadline serve`` subprocess on its own data directory."""

    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to (and overriding) the test process environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        # gRPC off unless env asks for a port: the default (4317) is one per machine
        env = {**os.environ, "THREADLINE_LOG_LEVEL": "info", "THREADLINE_GRPC_PORT": "0", **(self.env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "threadline", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"threadline serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"threadline serve did not become ready: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Callable[[], ServeProcess]]:
    """Factory of ``threadline serve`` subprocesses (each on a fresh data dir and port); all stopped afterwards."""
    started: list[ServeProcess] = []

    def make() -> ServeProcess:
        proc = ServeProcess(tmp_path / f"data{len(started)}", free_port(), tmp_path / f"serve{len(started)}.log")
        proc.start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
