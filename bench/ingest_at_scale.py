"""Benchmark: ingest that stays fast as data grows (issue 11), with the realistic OTLP workload of ``workload.py``.

Starts a fresh ``threadline serve`` (a temporary data directory, its own port, ``THREADLINE_ADMIN_KEY`` set so the
three projects and their API keys are created through the admin API) from this checkout or from ``--server-src``,
or targets a running server (``--url``), and streams ``--spans`` spans into it with ``--exporters`` concurrent
exporters, one keep-alive connection each. Prints and writes to JSON (``bench/results/ingest_at_scale-*.json``):

* per ``--window`` spans: spans/s end to end (a 200 from ``/v1/traces`` means committed in embedded mode), server
  CPU ms per span (user + system of the server process), the client's own CPU per span, server RSS;
* peak RSS; disk bytes per span right after ingest, after ``--merge-wait`` seconds of background merges, and (once
  the server stopped, by reopening the directory with chDB) active-part bytes per table before and after
  ``OPTIMIZE TABLE ... FINAL``;
* the reads of issue 11 item 4: ``GET /v1/sessions`` first page for every sort and with the user filter, a deep page
  through the cursor, a 20-turn ``GET /v1/sessions/{id}``, a rare-word content search (p50/p95);
* the end-to-end check: per project, the sessions the API lists and the spans and turns they sum up to equal what was
  sent.

``--queue redis://HOST:6379/N`` runs ``serve --queue`` with ``--consumers`` consumers; a 200 then means queued, so the
end-to-end rate counts until the queue is drained (``/readyz`` queue depth 0), and the lag after the last
acknowledgement is reported. ``--query-log`` turns on chDB's ``system.query_log`` in the server and reports it per
query tag for the first and the last ``--profile-spans`` spans; ``--py-spy-at N`` samples the server with py-spy for
``--py-spy-seconds`` once N spans are acknowledged (every thread, for wall time; with ``--py-spy-gil`` only the thread
holding the GIL, which shows where the one core Python's threads share goes: request decoding was half of it).

    .venv/bin/python bench/ingest_at_scale.py [--spans 5000000] [--exporters 4] [--spans-per-request 500]
        [--server-src /path/to/checkout] [--queue redis://127.0.0.1:6379/0 --consumers 2] [--query-log]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from results_file import write_results
from rich.console import Console
from rich.table import Table
from serving import (
    THREAD_KINDS,
    Meter,
    ServeProcess,
    Snapshot,
    create_projects,
    dir_bytes,
    export,
    latency,
    part_log_path,
    query_log_path,
    thread_cpu,
    thread_cpu_delta,
    timed,
    write_query_log_config,
)
from store_report import StoreReport, merges, query_log
from workload import DEFAULT_PROJECTS, RARE_WORD, Project, Workload, WorkloadConfig

# Python functions of the write path whose samples the py-spy summary reports (inclusive, wall time of the threads
# running them). Method names of today's code; a function that no longer exists shows 0.
PY_SPY_STAGES = {
    "decode + normalise + Arrow (request thread)": "decode_and_normalize",
    "  OTLP protobuf decode": "decode_request",
    "  spans to RawSpans": "to_raw_spans",
    "  normalise (rows and Arrow)": "normalize_spans",
    "    rows to Arrow": "values_to_arrow",
    "group commit: concat batches": "concat",
    "spans insert (chDB)": "insert_arrow",
    "rollup pass (BatchCommitter._write)": "_write|_recompute",
    "  fold spans into trace states": "fold",
    "  session rollups (query, texts)": "_write_sessions",
    "chDB queries (query_arrow + command)": "query_arrow|command",
}


def arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    work = parser.add_argument_group("workload")
    work.add_argument("--spans", type=int, default=5_000_000, help="spans to send (whole sessions: about this many)")
    work.add_argument("--spans-per-request", type=int, default=500)
    work.add_argument("--exporters", type=int, default=4, help="concurrent exporters (one connection each)")
    work.add_argument("--project-shares", default="0.6,0.3,0.1",
                      help="shares of the sessions of the 3 projects (support chats, docs Q&A, research agent)")
    work.add_argument("--users", type=int, default=20_000, help="user ids per project (Zipf)")
    work.add_argument("--users-zipf", type=float, default=1.0)
    work.add_argument("--max-turns", type=int, default=20)
    work.add_argument("--turns-zipf", type=float, default=1.25, help="Zipf exponent of session lengths")
    work.add_argument("--system-prompt-bytes", type=int, default=400)
    work.add_argument("--history-turns", type=int, default=2, help="earlier turns resent in each LLM prompt")
    work.add_argument("--answer-words", type=int, nargs=2, default=(10, 50), metavar=("MIN", "MAX"),
                      help="prose words added to each answer (unique, prose-like text)")
    work.add_argument("--prose-zipf", type=float, default=1.0,
                      help="Zipf exponent of the prose's word frequencies (lower: less compressible text)")
    work.add_argument("--every-span-ids", type=float, default=0.5,
                      help="share of sessions with session.id on every span (else on the root only)")
    work.add_argument("--rare-word-rate", type=float, default=0.001)
    work.add_argument("--templates", type=int, default=400, help="session templates per project")
    work.add_argument("--spans-per-day", type=int, default=50_000_000, help="simulated traffic rate")
    work.add_argument("--seed", type=int, default=1)
    server = parser.add_argument_group("server")
    server.add_argument("--server-src", type=Path, default=os.environ.get("THREADLINE_BENCH_SERVER_SRC"),
                        help="run the server from this checkout (its src/ first on PYTHONPATH) [env "
                             "THREADLINE_BENCH_SERVER_SRC; default: the installed package]")
    server.add_argument("--url", help="a running server instead of a fresh one (needs --admin-key)")
    server.add_argument("--admin-key", default=os.environ.get("THREADLINE_ADMIN_KEY"),
                        help="admin key of --url [env THREADLINE_ADMIN_KEY]")
    server.add_argument("--server-pid", type=int, help="pid of --url's server, for CPU and RSS figures")
    server.add_argument("--data-dir", type=Path,
                        help="the server's data directory (kept); default: a temporary one, removed after")
    server.add_argument("--queue", help="redis://HOST:6379/N: serve --queue with --consumers consumers")
    server.add_argument("--consumers", type=int, default=2)
    measure = parser.add_argument_group("measurements")
    measure.add_argument("--window", type=int, default=250_000, help="spans per row of the rate table")
    measure.add_argument("--repeat", type=int, default=20, help="requests per read latency")
    measure.add_argument("--deep-pages", type=int, default=20, help="cursor pages (of 50) to the deep page")
    measure.add_argument("--merge-wait", type=float, default=60, help="seconds of background merges to wait")
    measure.add_argument("--no-inspect", action="store_true",
                         help="do not reopen the store after the server stopped (parts, OPTIMIZE FINAL)")
    measure.add_argument("--query-log", action="store_true", help="turn on chDB's system.query_log in the server")
    measure.add_argument("--memory-log", action="store_true",
                         help="sample the server's memory every 2 s (RSS anonymous/file-backed, chDB's tracked memory "
                              "and caches, Arrow's pool) and report it at the peak")
    measure.add_argument("--profile-spans", type=int, default=100_000,
                         help="query-log windows: the first and the last this many spans")
    measure.add_argument("--py-spy-at", type=int, help="sample the server with py-spy once this many spans are in")
    measure.add_argument("--py-spy-seconds", type=float, default=60)
    measure.add_argument("--py-spy-gil", action="store_true",
                         help="sample only the thread holding the GIL (where Python's one core of work goes; the "
                              "default samples every thread, idle ones included, for wall time)")
    args = parser.parse_args()
    if args.url and not args.admin_key:
        parser.error("--url needs --admin-key (or THREADLINE_ADMIN_KEY) to create projects and keys")
    return args


def workload_config(args: argparse.Namespace) -> WorkloadConfig:
    """The workload of the command line."""
    shares = [float(x) for x in args.project_shares.split(",")]
    if len(shares) != len(DEFAULT_PROJECTS):
        raise SystemExit(f"--project-shares needs {len(DEFAULT_PROJECTS)} values")
    projects = tuple(Project(p.project_id, share, p.app) for p, share in zip(DEFAULT_PROJECTS, shares, strict=True))
    return WorkloadConfig(
        spans=args.spans, spans_per_request=args.spans_per_request, projects=projects, users=args.users,
        users_zipf=args.users_zipf, max_turns=args.max_turns, turns_zipf=args.turns_zipf,
        system_prompt_bytes=args.system_prompt_bytes, history_turns=args.history_turns,
        answer_words=tuple(args.answer_words), prose_zipf=args.prose_zipf,
        every_span_ids=args.every_span_ids, rare_word_rate=args.rare_word_rate, templates=args.templates,
        spans_per_day=args.spans_per_day, seed=args.seed)


class PySpy:
    """Samples the server with ``py-spy record`` (raw collapsed stacks, non-blocking, idle threads included: a
    thread waiting for chDB's query pipeline is idle to the OS, but that wait is the commit's time) for ``seconds``
    once ``at_spans`` spans are acknowledged; records the spans acknowledged and the server's per-thread CPU
    meanwhile."""

    def __init__(self, pid: int, at_spans: int, seconds: float, out: Path, meter_ref: list[Meter],
                 gil: bool = False) -> None:
        self.pid, self.at_spans, self.seconds, self.out, self.gil = pid, at_spans, seconds, out, gil
        self.meter_ref = meter_ref
        self.thread: threading.Thread | None = None
        self.result: dict[str, Any] = {}

    def maybe_start(self, acked: int) -> None:
        """Meter callback: start sampling (once) when ``acked`` reaches the threshold."""
        if self.thread is None and acked >= self.at_spans:
            self.thread = threading.Thread(target=self._run, daemon=True, name="py-spy")
            self.thread.start()

    def _run(self) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        meter = self.meter_ref[0]
        before, threads_before, started = meter.snapshot(), thread_cpu(self.pid), time.time()
        command = [py_spy, "record", "--pid", str(self.pid), "--duration", str(int(self.seconds)), "--rate", "100",
                   "--format", "raw", "--nonblocking", "--output", str(self.out),
                   *(["--gil"] if self.gil else ["--idle"])]
        done = subprocess.run(command, capture_output=True, text=True)
        after, threads_after = meter.snapshot(), thread_cpu(self.pid)
        self.result = {"start": started, "end": time.time(), "acked_before": before.acked,
                       "acked_after": after.acked, "server_cpu_s": round(after.server_cpu - before.server_cpu, 2),
                       "exit": done.returncode, "gil": self.gil, "stderr": done.stderr[-500:], "output": str(self.out),
                       "thread_cpu_s": thread_cpu_delta(threads_before, threads_after)}

    def summary(self) -> dict[str, Any]:
        """Samples per write-path stage (inclusive) and the hottest frames; empty if py-spy did not run."""
        if self.thread is None:
            return {}
        self.thread.join()
        if not self.out.exists():
            return self.result
        inclusive: Counter[str] = Counter()
        lines: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        stages: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            count = int(count_text)
            total += count
            frames = stack.split(";")
            names = {frame.split(" (")[0].rsplit(".", 1)[-1] for frame in frames}  # method names without class
            for frame in set(frames):
                if "threadline" in frame:
                    lines[frame] += count
            for name in names:
                inclusive[name] += count
            leaves[frames[-1]] += count
            for label, pattern in PY_SPY_STAGES.items():
                if names & set(pattern.split("|")):
                    stages[label] += count
        spans = max(1, self.result["acked_after"] - self.result["acked_before"])
        seconds = self.result["end"] - self.result["start"]
        ms = 1000 / 100  # one sample = 10 ms of a thread's time at --rate 100
        return {**self.result, "samples": total, "spans": spans, "seconds": round(seconds, 1),
                "stages_ms_per_span": {label: round(stages[label] * ms / spans, 4) for label in PY_SPY_STAGES},
                "stages_samples": {label: stages[label] for label in PY_SPY_STAGES},
                "top_functions": inclusive.most_common(40), "top_threadline_lines": lines.most_common(40),
                "top_leaves": leaves.most_common(25)}


def time_at(timeline: list[Snapshot], spans: float) -> float:
    """Wall time at which ``spans`` spans were acknowledged (interpolated over the 1-second timeline)."""
    for earlier, later in itertools.pairwise(timeline):
        if later.acked >= spans:
            if later.acked == earlier.acked:
                return later.wall
            return earlier.wall + (later.wall - earlier.wall) * (spans - earlier.acked) / (later.acked - earlier.acked)
    return timeline[-1].wall


def wait_drained(url: str, timeout_s: float = 7200) -> float:
    """Queue mode: poll ``/readyz`` until the queue depth is 0; returns the wall time it was first seen empty."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline:
            body = client.get("/readyz").json()
            if body.get("queue_depth", 0) == 0:
                return time.time()
            time.sleep(0.5)
    raise RuntimeError(f"the queue was not drained within {timeout_s:.0f} s")


