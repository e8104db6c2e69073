"""Benchmark: the scaled ingest path (Redis Streams) with 1 and 2 workers, and queue lag under steady load.

For each worker count, starts `threadline serve --queue redis://... --workers N` on a fresh chDB data directory
(chDB allows one process per directory, so consumers run in the server process; with --clickhouse URL the server
runs no consumer and N `threadline worker` processes do), posts a generated OTLP workload with a few concurrent
exporters, and measures spans/s from the first POST until every span is committed with its rollups visible in the
sessions API. Then, with 1 worker, posts at a steady rate (a fraction of the measured throughput) and samples the
queue lag: the age of the oldest entry not yet committed. Prints a table and writes JSON to bench/results/.

    .venv/bin/python bench/queue_throughput.py [--spans 50000] [--clients 4] [--redis redis://127.0.0.1:6379/0]

The workload is ``bench/workload.py``'s (issue 11's realistic shape), all of it sent to one project without a key.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from results_file import write_results
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from serving import free_port, pct
from workload import single_project_bodies

from threadline.queue.connection import QueueKeys

HEADERS = {"content-type": "application/x-protobuf"}


@dataclass
class Deployment:
    """A serve process (and worker processes) on one queue prefix."""

    base: str
    processes: list[subprocess.Popen[bytes]]
    keys: QueueKeys

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=120)


def start(data_dir: str, redis_url: str, workers: int, clickhouse: str | None, shards: int) -> Deployment:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {**os.environ, "THREADLINE_LOG_LEVEL": "warning", "THREADLINE_QUEUE_URL": redis_url,
           "THREADLINE_QUEUE_PREFIX": prefix, "THREADLINE_QUEUE_SHARDS": str(shards)}
    if clickhouse:
        env |= {"THREADLINE_CLICKHOUSE_URL": clickhouse, "THREADLINE_DATABASE": f"bench_{uuid.uuid4().hex[:8]}"}
    serve = [sys.executable, "-m", "threadline", "serve", "--port", str(port), "--data-dir", data_dir,
             "--workers", "0" if clickhouse else str(workers)]
    processes = [subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    base = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    if clickhouse:
        processes += [subprocess.Popen([sys.executable, "-m", "threadline", "worker"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, env=env) for _ in range(workers)]
    return Deployment(base, processes, QueueKeys(prefix, shards))


def backlog(client: redis.Redis, keys: QueueKeys) -> tuple[int, float]:
    """(entries not yet committed, age in s of the oldest of them; 0 when none). Entry ids are XADD times (ms)."""
    waiting = 0
    oldest: int | None = None
    for stream in keys.streams:
        waiting += int(client.xlen(stream))
        first = client.xrange(stream, count=1)
        if first:
            ms = int(first[0][0].split(b"-")[0])
            oldest = ms if oldest is None else min(oldest, ms)
    return waiting, 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)


def visible_spans(client: httpx.Client) -> int:
    page = client.get("/v1/sessions", params={"limit": 1000}).json()
    total = sum(s["span_count"] for s in page["data"])
    offset = 1000
    while page["pagination"]["has_more"]:
        page = client.get("/v1/sessions", params={"limit": 1000, "offset": offset}).json()
        total += sum(s["span_count"] for s in page["data"])
        offset += 1000
    return total


def throughput(bodies: list[bytes], spans: int, deployment: Deployment, client_count: int, queue: redis.Redis
               ) -> dict[str, float]:
    """Post every body; spans/s until all are acknowledged, and until all are committed and visible."""
    with httpx.Client(base_url=deployment.base, timeout=120) as client:
        def post(body: bytes) -> None:
            while True:
                response = client.post("/v1/traces", content=body, headers=HEADERS)
                if response.status_code != 503:
                    response.raise_for_status()
                    return
                time.sleep(float(response.headers.get("retry-after", "1")))

        started = time.perf_counter()
        with ThreadPoolExecutor(client_count) as pool:
            list(pool.map(post, bodies))
        acked_s = time.perf_counter() - started
        while backlog(queue, deployment.keys)[0] or visible_spans(client) < spans:
            time.sleep(0.05)
        visible_s = time.perf_counter() - started
    return {"acknowledged_spans_per_second": round(spans / acked_s), "committed_spans_per_second":
            round(spans / visible_s), "seconds_to_visible": round(visible_s, 2)}


def worker_totals(base: str) -> dict[str, float]:
    """Sums and counts of the in-process workers' batch histograms, from the server's /metrics."""
    wanted = ("threadline_worker_commit_seconds_sum", "threadline_worker_commit_seconds_count",
              "threadline_worker_insert_seconds_sum", "threadline_worker_batch_spans_sum")
    totals = dict.fromkeys(wanted, 0.0)
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if name in totals:
            totals[name] = float(value)
    return totals


def steady_lag(bodies: list[bytes], spans_per_body: float, rate: float, seconds: float, deployment: Deployment,
               queue: redis.Redis) -> dict[str, float]:
    """Post at ``rate`` spans/s for ``seconds``; sample the queue every 100 ms. Also the workers' mean batch size
    and commit time meanwhile (in-process workers only)."""
    before = worker_totals(deployment.base)
    interval = spans_per_body / rate
    lags: list[float] = []
    depths: list[int] = []
    with httpx.Client(base_url=deployment.base, timeout=120) as client, ThreadPoolExecutor(8) as pool:
        started = time.perf_counter()
        next_sample = started
        sent = 0
        while time.perf_counter() - started < seconds and sent < len(bodies):
            due = started + sent * interval
            now = time.perf_counter()
            if now >= due:
                pool.submit(client.post, "/v1/traces", content=bodies[sent], headers=HEADERS)
                sent += 1
            if now >= next_sample:
                depth, lag = backlog(queue, deployment.keys)
                lags.append(lag)
                depths.append(depth)
                next_sample += 0.1
            time.sleep(0.002)
    after = worker_totals(deployment.base)
    batches = after["threadline_worker_commit_seconds_count"] - before["threadline_worker_commit_seconds_count"]
    per_batch = {name: round((after[name] - before[name]) / batches, 3) if batches else 0.0 for name in (
        "threadline_worker_commit_seconds_sum", "threadline_worker_insert_seconds_sum",
        "threadline_worker_batch_spans_sum")}
    return {"batches": batches, "mean_commit_s": per_batch["threadline_worker_commit_seconds_sum"],
            "mean_insert_s": per_batch["threadline_worker_insert_seconds_sum"],
            "mean_batch_spans": per_batch["threadline_worker_batch_spans_sum"],
            "rate_spans_per_second": round(sent * spans_per_body / seconds), "lag_p50_s": round(
        statistics.median(lags), 3), "lag_p95_s": round(pct(lags, 0.95), 3), "lag_max_s": round(max(lags), 3),
        "depth_max_entries": max(depths)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=50_000, help="spans per run (whole sessions: about this many)")
    parser.add_argument("--spans-per-request", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4, help="concurrent exporters")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--clickhouse", default=None, help="use this ClickHouse server and worker processes")
    parser.add_argument("--steady-fraction", type=float, default=0.5, help="steady rate / 1-worker throughput")
    parser.add_argument("--steady-seconds", type=float, default=10)
    args = parser.parse_args()
    console = Console()
    queue = redis.Redis.from_url(args.redis)

    console.print("building the workload...")
    runs: dict[str, dict[str, float]] = {}
    steady: dict[str, float] = {}
    spans = 0
    for workers in (1, 2):
        bodies, spans, _ = single_project_bodies(args.spans, args.spans_per_request, seed=workers)
        with tempfile.TemporaryDirectory(prefix="threadline-qbench-") as data_dir:
            deployment = start(data_dir, args.redis, workers, args.clickhouse, args.shards)
            try:
                console.print(f"{workers} worker(s): posting {spans:,} spans in {len(bodies)} requests...")
                runs[str(workers)] = throughput(bodies, spans, deployment, args.clients, queue)
                if workers == 1:
                    rate = runs["1"]["committed_spans_per_second"] * args.steady_fraction
                    more, more_spans, _ = single_project_bodies(args.spans, 100, seed=99)
                    console.print(f"steady load at {rate:,.0f} spans/s for {args.steady_seconds:.0f} s...")
                    steady = steady_lag(more, more_spans / len(more), rate, args.steady_seconds, deployment, queue)
            finally:
                deployment.stop()
                for key in queue.scan_iter(match=f"{deployment.keys.prefix}:*"):
                    queue.delete(key)

    results = {
        "workload": {"spans": spans, "clients": args.clients, "shards": args.shards,
                     "store": "clickhouse server" if args.clickhouse else "chDB (consumers in the serve process)"},
        "throughput": runs, "steady_load_1_worker": steady,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    table = Table(title=f"Threadline queue mode: {spans:,} spans, {args.clients} exporters, {args.shards} shards")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for workers, run in runs.items():
        table.add_row(f"{workers} worker(s): first POST to rollups visible", f"{run['committed_spans_per_second']:,} "
                      f"spans/s ({run['seconds_to_visible']} s)")
        table.add_row(f"{workers} worker(s): acknowledged (in Redis)", f"{run['acknowledged_spans_per_second']:,} "
                      "spans/s")
    table.add_row(f"steady load, 1 worker, {steady['rate_spans_per_second']:,} spans/s: queue lag p50 / p95 / max",
                  f"{steady['lag_p50_s']} / {steady['lag_p95_s']} / {steady['lag_max_s']} s")
    table.add_row("steady load: deepest backlog", f"{steady['depth_max_entries']} entries")
    table.add_row("steady load: batches, mean spans / commit s (insert s)", f"{steady['batches']:.0f}, "
                  f"{steady['mean_batch_spans']:.0f} / {steady['mean_commit_s']} ({steady['mean_insert_s']})")
    console.print(table)
    write_results("queue_throughput", results, console)


if __name__ == "__main__":
    main()
