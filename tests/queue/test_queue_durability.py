"""The durability contract in queue mode (DESIGN.md): a 2xx means the batch is in Redis; kill -9 of a worker in
the middle of a batch, or of Redis itself (AOF on), loses nothing acknowledged and double counts nothing.
``threadline worker`` as a process of its own: SIGTERM finishes its batch; two of them on a ClickHouse server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from conftest import CLICKHOUSE_URL, ServeProcess, free_port, start_server, stop_server
from queue_helpers import (
    REDIS_URL,
    Queue,
    Workload,
    enqueue,
    prefix_fixture,  # noqa: F401  (fixtures)
    queue_settings,
)
from typer.testing import CliRunner

from threadline.cli import app as cli
from threadline.queue.connection import QueueKeys
from threadline.queue.dlq import dead_letter
from threadline.queue.worker import StreamWorker, WorkerConfig
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
# The durability harness: requests with known totals, and the checks of what the API shows.
from test_durability import (
    LATE,
    PROTOBUF,
    SEC,
    build_requests,
    check_acknowledged,
    check_all_sent_once,
    check_consistent,
    observe,
    post_all,
    post_until_killed,
)

pytestmark = pytest.mark.slow


def queue_env(prefix: str, redis_url: str = REDIS_URL, **more: str) -> dict[str, str]:
    return {"THREADLINE_QUEUE_URL": redis_url, "THREADLINE_QUEUE_PREFIX": prefix, "THREADLINE_QUEUE_SHARDS": "4",
            "THREADLINE_WORKER_CLAIM_IDLE_MS": "1000", "THREADLINE_WORKER_BATCH_WAIT_MS": "20", **more}


def backlog(client: redis.Redis, keys: QueueKeys) -> tuple[int, int]:
    """(entries in the streams, entries delivered and not yet acknowledged)."""
    streams = [s for s in keys.streams if client.exists(s)]
    waiting = sum(int(client.xlen(s)) for s in streams)
    pending = 0
    for stream in streams:
        with contextlib.suppress(redis.ResponseError):  # no group yet
            pending += int(client.xpending(stream, keys.group)["pending"])
    return waiting, pending


def wait_empty(client: redis.Redis, keys: QueueKeys, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while backlog(client, keys) != (0, 0):
        assert time.monotonic() < deadline, backlog(client, keys)
        time.sleep(0.05)


def test_kill_9_mid_batch_then_another_worker_commits_everything_once(tmp_path: Path, prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = QueueKeys(prefix, 4)
    server = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log", env=queue_env(prefix))
    server.start()
    try:
        requests = build_requests(400, time.time_ns() - 3600 * SEC)
        trace_ids = [r.spans[0].trace_id for r in requests]
        acked: set[int] = set()
        attempted: set[int] = set()
        position = 0
        for _round in range(2):
            # Killed in the middle of a batch: the consumer holds delivered, unacknowledged entries.
            got, tried = post_until_killed(server, requests[position:], kill_after=10,
                                           kill_when=lambda: backlog(client, keys)[1] > 0)
            assert backlog(client, keys)[1] > 0  # the dead consumer left entries pending
            acked |= got
            attempted |= tried
            server.start()  # "another worker": a new consumer reclaims the dead one's entries
            position = max(attempted) + 1
        wait_empty(client, keys)
        assert "reclaimed" in server.log_path.read_text()
        seen = observe(server.url, trace_ids[:position])
        check_acknowledged(seen, requests, acked, attempted)
        check_consistent(seen)

        unacked = [requests[i] for i in sorted(attempted - acked)]  # the exporters retry what was refused
        assert unacked and set(post_all(server.url, unacked, threads=2).values()) == {200}
        wait_empty(client, keys)
        check_all_sent_once(server.url, requests, attempted)
    finally:
        server.stop()
        client.close()


def _start_redis(directory: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--appendonly", "yes",
         "--appendfsync", "always", "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                return process
        except (redis.ConnectionError, redis.BusyLoadingError):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    if not any((Path(p) / "redis-server").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("redis-server is not installed")
    yield tmp_path / "redis", free_port()


def test_redis_kill_9_with_aof_loses_nothing_acknowledged(store: Store, own_redis: tuple[Path, int]) -> None:
    directory, port = own_redis
    directory.mkdir()
    url = f"redis://127.0.0.1:{port}/0"
    process = _start_redis(directory, port)
    live = start_server(store, queue_url=url, queue_shards=4, workers=0)
    try:
        requests = build_requests(60, time.time_ns() - 3600 * SEC)
        status = post_all(live.url, requests, threads=4)
        assert set(status.values()) == {200}
        process.kill()  # right after the last acknowledgement
        process.wait()
        down = httpx.post(f"{live.url}/v1/traces", content=requests[0].body, headers=PROTOBUF, timeout=30)
        assert down.status_code == 503 and "Retry-After" in down.headers
        process = _start_redis(directory, port)
        again = httpx.post(f"{live.url}/v1/traces", content=requests[0].body, headers=PROTOBUF, timeout=30)
        assert again.status_code == 200  # the API reconnects by itself (and the replay counts once)

        settings = queue_settings("threadline", queue_shards=4)
        worker = StreamWorker(BatchCommitter(store), redis.Redis.from_url(url), QueueKeys("threadline", 4),
                              WorkerConfig.from_settings(settings))
        assert worker.drain().committed >= 60  # each request: an entry per shard it touches
        seen = observe(live.url, [r.spans[0].trace_id for r in requests])
        check_acknowledged(seen, requests, set(range(60)), set(range(60)))
        check_consistent(seen)
        assert sum(s["span_count"] for s in seen.sessions.values()) == 60 * 5 - LATE
    finally:
        stop_server(live)
        process.kill()
        process.wait()


def _worker_process(log: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "threadline", "worker", *args], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env={**os.environ, "THREADLINE_LOG_LEVEL": "info", **env})


def test_worker_process_on_a_data_dir_stops_gracefully_on_sigterm(tmp_path: Path, prefix: str) -> None:
    """``threadline worker --data-dir`` (no server on it) commits the queue; SIGTERM in the middle of a batch lets
    it finish and acknowledge that batch, then exit 0; another worker commits the rest; a server started on the same
    directory then shows every span once; the DLQ commands see the queue."""
    client = redis.Redis.from_url(REDIS_URL)
    settings = queue_settings(prefix, queue_shards=4)
    keys = QueueKeys(prefix, 4)
    work = Workload("default", traces=120, tag=uuid.uuid4().hex[:8])
    for first in range(120):
        enqueue(Queue(settings, keys, client), work.table(first, 1))
    data = tmp_path / "data"
    env = queue_env(prefix, THREADLINE_WORKER_BATCH_SPANS="15")  # 5 entries a batch: 24 batches
    # One consumer: two would take the whole backlog in their first reads and leave nothing for the next worker.
    first = _worker_process(tmp_path / "worker.log", env, "--data-dir", str(data), "--consumers", "1")
    try:
        deadline = time.monotonic() + 60
        while backlog(client, keys)[1] == 0:  # until it holds a batch
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.005)
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
    assert "stopped" in (tmp_path / "worker.log").read_text()
    waiting, pending = backlog(client, keys)
    assert pending == 0 and 0 < waiting < 120  # its batch acknowledged; the rest left for others

    metrics_port = free_port()
    second = _worker_process(tmp_path / "worker2.log", env, "--data-dir", str(data), "--metrics-port",
                             str(metrics_port))
    try:
        wait_empty(client, keys)
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert f"threadline_worker_spans_total {3.0 * waiting}" in metrics
        assert "threadline_worker_batch_spans_count" in metrics
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0

    server = ServeProcess(data, free_port(), tmp_path / "serve.log")
    server.start()
    try:
        sessions = httpx.get(f"{server.url}/v1/sessions", params={"limit": 100}).json()["data"]
        got = {s["session_id"]: {k: s[k] for k in ("trace_count", "span_count", "total_tokens")} for s in sessions}
        assert got == work.expected()
    finally:
        server.stop()

    client.xadd(keys.stream(0), {b"v": b"1", b"n": b"1", b"spans": b"junk"})
    entry = client.xrange(keys.stream(0))[0]
    dead_letter(client, keys, keys.stream(0), entry[0].decode(), entry[1], error="boom", attempts=5, consumer="c")
    runner = CliRunner()
    env = {"THREADLINE_QUEUE_URL": settings.queue_url or "", "THREADLINE_QUEUE_PREFIX": prefix,
           "THREADLINE_QUEUE_SHARDS": "4"}
    listed = runner.invoke(cli, ["dlq", "list"], env=env)
    assert listed.exit_code == 0 and "boom" in listed.output and "1 batch(es)" in listed.output
    assert runner.invoke(cli, ["dlq", "retry"], env=env).exit_code == 1  # neither ids nor --all
    assert "requeued 1" in runner.invoke(cli, ["dlq", "retry", "--all"], env=env).output
    assert client.xlen(keys.stream(0)) == 1 and client.xlen(keys.dlq) == 0
    dead_letter(client, keys, keys.stream(0), client.xrange(keys.stream(0))[0][0].decode(),
                client.xrange(keys.stream(0))[0][1], error="boom", attempts=5, consumer="c")
    unknown = runner.invoke(cli, ["dlq", "drop", "--yes", "1-1"], env=env)
    assert unknown.exit_code == 1 and "no dead-lettered batch" in unknown.output
    assert "dropped 1" in runner.invoke(cli, ["dlq", "drop", "--all", "--yes"], env=env).output
    client.close()


@pytest.mark.skipif(not CLICKHOUSE_URL, reason="set THREADLINE_TEST_CLICKHOUSE_URL to run workers against a "
                    "ClickHouse server")
def test_two_worker_processes_on_a_clickhouse_server(tmp_path: Path, prefix: str) -> None:
    assert CLICKHOUSE_URL
    client = redis.Redis.from_url(REDIS_URL)
    keys = QueueKeys(prefix, 4)
    env = queue_env(prefix, THREADLINE_CLICKHOUSE_URL=CLICKHOUSE_URL,
                    THREADLINE_DATABASE=f"test_{uuid.uuid4().hex[:12]}")
    server = ServeProcess(tmp_path / "unused", free_port(), tmp_path / "serve.log", env=env)
    server.start()
    workers = [_worker_process(tmp_path / f"worker{i}.log", env) for i in range(2)]
    try:
        requests = build_requests(200, time.time_ns() - 3600 * SEC)
        assert set(post_all(server.url, requests, threads=4).values()) == {200}
        wait_empty(client, keys)
        seen = observe(server.url, [r.spans[0].trace_id for r in requests])
        check_acknowledged(seen, requests, set(range(200)), set(range(200)))
        check_consistent(seen)
        assert sum(s["span_count"] for s in seen.sessions.values()) == 200 * 5 - LATE
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        server.stop()
        client.close()


def test_serve_flags_select_the_queue(tmp_path: Path, prefix: str) -> None:
    """``threadline serve --queue URL --workers 0``: ingest lands in Redis (nobody consumes), readyz reports it."""
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "threadline", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--queue", REDIS_URL, "--workers", "0"], stdout=log.open("ab"), stderr=subprocess.STDOUT,
        env={**os.environ, "THREADLINE_QUEUE_PREFIX": prefix, "THREADLINE_LOG_LEVEL": "info",
             "THREADLINE_GRPC_PORT": "0"})  # the default gRPC port is one per machine
    try:
        server = ServeProcess(tmp_path / "data", port, log)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        body = build_requests(1, time.time_ns())[0].body
        assert httpx.post(f"{server.url}/v1/traces", content=body, headers=PROTOBUF, timeout=30).status_code == 200
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        assert ready["queue_depth"] == 1 and ready["dlq_entries"] == 0
        assert "no consumer in this process" in log.read_text()
    finally:
        process.terminate()
        process.wait(30)