def wait_settled(url: str, key: str) -> float:
    """Embedded: a session read waits until the rollups of every span acknowledged before it are written (the read
    fence, ``threadline.api.state.settled_writes``); returns the wall time its answer came."""
    with httpx.Client(base_url=url, timeout=3600, headers={"authorization": f"Bearer {key}"}) as client:
        client.get("/v1/sessions", params={"limit": 1}).raise_for_status()
    return time.time()


def queryable(url: str, keys: list[str], projects: tuple[Project, ...]) -> list[dict[str, Any]]:
    """Per project, what the sessions API lists: session count, and the spans and turns the sessions sum up to
    (from the Parquet export of the whole list)."""
    out = []
    for project, key in zip(projects, keys, strict=True):
        with httpx.Client(base_url=url, timeout=3600, headers={"authorization": f"Bearer {key}"}) as client:
            total = client.get("/v1/sessions", params={"limit": 1}).raise_for_status().json()["pagination"]["total"]
            started = time.perf_counter()
            data = client.get("/v1/sessions/export", params={"format": "parquet"}).raise_for_status().content
            table = pq.read_table(io.BytesIO(data), columns=["span_count", "trace_count"])
            out.append({"project": project.project_id, "sessions_total": total, "sessions_exported": table.num_rows,
                        "spans": sum(table.column("span_count").to_pylist()),
                        "traces": sum(table.column("trace_count").to_pylist()),
                        "export_seconds": round(time.perf_counter() - started, 2)})
    return out


