"""Benchmark: OTLP ingest throughput and read latencies of a fresh `threadline serve`, on the realistic workload.

A short run of the workload of ``bench/workload.py`` (issue 11's shape: three projects with their own API keys,
Zipf session lengths and users, ~4.5 spans per trace with LLM chat messages, ~2.2 KB of OTLP per span, requests of at
most 500 spans with roots often after their children, 4 concurrent exporters): posts it to a ``threadline serve``
subprocess on a temporary data directory, checks that every session and span is queryable, then times the sessions
list (first page, a deep page through the cursor), a 20-turn session's detail and a rare-word search. Prints a table
and writes JSON to bench/results/. ``bench/ingest_at_scale.py`` is the long run (millions of spans, rate per window,
disk, profiles).

    .venv/bin/python bench/ingest_and_read.py [--spans 100000] [--exporters 4] [--server-src CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ingest_at_scale import queryable, reads
from results_file import write_results
from rich.console import Console
from rich.table import Table
from serving import Meter, ServeProcess, create_projects, export
from workload import Workload, WorkloadConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--spans-per-request", type=int, default=500)
    parser.add_argument("--exporters", type=int, default=4, help="concurrent exporters")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-src", type=Path, default=os.environ.get("THREADLINE_BENCH_SERVER_SRC"),
                        help="run the server from this checkout [env THREADLINE_BENCH_SERVER_SRC]")
    args = parser.parse_args()
    console = Console()

    config = WorkloadConfig(spans=args.spans, spans_per_request=args.spans_per_request, seed=args.seed, templates=150)
    workload = Workload(config)
    console.print(f"building the workload... ({workload.build():.1f} s)")
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as temp:
        server = ServeProcess(Path(temp) / "data", Path(temp) / "server.log", src=args.server_src)
        server.start()
        try:
            keys = create_projects(server.url, server.admin_key, [p.project_id for p in config.projects])
            meter = Meter(server.pid, window=args.spans)
            first = meter.start()
            console.print(f"posting ~{args.spans:,} spans with {args.exporters} exporters...")
            exported = export(server.url, keys, workload.requests(), args.exporters, meter)
            last = meter.stop()
            if exported.errors:
                raise RuntimeError(f"export failed: {exported.errors[:3]}")
            checks = queryable(server.url, keys, config.projects)
            stats = workload.stats
            for index, check in enumerate(checks):
                sent = (stats.sessions[index], stats.traces[index], stats.spans[index])
                if (check["sessions_total"], check["traces"], check["spans"]) != sent:
                    raise AssertionError(f"{check['project']}: the API lists (sessions, turns, spans) "
                                         f"{(check['sessions_total'], check['traces'], check['spans'])}, sent {sent}")
            read_ms = reads(server.url, keys[0], workload, args.repeat, deep_pages=20)
        finally:
            server.stop()

    seconds = exported.last_ack - exported.first_post
    results = {
        "workload": {"spans": exported.spans, "sessions": sum(stats.sessions), "traces": sum(stats.traces),
                     "requests": exported.requests, "otlp_bytes_per_span": round(stats.otlp_bytes / exported.spans),
                     "exporters": args.exporters},
        "server": {"module": server.module_path},
        "ingest_seconds": round(seconds, 2),
        "ingest_spans_per_second": round(exported.spans / seconds),
        "server_cpu_ms_per_span": round((last.server_cpu - first.server_cpu) * 1000 / exported.spans, 3),
        "reads_ms": read_ms,
        "peak_rss_mib": round(meter.peak_rss / 2**20, 1),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_average": os.getloadavg()},
    }
    table = Table(title=f"Threadline: {exported.spans:,} spans, {results['workload']['sessions']:,} sessions, "
                        f"3 projects, {args.exporters} exporters")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("ingest, end to end (committed, rollups visible)", f"{results['ingest_spans_per_second']:,} spans/s")
    table.add_row("server CPU per span", f"{results['server_cpu_ms_per_span']} ms")
    for name, stat in read_ms.items():
        table.add_row(f"{name} p50 / p95", f"{stat['p50']} / {stat['p95']} ms")
    table.add_row("server peak RSS", f"{results['peak_rss_mib']} MiB")
    table.add_row("every session and span queryable", "yes")
    console.print(table)
    write_results("ingest_and_read", results, console)


if __name__ == "__main__":
    main()
