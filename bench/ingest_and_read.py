"""Benchmark: OTLP ingest throughput and read latencies of a fresh `threadline serve`.

Builds a workload of OTLP protobuf requests in memory (sessions x turns x spans, one session of exactly 30 turns),
posts them with a few concurrent clients to a `threadline serve` subprocess on a temporary data directory, then times
the sessions list (first page and a deep page) and a 30-turn session's detail. Prints a table and writes JSON to
bench/results/.

    .venv/bin/python bench/ingest_and_read.py [--sessions 5000] [--spans-per-turn 5] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from results_file import write_results
from rich.console import Console
from rich.table import Table

MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gemini-1.5-pro"]


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_requests(sessions: int, spans_per_turn: int, spans_per_request: int, seed: int
                   ) -> tuple[list[bytes], int, str]:
    """OTLP request bodies; returns (bodies, span count, id of the 30-turn session)."""
    rng = random.Random(seed)
    now = time.time_ns()
    bodies: list[bytes] = []
    request = ExportTraceServiceRequest()
    scope = None
    in_request = 0
    total = 0
    long_session = "bench-session-long"

    def flush() -> None:
        nonlocal request, scope, in_request
        if in_request:
            bodies.append(request.SerializeToString())
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(kv("service.name", "bench"))
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "bench"
        in_request = 0

    flush()
    for index in range(sessions):
        session_id = long_session if index == 0 else f"bench-session-{index:06d}"
        turns = 30 if index == 0 else rng.randint(1, 7)
        start = now - rng.randint(0, 30 * 86400) * 1_000_000_000
        user = f"user-{rng.randint(1, 200):03d}"
        for _turn in range(turns):
            trace_id = rng.randbytes(16)
            root_id = rng.randbytes(8)
            duration = rng.randint(500, 8000) * 1_000_000
            assert scope is not None
            root = scope.spans.add(trace_id=trace_id, span_id=root_id, name="chat_turn", kind=Span.SPAN_KIND_SERVER,
                                   start_time_unix_nano=start, end_time_unix_nano=start + duration)
            root.attributes.extend([kv("session.id", session_id), kv("user.id", user),
                                    kv("openinference.span.kind", "CHAIN"),
                                    kv("input.value", "How do I reset my password? " * rng.randint(1, 8)),
                                    kv("output.value", "Open settings, choose Security, then Reset. " * 4)])
            for child in range(spans_per_turn - 1):
                is_llm = child % 2 == 0
                span = scope.spans.add(trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id,
                                       name="llm" if is_llm else "tool", start_time_unix_nano=start + child * 1000,
                                       end_time_unix_nano=start + duration // 2)
                if is_llm:
                    span.attributes.extend([kv("openinference.span.kind", "LLM"),
                                            kv("llm.model_name", rng.choice(MODELS)),
                                            kv("llm.token_count.prompt", rng.randint(100, 3000)),
                                            kv("llm.token_count.completion", rng.randint(20, 800)),
                                            kv("input.value", "You are a helpful assistant. " * 10)])
                else:
                    span.attributes.extend([kv("openinference.span.kind", "TOOL"), kv("tool.name", "lookup")])
                    if rng.random() < 0.03:
                        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="timeout"))
            in_request += spans_per_turn
            total += spans_per_turn
            start += duration + rng.randint(5, 300) * 1_000_000_000
            if in_request >= spans_per_request:
                flush()
    flush()
    return bodies, total, long_session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RssSampler(threading.Thread):
    """Samples the server's resident set size every 50 ms; ``peak`` in bytes."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)


def timed(client: httpx.Client, url: str, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--spans-per-turn", type=int, default=5)
    parser.add_argument("--spans-per-request", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent exporters")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console()

    console.print("building the workload...")
    bodies, span_total, long_session = build_requests(args.sessions, args.spans_per_turn, args.spans_per_request,
                                                      args.seed)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as data_dir:
        server = subprocess.Popen(
            [sys.executable, "-m", "threadline", "serve", "--port", str(port), "--data-dir", data_dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "THREADLINE_LOG_LEVEL": "warning"})
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            sampler = RssSampler(server.pid)
            sampler.start()
            headers = {"content-type": "application/x-protobuf"}
            console.print(f"posting {span_total:,} spans in {len(bodies)} requests with {args.clients} clients...")
            with httpx.Client(base_url=base, timeout=120) as client:
                def post(body: bytes) -> None:
                    client.post("/v1/traces", content=body, headers=headers).raise_for_status()

                started = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(post, bodies))
                ingest_s = time.perf_counter() - started
                total = client.get("/v1/sessions", params={"limit": 1}).json()["pagination"]["total"]
                assert total == args.sessions, f"expected {args.sessions} sessions, the API lists {total}"
                deep = max(0, args.sessions - 50)
                reads = {
                    "sessions list, first page (limit 50)": timed(client, "/v1/sessions?limit=50", args.repeat),
                    f"sessions list, deep page (offset {deep})": timed(
                        client, f"/v1/sessions?limit=50&offset={deep}", args.repeat),
                    "30-turn session detail": timed(client, f"/v1/sessions/{long_session}", args.repeat),
                }
            sampler.running = False
            sampler.join()
        finally:
            server.terminate()
            server.wait(timeout=60)

    results = {
        "workload": {"sessions": args.sessions, "spans": span_total, "requests": len(bodies),
                     "clients": args.clients},
        "ingest_seconds": round(ingest_s, 3),
        "ingest_spans_per_second": round(span_total / ingest_s),
        "reads_ms": {name: {"p50": round(statistics.median(s), 2), "p95": round(pct(s, 0.95), 2)}
                     for name, s in reads.items()},
        "peak_rss_mib": round(sampler.peak / 2**20, 1),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    table = Table(title=f"Threadline: {span_total:,} spans, {args.sessions:,} sessions")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("ingest, end to end (committed, rollups visible)", f"{results['ingest_spans_per_second']:,} spans/s")
    for name, stats in results["reads_ms"].items():  # type: ignore[union-attr]
        table.add_row(f"{name} p50 / p95", f"{stats['p50']} / {stats['p95']} ms")
    table.add_row("server peak RSS", f"{results['peak_rss_mib']} MiB")
    console.print(table)
    write_results("ingest_and_read", results, console)


if __name__ == "__main__":
    main()