def reads(url: str, key: str, workload: Workload, repeat: int, deep_pages: int) -> dict[str, Any]:
    """Issue 11 item 4's reads on the first project; name -> {p50, p95, rows}."""
    from threadline.queries.sorting import SORT_FIELDS

    results: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=300, headers={"authorization": f"Bearer {key}"}) as client:
        def run(name: str, path: str, params: Any) -> None:
            samples, body = timed(client, path, params, repeat)
            rows = len(body.get("data", body.get("traces", [])) or [])
            results[name] = {**latency(samples), "rows": rows}

        for sort in SORT_FIELDS:
            run(f"list first page, sort=-{sort}", "/v1/sessions", {"limit": 50, "sort": f"-{sort}"})
        user = workload.stats.top_users[0]
        run(f"list first page, user_id={user} (most active user)", "/v1/sessions", {"limit": 50, "user_id": user})
        cursor, page = None, {"limit": 50}
        for _ in range(deep_pages):
            body = client.get("/v1/sessions", params=page).raise_for_status().json()
            cursor = body["pagination"]["next_cursor"]
            if not cursor:
                break
            page = {"limit": 50, "cursor": cursor}
        if cursor:
            run(f"list deep page (cursor, page {deep_pages + 1})", "/v1/sessions", page)
        long_sessions = workload.stats.twenty_turn_sessions[0]
        if long_sessions:
            run(f"20-turn session GET /v1/sessions/{long_sessions[0]}", f"/v1/sessions/{long_sessions[0]}", {})
        run(f"content search q={RARE_WORD} (rare word)", "/v1/sessions/search", {"q": RARE_WORD, "limit": 20})
    return results


