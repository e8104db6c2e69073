"""Benchmark: what a retention pass costs, and the disk it gives back, on a stored data directory.

Takes an embedded data directory that no server holds (e.g. one written by ``ingest_at_scale.py --data-dir D
--spans-per-day N``, whose traffic spans ``spans / N`` days ending an hour ago), sets every project's window to
``--days`` and runs the pass (``threadline.writer.retention``, as the server and ``threadline retention run`` do).
Prints and writes to JSON (``bench/results/retention-*.json``):

* spans, traces and sessions before and after, traces removed and sessions recomputed/emptied per project;
* the pass's wall time per project and in total;
* disk: the directory and the active parts' bytes before, right after the pass (lightweight deletes only mask
  rows), after ``--merge-wait`` seconds of background merges, and after ``OPTIMIZE TABLE ... FINAL`` of the tables
  the pass deleted from (timed);
* with ``--compare-ttl``: the alternative the pass replaces, on a copy of the store made before the pass (with
  ``threadline backup``'s code, timed too, restored into a new directory): a per-project ClickHouse TTL on ``spans``
  (``MODIFY TTL ... DELETE WHERE project_id = ...``) materialised at once (``MATERIALIZE TTL``, synchronous), timed,
  with its disk after. (A TTL keeps no rollup exact; it is here only to compare the cost of deleting.)

    .venv/bin/python bench/retention.py --data-dir D [--days 10] [--merge-wait 60] [--compare-ttl]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import write_results
from rich.console import Console
from rich.table import Table

TABLES = ("spans", "trace_rollups", "session_rollups", "trace_state", "trace_sessions", "logs", "scores")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="embedded data directory (no server on it)")
    parser.add_argument("--database", default="threadline")
    parser.add_argument("--days", type=int, default=10, help="retention window set on every project")
    parser.add_argument("--merge-wait", type=float, default=60.0, help="seconds of background merges to wait")
    parser.add_argument("--compare-ttl", action="store_true", help="also time a ClickHouse TTL on a copy")
    parser.add_argument("--ttl-only", type=Path, help=argparse.SUPPRESS)  # the copy's subprocess: the backup
    return parser.parse_args()


def active_bytes(store: Any) -> dict[str, int]:
    rows = store.select("SELECT table, sum(bytes_on_disk) AS bytes FROM system.parts WHERE active "
                        "AND database = {database:String} GROUP BY table", {"database": store.database},
                        tag="bench.parts")
    return {r["table"]: int(r["bytes"]) for r in rows}


def counts(store: Any) -> dict[str, int]:
    one = store.select(
        "SELECT (SELECT count() FROM {db}.spans) AS spans, (SELECT count() FROM {db}.trace_state FINAL) AS traces, "
        "(SELECT count() FROM {db}.session_rollups FINAL) AS sessions", tag="bench.counts")[0]
    return {k: int(v) for k, v in one.items()}


def dir_bytes(path: Path) -> int:
    """Bytes allocated under ``path``, each file once (as ``du``): a lightweight DELETE or a merge hard-links the
    columns it does not change into the new part, and counting every link would count them twice."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:  # a part removed while we walk
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def disk(store: Any, data_dir: Path) -> dict[str, int]:
    parts = active_bytes(store)
    return {"data_dir": dir_bytes(data_dir), "active_parts": sum(parts.values()), "spans_parts": parts.get("spans", 0)}


def ttl_only(args: argparse.Namespace) -> None:
    """Restore the backup ``args.ttl_only`` into ``args.data_dir``, then a per-project TTL on spans, materialised
    synchronously; prints JSON."""
    from threadline.store.backup import restore_backup
    from threadline.store.gateway import Store

    store = Store.embedded(args.data_dir, args.database)
    started = time.monotonic()
    restore_backup(store, args.ttl_only)
    restore_s = time.monotonic() - started
    windows = {r["project_id"]: args.days for r in store.select(
        "SELECT project_id FROM {db}.projects FINAL WHERE deleted = 0", tag="bench.projects")}
    rules = ", ".join(f"toDateTime(start_time) + INTERVAL {days} DAY DELETE WHERE project_id = '{project}'"
                      for project, days in windows.items())  # bench only: ids come from our own table
    before = counts(store)["spans"]
    started = time.monotonic()
    store.command(f"ALTER TABLE {{db}}.spans MODIFY TTL {rules}", tag="bench.ttl",
                  settings={"mutations_sync": 2, "materialize_ttl_after_modify": 0})
    store.command("ALTER TABLE {db}.spans MATERIALIZE TTL", tag="bench.materialize_ttl",
                  settings={"mutations_sync": 2})
    took = time.monotonic() - started
    after = counts(store)["spans"]
    print(json.dumps({"restore_seconds": restore_s, "seconds": took, "spans_before": before, "spans_after": after,
                      "disk_after": disk(store, args.data_dir)}))


