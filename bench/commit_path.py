"""Benchmark: where a commit's time goes in the writer, per store statement, as the store grows (issue 11, item 1).

Runs the writer in this process, without HTTP: the realistic OTLP workload of ``workload.py`` is decoded and
normalised up front (not timed), then committed as the embedded group commit does (``BatchCommitter.insert`` then
``recompute_inserted`` of ``--commit-spans`` spans at a time, the requests of every project mixed) into a chDB
store, optionally a copy of an existing one (``--from BACKUP``, e.g. a `threadline backup` of the data
directory a 1M-span ``ingest_at_scale.py --data-dir`` run left), so that the figures are those of a store of that size.

Every store statement is timed by its query tag (wall ms per span, and the calling thread's CPU, which includes the
part of a chDB statement run in that thread), and the process's CPU is split by thread kind (Python threads,
ClickHouse's query pool, its background merges), per window of ``--window`` spans. Prints the tables and writes JSON
to bench/results/.

    .venv/bin/python bench/commit_path.py --spans 200000 [--from /work/bench-data/p1m] [--commit-spans 2000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
from results_file import write_results
from rich.console import Console
from rich.table import Table
from serving import thread_cpu as serving_thread_cpu
from serving import thread_kind
from workload import Workload, WorkloadConfig

from threadline.api.otlp_export import decode_and_normalize
from threadline.ingest.otlp import PROTOBUF
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import concat
from threadline.store.backup import restore_backup
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.writer.commit import BatchCommitter


class StatementClock:
    """Wall and calling-thread CPU seconds of every store statement, by query tag (wraps ``Store._run``)."""

    def __init__(self, store: Store) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        run = store._run

        def timed(tag: str, fn: Any, *args: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return run(tag, fn, *args)
            finally:
                with self._lock:
                    self.wall[tag] += time.perf_counter() - wall
                    self.cpu[tag] += time.thread_time() - cpu
                    self.count[tag] += 1

        store._run = timed  # type: ignore[method-assign]

    def take(self) -> dict[str, tuple[float, float, int]]:
        """(wall s, CPU s, statements) per tag since the last take."""
        with self._lock:
            out = {tag: (self.wall[tag], self.cpu[tag], self.count[tag]) for tag in self.wall}
            self.wall.clear(), self.cpu.clear(), self.count.clear()
        return out


def thread_cpu(process: psutil.Process) -> dict[str, float]:
    """CPU seconds of this process's threads (:func:`serving.thread_cpu`), summed by thread name prefix (ClickHouse
    names its pools: MergeMutate, ThreadPool...; Python threads count as ``python``)."""
    totals: dict[str, float] = defaultdict(float)
    for name, seconds in serving_thread_cpu(process.pid).values():
        kind = "python" if thread_kind(name) == "python" else name.rstrip("0123456789").rstrip("_-") or name
        totals[kind] += seconds
    return dict(totals)


def batches(config: WorkloadConfig, projects: list[str], commit_spans: int) -> Iterator[pa.Table]:
    """The workload's requests decoded and normalised, grouped into commits of about ``commit_spans`` spans."""
    workload = Workload(config)
    workload.build()
    prices = PriceTable.load(None)
    pending: list[pa.Table] = []
    size = 0
    for request in workload.requests():
        table, _, _ = decode_and_normalize(request.body, PROTOBUF, projects[request.project], prices)
        pending.append(table)
        size += table.num_rows
        if size >= commit_spans:
            yield concat(pending)
            pending, size = [], 0
    if pending:
        yield concat(pending)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans to commit")
    parser.add_argument("--from", dest="source", type=Path,
                        help="start from this backup (`threadline backup`), restored into a temporary directory")
    parser.add_argument("--database", default="threadline")
    parser.add_argument("--commit-spans", type=int, default=2000, help="spans per commit (group commit's batch)")
    parser.add_argument("--window", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7, help="workload seed (differs from ingest_at_scale's)")
    args = parser.parse_args()
    console = Console()

    temp = Path(tempfile.mkdtemp(prefix="threadline-commit-path-"))
    data_dir = temp / "data"
    store = Store.embedded(data_dir, args.database)
    if args.source:
        console.print(f"restoring {args.source}...")
        restore_backup(store, args.source)
    migrate(store)
    projects = [r["project_id"] for r in store.select(
        "SELECT project_id, count() AS n FROM {db}.session_rollups GROUP BY project_id ORDER BY n DESC",
        tag="bench.projects")][:3] or ["probe-a", "probe-b", "probe-c"]
    stored = store.select("SELECT count() AS n FROM {db}.spans", tag="bench.count")[0]["n"]
    committer = BatchCommitter(store, exclusive=True)
    committer.recover()
    clock = StatementClock(store)
    process = psutil.Process()

    console.print(f"{stored:,} spans stored; building and normalising the workload...")
    config = WorkloadConfig(spans=args.spans, seed=args.seed)
    tables = list(batches(config, projects, args.commit_spans))
    clock.take()
    windows: list[dict[str, Any]] = []
    done = 0
    started, cpu_before, threads_before = time.perf_counter(), process.cpu_times(), thread_cpu(process)
    window_spans = 0
    for table in tables:
        committer.recompute_inserted(committer.insert(table))
        done += table.num_rows
        window_spans += table.num_rows
        if window_spans >= args.window or table is tables[-1]:
            now, cpu_now, threads_now = time.perf_counter(), process.cpu_times(), thread_cpu(process)
            windows.append({
                "stored_before": stored + done - window_spans, "spans": window_spans,
                "seconds": now - started,
                "cpu_s": (cpu_now.user + cpu_now.system) - (cpu_before.user + cpu_before.system),
                "threads_cpu_s": {k: threads_now.get(k, 0) - threads_before.get(k, 0) for k in threads_now},
                "tags": {tag: {"wall_s": w, "cpu_s": c, "count": n} for tag, (w, c, n) in clock.take().items()},
            })
            started, cpu_before, threads_before, window_spans = now, cpu_now, threads_now, 0
    report(console, windows, args)
    write_results("commit_path", {"config": vars(args) | {"source": str(args.source)}, "windows": windows}, console)
    shutil.rmtree(temp, ignore_errors=True)