def window_rows(windows: list[Snapshot], final: Snapshot) -> list[dict[str, Any]]:
    """Rate rows between consecutive window snapshots (and the last partial window)."""
    marks = list(windows)
    if final.acked > marks[-1].acked:
        marks.append(final)
    rows = []
    for earlier, later in itertools.pairwise(marks):
        spans = later.acked - earlier.acked
        seconds = later.wall - earlier.wall
        rows.append({"from": earlier.acked, "to": later.acked, "seconds": round(seconds, 1),
                     "spans_per_s": round(spans / seconds) if seconds else None,
                     "server_cpu_ms_per_span": round((later.server_cpu - earlier.server_cpu) * 1000 / spans, 3),
                     "client_cpu_us_per_span": round((later.client_cpu - earlier.client_cpu) * 1e6 / spans, 1),
                     "rss_mib": round(later.rss / 2**20),
                     # threads that ended within the window drop out of these (the server's pools are long-lived)
                     "server_threads_cpu_ms_per_span": {
                         kind: round(max(0.0, later.server_threads.get(kind, 0) - earlier.server_threads.get(kind, 0))
                                     * 1000 / spans, 3) for kind in THREAD_KINDS}})
    return rows


def print_report(console: Console, results: dict[str, Any]) -> None:
    """The tables."""
    table = Table(title=f"ingest at scale: {results['ingest']['spans']:,} spans, {results['config']['exporters']} "
                        f"exporters, requests of ≤{results['config']['spans_per_request']} spans "
                        f"({results['server']['mode']})")
    rate = "spans/s acknowledged (queued)" if results["ingest"].get("queue_lag_s") is not None else "spans/s"
    for column in ("spans", "s", rate, "server CPU ms/span", *(f"  {kind}" for kind in THREAD_KINDS),
                   "client CPU µs/span", "server RSS MiB"):
        table.add_column(column, justify="right")
    for row in results["windows"]:
        kinds = row.get("server_threads_cpu_ms_per_span", {})
        table.add_row(f"{row['from']:,}-{row['to']:,}", f"{row['seconds']}", f"{row['spans_per_s']:,}",
                      f"{row['server_cpu_ms_per_span']}", *(f"{kinds.get(kind, 0)}" for kind in THREAD_KINDS),
                      f"{row['client_cpu_us_per_span']}", f"{row['rss_mib']}")
    console.print(table)
    summary = Table(title="totals")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    ingest = results["ingest"]
    summary.add_row("end to end (first POST → all committed/queryable)",
                    f"{ingest['spans_per_s_end_to_end']:,} spans/s")
    if ingest.get("queue_lag_s") is not None:
        summary.add_row("acknowledged (queued)", f"{ingest['spans_per_s_acknowledged']:,} spans/s")
        summary.add_row("queue lag after the last acknowledgement", f"{ingest['queue_lag_s']} s")
    summary.add_row("last window / first window", f"{ingest['last_over_first']}")
    summary.add_row("server CPU per span, whole run", f"{ingest['server_cpu_ms_per_span']} ms")
    summary.add_row("client CPU per span, whole run", f"{ingest['client_cpu_us_per_span']} µs")
    summary.add_row("server peak RSS", f"{results['server']['peak_rss_mib']} MiB")
    summary.add_row("OTLP bytes per span sent", f"{results['workload']['otlp_bytes_per_span']}")
    summary.add_row("retries (429/503), rejected spans", f"{ingest['retries']}, {ingest['rejected']}")
    for name, value in results["disk"].items():
        summary.add_row(f"disk: {name}", f"{value:,} B/span" if isinstance(value, int) else str(value))
    for check in results["end_to_end_check"]:
        summary.add_row(f"queryable, {check['project']}: sessions / turns / spans (sent)",
                        f"{check['sessions_total']:,}/{check['sessions_sent']:,}  {check['traces']:,}/"
                        f"{check['traces_sent']:,}  {check['spans']:,}/{check['spans_sent']:,}  "
                        f"{'ok' if check['ok'] else 'MISMATCH'}")
    console.print(summary)
    if results["reads_ms"]:
        read_table = Table(title="reads (first project)")
        for column in ("read", "p50 ms", "p95 ms", "rows"):
            read_table.add_column(column, justify="left" if column == "read" else "right")
        for name, stats in results["reads_ms"].items():
            read_table.add_row(name, f"{stats['p50']}", f"{stats['p95']}", f"{stats['rows']}")
        console.print(read_table)
    for name, rows in results.get("query_log", {}).items():
        if not rows["tags"]:
            continue
        log_table = Table(title=f"system.query_log, {name}: spans {rows['from']:,}-{rows['to']:,} "
                                f"({rows['seconds']} s)")
        for column in ("tag", "queries", "total ms", "avg ms", "ms/span", "CPU µs/span", "read rows", "read MiB",
                       "parts", "marks", "max MiB"):
            log_table.add_column(column, justify="left" if column == "tag" else "right")
        spans = rows["to"] - rows["from"]
        for tag in rows["tags"][:18]:
            log_table.add_row(tag["tag"], f"{tag['queries']:,}", f"{tag['total_ms']:,}", f"{tag['avg_ms']}",
                              f"{tag['total_ms'] / spans:.4f}", f"{tag['cpu_ms'] * 1000 / spans:.1f}",
                              f"{tag['read_rows']:,}", f"{tag['read_bytes'] / 2**20:,.1f}",
                              f"{tag['selected_parts']:,}", f"{tag['selected_marks']:,}",
                              f"{tag['max_memory'] / 2**20:,.0f}")
        console.print(log_table)
        if rows.get("merges"):
            merge_table = Table(title=f"system.part_log merges, {name}: spans {rows['from']:,}-{rows['to']:,}")
            for column in ("table", "merges", "total ms", "CPU µs/span", "rows", "read MiB", "written MiB",
                           "max MiB"):
                merge_table.add_column(column, justify="left" if column == "table" else "right")
            for merge in rows["merges"]:
                merge_table.add_row(merge["table"], f"{merge['merges']:,}", f"{merge['total_ms']:,}",
                                    f"{merge['cpu_ms'] * 1000 / spans:.1f}", f"{merge['rows']:,}",
                                    f"{merge['read_bytes'] / 2**20:,.1f}", f"{merge['written_bytes'] / 2**20:,.1f}",
                                    f"{merge['max_memory'] / 2**20:,.0f}")
            console.print(merge_table)
    spy = results.get("py_spy") or {}
    if spy.get("stages_ms_per_span"):
        mode = "GIL holder" if spy.get("gil") else "every thread"
        spy_table = Table(title=f"py-spy ({mode}): {spy['seconds']} s at "
                                f"{spy['acked_before']:,}-{spy['acked_after']:,} spans ({spy['samples']:,} samples, "
                                f"server CPU {spy['server_cpu_s']} s)")
        spy_table.add_column("stage (Python frames, inclusive)")
        spy_table.add_column("ms/span", justify="right")
        spy_table.add_column("samples", justify="right")
        for label, value in spy["stages_ms_per_span"].items():
            spy_table.add_row(label, f"{value}", f"{spy['stages_samples'][label]:,}")
        console.print(spy_table)