def main() -> None:
    args = arguments()
    if args.ttl_only is not None:
        ttl_only(args)
        return
    console = Console()

    from threadline.auth.repository import ProjectRepository
    from threadline.store.backup import write_backup
    from threadline.store.gateway import Store
    from threadline.store.migrations import migrate
    from threadline.writer.commit import BatchCommitter
    from threadline.writer.retention import run_retention

    store = Store.embedded(args.data_dir, args.database)
    migrate(store)
    projects = ProjectRepository(store)
    results: dict[str, Any] = {"data_dir": str(args.data_dir), "days": args.days,
                               "before": {"counts": counts(store), "disk": disk(store, args.data_dir)}}
    backup: Path | None = None
    if args.compare_ttl:  # the TTL runs on a copy of the store as it is now
        backup = args.data_dir.with_name(args.data_dir.name + "-backup")
        shutil.rmtree(backup, ignore_errors=True)
        started = time.monotonic()
        manifest = write_backup(store, backup)
        results["backup"] = {"seconds": time.monotonic() - started, "bytes": dir_bytes(backup),
                             "pause_ms": manifest.pause_ms}
    committer = BatchCommitter(store, exclusive=True)  # as the embedded server's writer
    started = time.monotonic()
    passes = run_retention(store, committer, {p.project_id: args.days for p in projects.list_projects()})
    results["pass_seconds"] = time.monotonic() - started
    results["projects"] = [{**vars(p), "cutoff": p.cutoff.isoformat()} for p in passes]
    results["after"] = {"counts": counts(store), "disk_right_after": disk(store, args.data_dir)}
    time.sleep(args.merge_wait)
    results["after"][f"disk_after_{args.merge_wait:.0f}s_merges"] = disk(store, args.data_dir)
    started = time.monotonic()
    for table in TABLES:
        store.command(f"OPTIMIZE TABLE {{db}}.{table} FINAL", tag="bench.optimize")
    results["optimize_seconds"] = time.monotonic() - started
    results["after"]["disk_after_optimize"] = disk(store, args.data_dir)

    table = Table("", "spans", "traces", "sessions", "data dir (MiB)", "active parts (MiB)")
    mib = 1 << 20
    before, after = results["before"], results["after"]
    table.add_row("before", *(f"{before['counts'][k]:,}" for k in ("spans", "traces", "sessions")),
                  f"{before['disk']['data_dir'] / mib:,.0f}", f"{before['disk']['active_parts'] / mib:,.0f}")
    for label, key in (("right after the pass", "disk_right_after"),
                       (f"after {args.merge_wait:.0f} s of merges", f"disk_after_{args.merge_wait:.0f}s_merges"),
                       ("after OPTIMIZE FINAL", "disk_after_optimize")):
        table.add_row(label, *(f"{after['counts'][k]:,}" for k in ("spans", "traces", "sessions")),
                      f"{after[key]['data_dir'] / mib:,.0f}", f"{after[key]['active_parts'] / mib:,.0f}")
    console.print(table)
    for p in results["projects"]:
        console.print(f"  {p['project_id']}: {p['traces_removed']:,} traces removed, {p['sessions_recomputed']:,} "
                      f"sessions recomputed, {p['sessions_emptied']:,} emptied, {p['duration_s']:.1f} s")
    console.print(f"retention pass ({args.days} days): {results['pass_seconds']:.1f} s; OPTIMIZE FINAL of the "
                  f"tables: {results['optimize_seconds']:.1f} s")
    if backup is not None:
        copy = args.data_dir.with_name(args.data_dir.name + "-ttl-copy")
        shutil.rmtree(copy, ignore_errors=True)
        done = subprocess.run([sys.executable, __file__, "--ttl-only", str(backup), "--data-dir", str(copy),
                               "--days", str(args.days), "--database", args.database], capture_output=True,
                              text=True, check=False)
        if done.returncode == 0:
            results["ttl"] = json.loads(done.stdout.strip().splitlines()[-1])
            ttl = results["ttl"]
            console.print(f"backup before the pass: {results['backup']['seconds']:.1f} s, "
                          f"{results['backup']['bytes'] / mib:,.0f} MiB; restored into a new directory in "
                          f"{ttl['restore_seconds']:.1f} s")
            console.print(f"TTL alternative on that copy (spans only, no rollups kept exact): {ttl['seconds']:.1f} "
                          f"s, {ttl['spans_before']:,} → {ttl['spans_after']:,} spans, data dir "
                          f"{ttl['disk_after']['data_dir'] / mib:,.0f} MiB")
        else:
            results["ttl_error"] = done.stderr[-2000:]
            console.print(f"the TTL comparison failed: {done.stderr[-500:]}")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(backup, ignore_errors=True)
    write_results("retention", results, console)


if __name__ == "__main__":
    main()
