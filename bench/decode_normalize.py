"""Benchmark: CPU per span of the ingest path before the store, on the realistic workload of ``workload.py``.

Builds the workload's OTLP requests (issue 11's shape: ~2.2 KB of protobuf per span, LLM chat messages, requests of
at most 500 spans of one project) and times, single-threaded with ``time.process_time()`` (CPU time of this process,
so other load on the machine hardly moves it), each stage a server runs on a request before it reaches chDB:

* ``decode``: the protobuf body parsed into an ``ExportTraceServiceRequest`` (``otlp.decode_request``);
* ``raw spans``: the request flattened into ``RawSpan`` objects (``otlp.to_raw_spans``);
* ``normalize + arrow``: the RawSpans validated and read into the Arrow table of their rows
  (``normalize.normalize_spans``; on a checkout without it, ``normalize.normalize`` per span then
  ``spans.rows_to_arrow``, so that ``--server-src``-style comparisons with older code work: run this script with
  ``PYTHONPATH=OLD_CHECKOUT/src``);
* ``facts``: the columns the rollups read (``SpanFacts.from_spans``);
* ``fold``: the batch's traces folded into fresh trace states, as a commit does for brand-new traces (``by_trace`` +
  ``fold``).

``decode_and_normalize`` (the whole server path from body to table) is timed separately, as it runs. Each stage is
timed over all requests, ``--repeat`` times, keeping the best pass, with the prepared inputs frozen out of the
garbage collector (``gc.freeze``) so that a stage is not charged for collections over the others' inputs. Last, body
→ table → SpanFacts is timed with the collector running over a heap the size of the embedded writer's state cache
(20,000 trace states), as in a server: code that allocates many container objects pays for collections there.
Prints a table of µs per span and writes JSON to bench/results/.

    .venv/bin/python bench/decode_normalize.py [--spans 50000] [--repeat 3] [--profile STAGE] [--check-against SRC]

``--check-against OLD/src`` first checks that this checkout makes the same span tables as another one, byte for byte
(ingest time fixed), on the same requests; ``PYTHONPATH=OLD/src .venv/bin/python bench/decode_normalize.py`` times
the other checkout on the same machine.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pickle
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from results_file import write_results
from rich.console import Console
from rich.table import Table
from workload import Workload, WorkloadConfig

import threadline
from threadline.api.otlp_export import decode_and_normalize
from threadline.ingest import normalize as normalize_module
from threadline.ingest.otlp import PROTOBUF, decode_request, to_raw_spans
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import rows_to_arrow
from threadline.writer.trace_state import SpanFacts, TraceState, fold

STAGES = ("decode", "raw spans", "normalize + arrow", "facts", "fold")
SERVED = "body → facts, GC over a writer-sized heap"


def normalize_batch(raws: list[Any], project: str, prices: PriceTable, ingested_at_us: int) -> Any:
    """The Arrow table of ``raws``' rows by this checkout's batch path."""
    batch = getattr(normalize_module, "normalize_spans", None)
    if batch is not None:
        return batch(raws, project, prices, ingested_at_us)[0]
    return rows_to_arrow([normalize_module.normalize(s, project, prices, ingested_at_us) for s in raws])


def _fold_all(facts: SpanFacts) -> int:
    states = 0
    for (project, trace), indexes in facts.by_trace().items():
        fold(TraceState(project, trace), facts, indexes)
        states += 1
    return states


def measure(bodies: list[bytes], projects: list[str], repeat: int, profile: str | None) -> dict[str, float]:
    """Best-of-``repeat`` CPU seconds of each stage over every body, and of ``decode_and_normalize``."""
    prices = PriceTable.load()
    ingested_at_us = time.time_ns() // 1000
    # Inputs of each stage, computed once so that each stage is timed alone.
    requests = [decode_request(b, PROTOBUF) for b in bodies]
    raws = [to_raw_spans(r) for r in requests]
    tables = [normalize_batch(raw, p, prices, ingested_at_us) for raw, p in zip(raws, projects, strict=True)]
    facts = [SpanFacts.from_spans(t) for t in tables]
    stages: dict[str, Callable[[], object]] = {
        "decode": lambda: [decode_request(b, PROTOBUF) for b in bodies],
        "raw spans": lambda: [to_raw_spans(r) for r in requests],
        "normalize + arrow": lambda: [normalize_batch(raw, p, prices, ingested_at_us)
                                      for raw, p in zip(raws, projects, strict=True)],
        "facts": lambda: [SpanFacts.from_spans(t) for t in tables],
        "fold": lambda: [_fold_all(f) for f in facts],
        "decode_and_normalize": lambda: [decode_and_normalize(b, PROTOBUF, p, prices)
                                         for b, p in zip(bodies, projects, strict=True)],
    }
    # The prepared inputs stay out of the collector's full passes (a server holds one request's spans, not all of
    # them): without this, a stage's timing depends on how many objects the earlier stages left alive.
    gc.collect()
    gc.freeze()
    best: dict[str, float] = {}
    for name, run in stages.items():
        if profile == name:
            profiler = cProfile.Profile()
            profiler.enable()
            run()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        for _ in range(repeat):
            gc.collect()
            started = time.process_time()
            run()
            elapsed = time.process_time() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    gc.unfreeze()
    return best


def measure_served(bodies: list[bytes], projects: list[str], repeat: int) -> float:
    """Best-of-``repeat`` CPU seconds of body → table → SpanFacts over every body, with the collector running over
    a heap like the embedded writer's (its 20,000 cached trace states, each with its sets), as in a server: container
    objects the path allocates cost collections there."""
    prices = PriceTable.load()
    heap = [TraceState("p", f"{i:032x}", span_ids={f"{i:012x}{j:04x}" for j in range(5)}, models={"m"},
                       tags={"t"}, named_sessions={"s"}, metadata=[("k", "v")]) for i in range(20_000)]
    gc.collect()
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for body, project in zip(bodies, projects, strict=True):
            SpanFacts.from_spans(decode_and_normalize(body, PROTOBUF, project, prices)[0])
        best = min(best, time.process_time() - started)
    del heap
    return best


FIXED_INGESTED_US = 1_767_225_600_000_000


def tables_file(bodies: list[bytes], projects: list[str], out: Path) -> None:
    """Write the table of every body (ingest time fixed), concatenated, as an Arrow IPC file."""
    prices = PriceTable.load()
    tables = [normalize_batch(to_raw_spans(decode_request(body, PROTOBUF)), project, prices, FIXED_INGESTED_US)
              for body, project in zip(bodies, projects, strict=True)]
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, tables[0].schema) as writer:
        writer.write_table(pa.concat_tables(tables))


def check_against(source: Path, bodies: list[bytes], projects: list[str], console: Console) -> bool:
    """Whether the threadline package at ``source`` (a checkout's ``src``) makes the same tables of these bodies as
    this one, byte for byte: the guard of an optimisation of this path."""
    with tempfile.TemporaryDirectory() as scratch:
        inputs, theirs, ours = Path(scratch, "bodies.pickle"), Path(scratch, "theirs.arrow"), Path(scratch, "ours")
        inputs.write_bytes(pickle.dumps((bodies, projects)))
        subprocess.run([sys.executable, __file__, "--dump-tables", str(inputs), str(theirs)], check=True,
                       env={**os.environ, "PYTHONPATH": str(source)})
        tables_file(bodies, projects, ours)
        expected, got = (pa.ipc.open_file(str(path)).read_all() for path in (theirs, ours))
    differing = [name for name in expected.column_names if not expected.column(name).equals(got.column(name))]
    same = expected.schema == got.schema and not differing
    console.print(f"tables {'identical to' if same else 'DIFFERENT from'} those of {source} "
                  f"({expected.num_rows:,} rows{'; columns differing: ' + ', '.join(differing) if differing else ''})")
    return same


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--dump-tables":  # the other side of --check-against
        bodies, projects = pickle.loads(Path(sys.argv[2]).read_bytes())
        tables_file(bodies, projects, Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--spans-per-request", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="passes per stage; the best is kept")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=(*STAGES, "decode_and_normalize"),
                        help="also print a cProfile of this stage (its profiled pass is not timed)")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. 'baseline')")
    parser.add_argument("--name", default="decode_normalize", help="results file name (bench/results/NAME-*.json)")
    parser.add_argument("--check-against", type=Path, metavar="SRC",
                        help="first check that the threadline package in SRC (e.g. an older checkout's src) makes the "
                        "same tables of the workload's requests; exit 1 if not")
    args = parser.parse_args()
    console = Console()
    workload = Workload(WorkloadConfig(spans=args.spans, spans_per_request=args.spans_per_request, seed=args.seed))
    console.print(f"building the workload's templates... ({workload.build():.1f} s)")
    requests = list(workload.requests())
    bodies = [r.body for r in requests]
    projects = [workload.config.projects[r.project].project_id for r in requests]
    spans = sum(r.spans for r in requests)
    otlp_bytes = sum(len(b) for b in bodies)
    console.print(f"{spans:,} spans in {len(bodies)} requests, {otlp_bytes / spans:,.0f} B of OTLP per span")
    if args.check_against and not check_against(args.check_against, bodies, projects, console):
        raise SystemExit(1)
    best = measure(bodies, projects, args.repeat, args.profile)
    best[SERVED] = measure_served(bodies, projects, args.repeat)

    table = Table(title=f"CPU per span, best of {args.repeat} (single thread, time.process_time)")
    table.add_column("stage")
    table.add_column("µs/span", justify="right")
    per_span = {name: seconds / spans * 1e6 for name, seconds in best.items()}
    for name in STAGES:
        table.add_row(name, f"{per_span[name]:.1f}")
    table.add_row("sum of stages", f"{sum(per_span[n] for n in STAGES):.1f}")
    table.add_row("decode_and_normalize (body → table)", f"{per_span['decode_and_normalize']:.1f}")
    table.add_row("decode_and_normalize + facts",
                  f"{per_span['decode_and_normalize'] + per_span['facts']:.1f}")
    table.add_row(SERVED, f"{per_span[SERVED]:.1f}")
    console.print(table)
    results: dict[str, Any] = {
        "label": args.label,
        "threadline_source": str(Path(threadline.__file__).parent),
        "spans": spans,
        "requests": len(bodies),
        "otlp_bytes_per_span": round(otlp_bytes / spans),
        "repeat": args.repeat,
        "cpu_us_per_span": {name: round(value, 2) for name, value in per_span.items()},
    }
    write_results(args.name, results, console)


if __name__ == "__main__":
    main()