def report(console: Console, windows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the per-window totals and the per-tag table of the first and the last window."""
    table = Table(title=f"commits of ~{args.commit_spans:,} spans, in-process (no HTTP, no decode)")
    for column in ("stored spans", "spans/s", "CPU ms/span", "python", "ThreadPool", "MergeMutate"):
        table.add_column(column, justify="right")
    for w in windows:
        per = 1000 / w["spans"]
        threads = w["threads_cpu_s"]
        table.add_row(f"{w['stored_before']:,}", f"{w['spans'] / w['seconds']:,.0f}", f"{w['cpu_s'] * per:.3f}",
                      *(f"{threads.get(k, 0) * per:.3f}" for k in ("python", "ThreadPool", "MergeMutate")))
    console.print(table)
    for label, w in (("first", windows[0]), ("last", windows[-1])):
        tags = Table(title=f"statements, {label} window (from {w['stored_before']:,} stored spans), ms per span")
        for column in ("tag", "wall", "caller CPU", "statements"):
            tags.add_column(column, justify="right" if column != "tag" else "left")
        per = 1000 / w["spans"]
        for tag, t in sorted(w["tags"].items(), key=lambda item: -item[1]["wall_s"]):
            tags.add_row(tag, f"{t['wall_s'] * per:.4f}", f"{t['cpu_s'] * per:.4f}", f"{t['count']:,}")
        other = w["seconds"] - sum(t["wall_s"] for t in w["tags"].values())
        tags.add_row("(outside statements)", f"{other * per:.4f}", "", "")
        console.print(tags)


if __name__ == "__main__":
    sys.exit(main())
