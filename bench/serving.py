"""What the ingest benchmarks share: a ``threadline serve`` subprocess (from any source tree, optionally with chDB's
``system.query_log`` on), projects and keys through its admin API, exporters that post a workload over keep-alive
connections, CPU/RSS sampling of the server, data directory sizes, and timed reads.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from workload import Request

# Runs the CLI; with BENCH_CHDB_CONFIG set, every chDB session the server opens gets that ClickHouse config file
# (chDB passes connection-string parameters to the engine as startup arguments), which is how system.query_log is
# switched on: chDB has no query log without a <query_log> section. chDB's system database does not survive a
# restart, so at exit the log is flushed and written to the Parquet file BENCH_QUERY_LOG_OUT. The server's own code is
# not changed (with the query log on, SIGTERM ends it with exit code 0 instead of -15). With BENCH_MEMORY_OUT set, a
# thread samples the server's memory (RSS, glibc, Arrow, Python, chDB's metrics) every 2 s into that JSON-lines file.
BOOTSTRAP = """
import atexit, os, signal, sys
config, out = os.environ.get("BENCH_CHDB_CONFIG"), os.environ.get("BENCH_QUERY_LOG_OUT")
memory_out = os.environ.get("BENCH_MEMORY_OUT")
opened, paths = [], []  # the sessions the server opens, and their data directories
if config or memory_out:
    import chdb.session
    _Session = chdb.session.Session
    class Session(_Session):
        def __init__(self, path=None):
            if config and path and "config-file=" not in str(path):
                path = f"{path}{'&' if '?' in str(path) else '?'}config-file={config}"
            super().__init__(path)
            opened.append(self)
            paths.append(str(path).split("?")[0])
    chdb.session.Session = Session
if config:
    def save_query_log():
        if opened and out:
            opened[0].query("SYSTEM FLUSH LOGS")
            data = opened[0].query(os.environ["BENCH_QUERY_LOG_SELECT"], "Parquet").bytes()
            with open(out, "wb") as f:
                f.write(data)
            data = opened[0].query(os.environ["BENCH_PART_LOG_SELECT"], "Parquet").bytes()
            with open(os.path.join(os.path.dirname(out), "part-log.parquet"), "wb") as f:
                f.write(data)
    atexit.register(save_query_log)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit normally then, so that atexit runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
if memory_out:
    import json, threading, time
    import chdb
    def sample_memory():
        while not paths:
            time.sleep(0.5)
        time.sleep(2)
        connection = chdb.connect(paths[0])  # its own connection: sessions bind parameters unsafely across threads
        import ctypes, pyarrow
        class MallInfo2(ctypes.Structure):  # glibc's heap: in use (uordblks), free in arenas, mmapped chunks
            _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        with open(memory_out, "a") as out:
            while True:
                status = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith("Rss"))
                row = {"t": time.time(), **{k: int(v.split()[0]) * 1024 for k, v in status.items()},
                       "arrow": pyarrow.total_allocated_bytes()}
                info = libc.mallinfo2()
                row |= {"glibc in use": info.uordblks + info.hblkhd, "glibc free": info.fordblks,
                        "python blocks (count)": sys.getallocatedblocks()}
                result = connection.query(os.environ["BENCH_MEMORY_SELECT"], "CSV").bytes().decode().split()
                row |= {line.split(",")[0].strip('"'): int(line.split(",")[1]) for line in result}
                out.write(json.dumps(row) + "\\n")
                out.flush()
                time.sleep(2)
    threading.Thread(target=sample_memory, daemon=True, name="bench-memory").start()
from threadline.cli import main
sys.argv = ["threadline", *sys.argv[1:]]
main()
"""
MEMORY_SELECT = """
SELECT metric, value FROM system.metrics WHERE metric IN ('MemoryTracking', 'MergesMutationsMemoryTracking',
    'MarkCacheBytes', 'PrimaryIndexCacheBytes', 'IndexMarkCacheBytes', 'UncompressedCacheBytes', 'QueryCacheBytes',
    'QueryConditionCacheBytes', 'TextIndexTokensCacheBytes', 'TextIndexHeaderCacheBytes', 'TextIndexPostingsCacheBytes',
    'PageCacheBytes', 'MMapCacheCells')