def memory_report(console: Console, path: Path) -> dict[str, Any]:
    """Print and return the server's memory samples (``--memory-log``) at its peak RSS and at the last sample
    (bytes in MiB, counts as they are)."""
    import json

    samples = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not samples:
        return {}
    peak = max(samples, key=lambda row: row.get("RssAnon", 0) + row.get("RssFile", 0))
    table = Table(title="server memory (MiB), at the peak RSS and at the last sample")
    table.add_column("measure")
    table.add_column("at peak", justify="right")
    table.add_column("last", justify="right")
    for name in peak:
        if name != "t":  # byte figures in MiB; counts as they are
            scale = 1 if "(count)" in name else 2**20
            table.add_row(name, f"{peak[name] / scale:,.0f}", f"{samples[-1].get(name, 0) / scale:,.0f}")
    console.print(table)
    return {"peak": peak, "last": samples[-1], "samples": len(samples)}


def main() -> None:
    args = arguments()
    console = Console(width=None if sys.stdout.isatty() else 150)
    config = workload_config(args)
    workload = Workload(config)
    console.print(f"building the workload's templates... ({workload.build():.1f} s, "
                  f"{workload.template_bytes_per_span():,.0f} B of OTLP per span)")
    temp = Path(tempfile.mkdtemp(prefix="threadline-scale-"))
    data_dir = args.data_dir or temp / "data"
    query_log = write_query_log_config(temp) if args.query_log else None
    server: ServeProcess | None = None
    results: dict[str, Any] = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                          if k != "admin_key"}}
    try:
        if args.url:
            url, admin_key, pid = args.url.rstrip("/"), args.admin_key, args.server_pid
            results["server"] = {"mode": f"running server {url}"}
        else:
            server = ServeProcess(data_dir, temp / "server.log", src=args.server_src, queue=args.queue,
                                  consumers=args.consumers if args.queue else None, query_log_config=query_log,
                                  memory_log=temp / "memory.jsonl" if args.memory_log else None)
            server.start()
            url, admin_key, pid = server.url, server.admin_key, server.pid
            mode = f"queue {args.queue}, {args.consumers} consumer(s)" if args.queue else "embedded"
            results["server"] = {"mode": mode, "module": server.module_path, "data_dir": str(data_dir),
                                 "log": str(server.log_path)}
            console.print(f"server pid {pid} on {url}, threadline imported from {server.module_path}, data in "
                          f"{data_dir}, log {server.log_path}")
        keys = create_projects(url, admin_key, [p.project_id for p in config.projects])
        meter_ref: list[Meter] = []
        spy = PySpy(pid, args.py_spy_at, args.py_spy_seconds, temp / "py-spy.txt", meter_ref,
                    args.py_spy_gil) if args.py_spy_at and pid else None
        meter = Meter(pid, args.window, on_span_count=spy.maybe_start if spy else None)
        meter_ref.append(meter)
        console.print(f"streaming ~{config.spans:,} spans with {args.exporters} exporters...")
        first = meter.start()

        def progress() -> None:
            while not stop_progress.wait(30):
                last = meter.timeline[-1]
                console.print(f"  {last.acked:,} spans acknowledged, {last.acked / (last.wall - first.wall):,.0f} "
                              f"spans/s so far, RSS {last.rss / 2**20:,.0f} MiB")

        stop_progress = threading.Event()
        threading.Thread(target=progress, daemon=True).start()
        exported = export(url, keys, workload.requests(), args.exporters, meter)
        stop_progress.set()
        if exported.errors:
            raise RuntimeError(f"export failed after {exported.spans:,} spans: {exported.errors[:3]}")
        drained = wait_drained(url) if args.queue else wait_settled(url, keys[0])
        final = meter.stop()  # queue mode: once drained, so the server's CPU includes the consumers' backlog
        stats = workload.stats
        sent = sum(stats.spans)
        elapsed = drained - exported.first_post
        rows = window_rows(meter.windows, final)
        results["workload"] = {
            "spans": sent, "traces": sum(stats.traces), "sessions": sum(stats.sessions),
            "requests": sum(stats.requests), "otlp_bytes_per_span": round(stats.otlp_bytes / sent),
            "spans_per_trace": round(sent / sum(stats.traces), 2),
            "turns_per_session": round(sum(stats.traces) / sum(stats.sessions), 2),
            "roots_in_a_later_request": round(stats.roots_in_later_request / sum(stats.traces), 3),
            "rare_word_questions": stats.rare_word_questions,
            "per_project": [{"project": p.project_id, "sessions": stats.sessions[i], "traces": stats.traces[i],
                             "spans": stats.spans[i], "requests": stats.requests[i]}
                            for i, p in enumerate(config.projects)]}
        results["ingest"] = {
            "spans": exported.spans, "rejected": exported.rejected, "retries": exported.retries,
            "seconds": round(elapsed, 1), "spans_per_s_end_to_end": round(exported.spans / elapsed),
            "spans_per_s_acknowledged": round(exported.spans / (exported.last_ack - exported.first_post)),
            "queue_lag_s": round(drained - exported.last_ack, 1) if args.queue else None,
            "rollup_lag_s": None if args.queue else round(drained - exported.last_ack, 2),
            "last_over_first": round(rows[-1]["spans_per_s"] / rows[0]["spans_per_s"], 2) if rows else None,
            "server_cpu_ms_per_span": round((final.server_cpu - first.server_cpu) * 1000 / exported.spans, 3),
            "client_cpu_us_per_span": round((final.client_cpu - first.client_cpu) * 1e6 / exported.spans, 1)}
        results["windows"] = rows
        results["timeline"] = [s.as_dict() for s in meter.timeline]
        disk: dict[str, Any] = {}
        if data_dir.exists():
            disk["data dir right after ingest"] = dir_bytes(data_dir) // exported.spans
        console.print("checking that everything sent is queryable...")
        checks = queryable(url, keys, config.projects)
        for index, check in enumerate(checks):
            check |= {"sessions_sent": stats.sessions[index], "traces_sent": stats.traces[index],
                      "spans_sent": stats.spans[index]}
            check["ok"] = (check["sessions_total"], check["traces"], check["spans"]) == \
                (stats.sessions[index], stats.traces[index], stats.spans[index])
        results["end_to_end_check"] = checks
        console.print("timing reads...")
        results["reads_ms"] = reads(url, keys[0], workload, args.repeat, args.deep_pages)
        if data_dir.exists() and args.merge_wait:
            console.print(f"waiting {args.merge_wait:.0f} s for background merges...")
            time.sleep(args.merge_wait)
            disk[f"data dir after {args.merge_wait:.0f} s of merges"] = dir_bytes(data_dir) // exported.spans
        results["server"]["peak_rss_mib"] = round(meter.peak_rss / 2**20)
        if server is not None and server.memory_log is not None:
            results["memory"] = memory_report(console, server.memory_log)
        results["py_spy"] = spy.summary() if spy else {}
        if server is not None:
            stopped = time.perf_counter()
            results["server"]["exit_code"] = server.stop()
            results["server"]["stop_seconds"] = round(time.perf_counter() - stopped, 1)
            if not args.no_inspect:
                console.print("reopening the store: parts, query log, OPTIMIZE FINAL...")
                results["query_log"], parts = inspect(data_dir, query_log, meter.timeline, exported.spans, args)
                results["parts"] = parts
                for stage in ("before", "after"):
                    active = sum(row["bytes_on_disk"] for row in parts[stage])
                    disk[f"active parts {'after OPTIMIZE FINAL' if stage == 'after' else 'after stop'}"] = \
                        active // exported.spans
                disk["data dir after OPTIMIZE FINAL (old parts not yet removed)"] = \
                    dir_bytes(data_dir) // exported.spans
        results["disk"] = disk
        results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                              "load_average": os.getloadavg()}
    finally:
        if server is not None:
            server.stop()
            server.clear_queue()
        if args.data_dir is None:
            keep = temp / "py-spy.txt"
            if keep.exists():
                results.setdefault("py_spy", {})["output"] = str(shutil.copy(keep, Path(tempfile.gettempdir())))
            shutil.rmtree(temp, ignore_errors=True)
    print_report(console, results)
    write_results("ingest_at_scale", results, console)


def inspect(data_dir: Path, config: Path | None, timeline: list[Snapshot], spans: int, args: argparse.Namespace
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """After the server stopped: its query log over the first and the last ``--profile-spans`` spans, and, reopening
    its store, the active parts before and after OPTIMIZE FINAL and the largest columns."""
    windows: dict[str, Any] = {}
    if config is not None and query_log_path(config).exists():
        size = min(args.profile_spans, spans)
        for name, low, high in (("first", 0, size), ("last", spans - size, spans)):
            start, end = time_at(timeline, low), time_at(timeline, high)
            windows[name] = {"from": low, "to": high, "seconds": round(end - start, 1),
                             "tags": query_log(query_log_path(config), start, end),
                             "merges": merges(part_log_path(config), start, end)
                             if part_log_path(config).exists() else []}
    report = StoreReport(data_dir, "threadline")
    try:
        parts: dict[str, Any] = {"before": report.parts(), "columns": report.columns()}
        parts["optimize_seconds"] = round(report.optimize(), 1)
        parts["after"] = report.parts()
        return windows, parts
    finally:
        report.close()


if __name__ == "__main__":
    main()