"""
QUERY_LOG_SELECT = """
SELECT toUnixTimestamp64Micro(event_time_microseconds) AS event_us, toString(type) AS type, log_comment AS tag,
       query_duration_ms, read_rows, read_bytes, written_rows, written_bytes, memory_usage,
       ProfileEvents['SelectedParts'] AS selected_parts, ProfileEvents['SelectedMarks'] AS selected_marks,
       ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'] AS cpu_us,
       exception
FROM system.query_log WHERE type != 'QueryStart'
"""
PART_LOG_SELECT = """
SELECT toUnixTimestamp64Micro(event_time_microseconds) AS event_us, table, duration_ms, rows, size_in_bytes,
       bytes_uncompressed, read_bytes, peak_memory_usage,
       ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'] AS cpu_us
FROM system.part_log WHERE event_type = 'MergeParts' AND database = 'threadline'
"""
QUERY_LOG_CONFIG = """<clickhouse>
  <part_log>
    <database>system</database>
    <table>part_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>
  </part_log>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>
  </query_log>
</clickhouse>
"""
PROTOBUF = "application/x-protobuf"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def source_env(src: Path | None) -> dict[str, str]:
    """The environment that makes ``python -m threadline`` import the package from the source tree ``src`` (a
    checkout's root or its ``src`` directory); this process's environment when ``src`` is None."""
    env = dict(os.environ)
    if src is not None:
        root = src / "src" if (src / "src" / "threadline").is_dir() else src
        if not (root / "threadline").is_dir():
            raise SystemExit(f"{src} holds no threadline package (looked for {root / 'threadline'})")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root.resolve()), env.get("PYTHONPATH", "")]))
    return env


def imported_from(env: dict[str, str]) -> str:
    """Where ``import threadline`` resolves with ``env`` (the check that ``--server-src`` really applies)."""
    out = subprocess.run([sys.executable, "-c", "import threadline; print(threadline.__file__)"], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def write_query_log_config(directory: Path) -> Path:
    """Write the ClickHouse config that turns on ``system.query_log``; returns its path."""
    path = directory / "chdb-query-log.xml"
    path.write_text(QUERY_LOG_CONFIG)
    return path


def query_log_path(config: Path) -> Path:
    """Where the server started with ``config`` writes its query log (Parquet) at exit."""
    return config.with_name("query-log.parquet")


def part_log_path(config: Path) -> Path:
    """Where the server started with ``config`` writes its merges (``system.part_log``, Parquet) at exit."""
    return config.with_name("part-log.parquet")


@dataclass
class ServeProcess:
    """A ``threadline serve`` subprocess on a fresh port with ``THREADLINE_ADMIN_KEY`` set; ``start`` then
    ``stop``. ``queue`` runs ``serve --queue URL --workers consumers`` under a fresh queue prefix."""

    data_dir: Path
    log_path: Path
    src: Path | None = None
    queue: str | None = None
    consumers: int | None = None
    query_log_config: Path | None = None
    memory_log: Path | None = None
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    queue_prefix: str = field(default_factory=lambda: f"bench-{secrets.token_hex(4)}")
    process: subprocess.Popen[bytes] | None = None
    module_path: str = ""

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 300) -> None:
        """Start the server and wait until ``/readyz`` answers 200. Raises RuntimeError (with the log's tail) when
        it exits or does not become ready."""
        # gRPC off: the benchmarks send OTLP/HTTP, and the default gRPC port is one per machine (two runs at once)
        env = source_env(self.src) | {"THREADLINE_ADMIN_KEY": self.admin_key, "THREADLINE_LOG_LEVEL": "warning",
                                      "THREADLINE_GRPC_PORT": "0"}
        if self.memory_log is not None:
            env |= {"BENCH_MEMORY_OUT": str(self.memory_log), "BENCH_MEMORY_SELECT": MEMORY_SELECT}
        self.module_path = imported_from(env)
        if self.query_log_config is not None:
            env |= {"BENCH_CHDB_CONFIG": str(self.query_log_config), "BENCH_QUERY_LOG_SELECT": QUERY_LOG_SELECT,
                    "BENCH_PART_LOG_SELECT": PART_LOG_SELECT,
                    "BENCH_QUERY_LOG_OUT": str(query_log_path(self.query_log_config))}
        command = [sys.executable, "-c", BOOTSTRAP, "serve", "--port", str(self.port), "--data-dir",
                   str(self.data_dir)]
        if self.queue:
            env["THREADLINE_QUEUE_PREFIX"] = self.queue_prefix
            command += ["--queue", self.queue]
            if self.consumers is not None:
                command += ["--workers", str(self.consumers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 600) -> int | None:
        """SIGTERM, then wait for the exit (SIGKILL after ``timeout_s``); returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def clear_queue(self) -> None:
        """Delete the Redis keys of this run's queue prefix (queue mode)."""
        if not self.queue:
            return
        import redis

        client = redis.Redis.from_url(self.queue)
        for key in client.scan_iter(match=f"{self.queue_prefix}:*"):
            client.delete(key)


def create_projects(url: str, admin_key: str, project_ids: Iterable[str]) -> list[str]:
    """Create each project (an existing one is reused) and a fresh API key for it through the admin API; returns
    the keys' secrets in the same order. Raises httpx.HTTPStatusError."""
    secrets_out = []
    headers = {"authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for project_id in project_ids:
            response = client.post("/v1/admin/projects", json={"project_id": project_id})
            if response.status_code != 409:
                response.raise_for_status()
            key = client.post("/v1/admin/keys", json={"project_id": project_id, "name": "bench"})
            secrets_out.append(key.raise_for_status().json()["secret"])
    return secrets_out


def dir_bytes(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (as ``du``: blocks, so small files count whole blocks)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # a part removed while we walk
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each thread of a process: thread id -> (name, seconds); names from
    ``/proc/PID/task/*/comm`` (the Python threads are ``python``; chDB's pools have their own names)."""
    out: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        out[int(task.name)] = (name, ticks / os.sysconf("SC_CLK_TCK"))
    return out


def thread_cpu_delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
                     ) -> dict[str, float]:
    """CPU seconds used between two :func:`thread_cpu` readings, by thread name, over the threads alive at the
    second (a thread that exited in between is not counted)."""
    out: dict[str, float] = {}
    for tid, (name, used) in after.items():
        earlier = before.get(tid)
        out[name] = round(out.get(name, 0.0) + used - (earlier[1] if earlier else 0.0), 2)
    return dict(sorted(out.items(), key=lambda item: -item[1]))


@dataclass
class Snapshot:
    """The state of a run at one moment: spans acknowledged, server and client CPU seconds, server RSS, and the
    server's CPU seconds by thread kind (:func:`thread_kind`)."""

    wall: float
    acked: int
    server_cpu: float
    client_cpu: float
    rss: int
    server_threads: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """JSON form."""
        return {"wall": round(self.wall, 3), "acked": self.acked, "server_cpu_s": round(self.server_cpu, 3),
                "client_cpu_s": round(self.client_cpu, 3), "rss_bytes": self.rss}


THREAD_KINDS = ("python", "merges", "chdb")


def thread_kind(name: str) -> str:
    """What a server thread does, from its name: ``merges`` (ClickHouse's MergeMutate pool: background merges),
    ``python`` (interpreter threads: HTTP, decoding, the writer's Python, and the part of a chDB statement run in
    the calling thread), ``chdb`` (ClickHouse's query and other pools)."""
    if name.startswith("MergeMutate"):
        return "merges"
    if name.startswith(("python", "pt_main", "threadline", "asyncio")):
        return "python"
    return "chdb"


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads (alive now) by :func:`thread_kind`."""
    out = dict.fromkeys(THREAD_KINDS, 0.0)
    for name, seconds in thread_cpu(pid).values():
        out[thread_kind(name)] += seconds
    return out


class Meter:
    """Counts acknowledged spans and takes a :class:`Snapshot` at every ``window`` spans and every ``every_s``
    seconds (a background thread, which also tracks the server's peak RSS). ``server_pid`` None: no server figures.
    ``on_span_count(acked)`` is called at each snapshot (e.g. to start a profiler at some size)."""

    def __init__(self, server_pid: int | None, window: int, every_s: float = 1.0,
                 on_span_count: Callable[[int], None] | None = None) -> None:
        self.server = psutil.Process(server_pid) if server_pid else None
        self.client = psutil.Process()
        self.window = window
        self.every_s = every_s
        self.on_span_count = on_span_count
        self.acked = 0
        self.peak_rss = 0
        self.windows: list[Snapshot] = []
        self.timeline: list[Snapshot] = []
        self._lock = threading.Lock()
        self._next_window = window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="meter")

    def snapshot(self) -> Snapshot:
        """The current :class:`Snapshot`."""
        server_cpu, rss, threads = 0.0, 0, {}
        if self.server is not None:
            try:
                times = self.server.cpu_times()
                server_cpu = times.user + times.system
                rss = self.server.memory_info().rss
                threads = threads_cpu(self.server.pid)
            except psutil.Error:
                pass
        self.peak_rss = max(self.peak_rss, rss)
        client = self.client.cpu_times()
        return Snapshot(time.time(), self.acked, server_cpu, client.user + client.system, rss, threads)

    def start(self) -> Snapshot:
        """Take the first snapshot and start sampling; returns the snapshot."""
        first = self.snapshot()
        self.windows.append(first)
        self.timeline.append(first)
        self._thread.start()
        return first

    def stop(self) -> Snapshot:
        """Stop sampling; returns a last snapshot."""
        self._stop.set()
        self._thread.join()
        last = self.snapshot()
        self.timeline.append(last)
        return last

    def ack(self, spans: int) -> None:
        """Count ``spans`` acknowledged; snapshot at window boundaries."""
        with self._lock:
            self.acked += spans
            if self.acked >= self._next_window:
                while self._next_window <= self.acked:
                    self._next_window += self.window
                self.windows.append(self.snapshot())

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            with self._lock:
                snap = self.snapshot()
                self.timeline.append(snap)
            if self.on_span_count is not None:
                self.on_span_count(snap.acked)


@dataclass
class ExportResult:
    """What the exporters did: requests and spans acknowledged, spans the server rejected (partial_success),
    retries after 429/503, and the wall clock of the first POST and of the last acknowledgement."""

    requests: int = 0
    spans: int = 0
    rejected: int = 0
    retries: int = 0
    first_post: float = 0.0
    last_ack: float = 0.0
    errors: list[str] = field(default_factory=list)


def export(url: str, keys: list[str], requests: Iterator[Request], exporters: int, meter: Meter,
           timeout_s: float = 600) -> ExportResult:
    """Post every request (its project's key) with ``exporters`` threads, each on its own keep-alive connection,
    retrying 429/503 after their Retry-After; the calling thread generates the requests (a small bounded queue
    between). Stops at the first other failure (recorded in ``errors``)."""
    pending: queue.Queue[Request | None] = queue.Queue(maxsize=2 * exporters)
    result = ExportResult()
    lock = threading.Lock()
    failed = threading.Event()

    def run() -> None:
        with httpx.Client(base_url=url, timeout=timeout_s) as client:
            while (request := pending.get()) is not None:
                if failed.is_set():
                    continue
                headers = {"content-type": PROTOBUF, "authorization": f"Bearer {keys[request.project]}"}
                with lock:
                    result.first_post = result.first_post or time.time()
                while True:
                    try:
                        response = client.post("/v1/traces", content=request.body, headers=headers)
                    except httpx.HTTPError as exc:
                        response = None
                        error = f"{type(exc).__name__}: {exc}"
                    if response is not None and response.status_code in (429, 503):
                        with lock:
                            result.retries += 1
                        time.sleep(float(response.headers.get("retry-after", "1")))
                        continue
                    if response is None or response.status_code != 200:
                        if response is not None:
                            error = f"HTTP {response.status_code}: {response.text[:300]}"
                        with lock:
                            result.errors.append(error)
                        failed.set()
                        break
                    rejected = ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans
                    meter.ack(request.spans - rejected)
                    with lock:
                        result.requests += 1
                        result.spans += request.spans - rejected
                        result.rejected += rejected
                        result.last_ack = time.time()
                    break

    threads = [threading.Thread(target=run, name=f"exporter-{n}", daemon=True) for n in range(exporters)]
    for thread in threads:
        thread.start()
    for request in requests:
        if failed.is_set():
            break
        pending.put(request)
    for _ in threads:
        pending.put(None)
    for thread in threads:
        thread.join()
    return result


def timed(client: httpx.Client, path: str, params: Any, repeat: int) -> tuple[list[float], dict[str, Any]]:
    """Latencies (ms) of ``repeat`` GETs after one warm-up, and the last response's JSON. Raises
    httpx.HTTPStatusError."""
    body: dict[str, Any] = client.get(path, params=params).raise_for_status().json()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, params=params)
        samples.append((time.perf_counter() - started) * 1000)
        body = response.raise_for_status().json()
    return samples, body


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(samples: list[float]) -> dict[str, float]:
    """p50 and p95 (ms), rounded."""
    return {"p50": round(statistics.median(samples), 2), "p95": round(pct(samples, 0.95), 2)}
