"""Benchmark: the sessions list and content search at 100,000 sessions / ~2M spans.

Generates sessions (1-7 turns of 5 spans each: a root with the user's question and the answer, two LLM calls, two
tool calls, 3% of tool calls failing) as Arrow span tables and commits them through the real write path,
``BatchCommitter.commit`` (spans insert, trace→session links, trace and session rollups), in big batches, on a chDB
directory. Then serves the real app over real HTTP (uvicorn in this process) and times, per request:

* a filtered, sorted list page: ``user_id`` + ``min_total_cost_usd`` + ``sort=-total_cost_usd``, repeated (its rows
  come from the row cache after the first request) and cold (another user each request: every row is read);
* an unfiltered first page, a three-filter page, and a keyset (cursor) page;
* content searches: a needle (10 turns), a rare word (about 1 turn in 1000, so present in every granule: the skip
  indexes cannot skip), the rare word with a user filter, a phrase found nowhere, and a common phrase;
* the project metrics of the last 30 days.

Prints a table and writes JSON to ``bench/results/``.

    .venv/bin/python bench/sessions_at_scale.py [--sessions 100000] [--repeat 50] [--data-dir DIR]

With ``--data-dir`` an existing dataset there is reused (generation is skipped); without it a temporary directory
is used and removed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import uvicorn
from results_file import write_results
from rich.console import Console
from rich.table import Table

from threadline.api.app import create_app
from threadline.ingest.spans import SPAN_SCHEMA
from threadline.settings import Settings
from threadline.store.gateway import Store
from threadline.store.migrations import migrate
from threadline.writer.commit import BatchCommitter

DATABASE = "bench"
RARE_WORD = "zebrafish"  # in about 1 turn in 1000: in every granule, so the skip index cannot skip
NEEDLE = "ticket kx-4471"  # in 10 turns: what "find the conversation where the user said X" looks like
MODELS = [("gpt-4o", 2.5, 10.0), ("gpt-4o-mini", 0.15, 0.6), ("claude-3-5-sonnet-20241022", 3.0, 15.0)]
TOPICS = ["password", "invoice", "refund", "shipping", "account", "subscription", "upgrade", "login", "export",
          "billing", "delivery", "warranty", "discount", "coupon", "address", "payment", "order", "return"]
QUESTIONS = ["How do I change my {t} settings for {w}?", "My {t} does not work since {w}, what should I do?",
             "Can you explain the {t} policy about {w}?", "I need help with {t} and {w} on my account.",
             "Why was my {t} rejected when I tried {w}?", "Where can I find the {t} page for {w}?"]
ANSWERS = ["Open Settings, choose {T}, then follow the steps for {w}.",
           "I checked your {t}: the {w} step failed; please retry in a few minutes.",
           "Our {t} policy allows {w} within 30 days of purchase.",
           "I have escalated your {t} question about {w} to a specialist."]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    """Pseudo-words, so that content search has rare and common terms."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qua", "dre", "fin", "gol", "har"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)]


class Generator:
    """Builds span batches column by column (no per-row dicts), ``spans_per_batch`` spans at a time."""

    def __init__(self, sessions: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        self.sessions = sessions
        self.now_ns = time.time_ns()

    def text(self, templates: list[str], rare: bool, needle: bool = False) -> str:
        rng = self.rng
        topic = rng.choice(TOPICS)
        words = " ".join(rng.choice(self.words) for _ in range(rng.randint(3, 12)))
        body = rng.choice(templates).format(t=topic, T=topic.title(), w=words)
        if rare:
            body += f" It mentions the {RARE_WORD} project."
        if needle:
            body += f" About {NEEDLE.upper()}, opened last week."
        return body + " " + " ".join(rng.choice(self.words) for _ in range(rng.randint(10, 60)))

    def batches(self, spans_per_batch: int) -> Any:
        """Yields (Arrow table, sessions in it) until every session is generated; a session never spans batches."""
        rng = self.rng
        columns: dict[str, list[Any]] = {name: [] for name in SPAN_SCHEMA.names}
        in_batch = 0
        # Batches are stamped as if ingested 5 minutes apart over the last days: the server's crash recovery on
        # start (recompute what was ingested in the last 2 minutes before the newest span) then covers one batch.
        ingested = self.now_ns // 1000 - 10 * 86400 * 10**6
        for index in range(self.sessions):
            session_id = f"sess-{index:07d}"
            user = f"user-{rng.randint(1, 1000):04d}"
            start = self.now_ns - rng.randint(60, 30 * 86400) * 10**9
            plan = rng.choice(["free", "pro", "enterprise"])
            for turn in range(rng.randint(1, 7)):
                # Time-ordered trace ids (a session's index leads, like a UUIDv7's timestamp): each commit's traces
                # are one key range of ``spans``, so recomputing their rollups reads only their granules. Random
                # ids make every commit re-read the whole table (the writer's cost, not the reads measured here).
                trace_id = f"{index:08x}{turn:02x}" + rng.randbytes(11).hex()
                root_id = rng.randbytes(8).hex()
                duration = rng.randint(500, 8000) * 10**6
                spans: list[dict[str, Any]] = [{
                    "span_id": root_id, "parent_span_id": "", "name": "chat_turn", "span_type": "chain",
                    "start": start, "end": start + duration,
                    "input": self.text(QUESTIONS, rng.random() < 0.001, needle=index % 10_000 == 5 and turn == 0),
                    "output": self.text(ANSWERS, False),
                    "metadata": [("plan", plan)] if turn == 0 else [], "tags": [plan] if turn == 0 else [],
                }]
                for child in range(4):
                    llm = child % 2 == 0
                    span: dict[str, Any] = {
                        "span_id": rng.randbytes(8).hex(), "parent_span_id": root_id,
                        "name": "llm" if llm else "tool", "span_type": "llm" if llm else "tool",
                        "start": start + child * 10**6, "end": start + duration // 2, "input": "", "output": "",
                        "metadata": [], "tags": [],
                    }
                    if llm:
                        model, price_in, price_out = rng.choice(MODELS)
                        tokens_in, tokens_out = rng.randint(100, 3000), rng.randint(20, 800)
                        span |= {"model": model, "input_tokens": tokens_in, "output_tokens": tokens_out,
                                 "cost_usd": (tokens_in * price_in + tokens_out * price_out) / 1e6}
                    elif rng.random() < 0.03:
                        span |= {"status_code": "ERROR", "status_message": "timeout"}
                    spans.append(span)
                for span in spans:
                    self._append(columns, span, trace_id, session_id, user, ingested)
                in_batch += len(spans)
                start += duration + rng.randint(5, 300) * 10**9
            if in_batch >= spans_per_batch or index == self.sessions - 1:
                yield pa.Table.from_pydict(columns, schema=SPAN_SCHEMA), in_batch
                columns = {name: [] for name in SPAN_SCHEMA.names}
                in_batch = 0
                ingested += 300 * 10**6

    @staticmethod
    def _append(columns: dict[str, list[Any]], span: dict[str, Any], trace_id: str, session_id: str, user: str,
                ingested: int) -> None:
        tokens_in, tokens_out = span.get("input_tokens", 0), span.get("output_tokens", 0)
        values = {
            "project_id": "default", "trace_id": trace_id, "span_id": span["span_id"],
            "parent_span_id": span["parent_span_id"], "session_id": session_id, "user_id": user,
            "session_previous_id": "", "name": span["name"], "kind": "INTERNAL", "span_type": span["span_type"],
            "start_time": span["start"], "end_time": span["end"], "duration_ns": span["end"] - span["start"],
            "status_code": span.get("status_code", "OK"), "status_message": span.get("status_message", ""),
            "service_name": "bench", "scope_name": "bench", "model": span.get("model", ""),
            "input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out,
            "cost_usd": span.get("cost_usd", 0.0), "reported_cost_usd": 0.0, "reported_tokens": 0, "end_state": "",
            "trace_name": "", "metadata": span["metadata"], "tags": span["tags"], "input": span["input"],
            "output": span["output"], "attributes": [], "resource_attributes": [], "events_time": [],
            "events_name": [], "events_attributes": [], "ingested_at": ingested,
        }
        for name, value in values.items():
            columns[name].append(value)


def generate(store: Store, sessions: int, spans_per_batch: int, seed: int, console: Console) -> dict[str, Any]:
    """Commit the dataset through BatchCommitter; returns counts and timings."""
    committer = BatchCommitter(store)
    build_s = commit_s = 0.0
    spans = 0
    started = time.perf_counter()
    batches = Generator(sessions, seed).batches(spans_per_batch)
    while True:
        mark = time.perf_counter()
        try:
            table, count = next(batches)
        except StopIteration:
            break
        build_s += time.perf_counter() - mark
        mark = time.perf_counter()
        committer.commit(table)
        commit_s += time.perf_counter() - mark
        spans += count
        console.print(f"  committed {spans:,} spans ({spans / (time.perf_counter() - started):,.0f} spans/s)")
    return {"spans": spans, "build_seconds": round(build_s, 1), "commit_seconds": round(commit_s, 1),
            "commit_spans_per_second": round(spans / commit_s)}


class Server:
    """The real app over real HTTP (uvicorn in a thread of this process) on ``store``."""

    def __init__(self, store: Store) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        settings = Settings(port=port, log_level="warning")
        config = uvicorn.Config(create_app(settings, store), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def timed(client: httpx.Client, path: Any, params: Any, repeat: int) -> tuple[list[float], dict[str, Any]]:
    """Latencies (ms) of ``repeat`` GETs after one warm-up, and the last response body. ``path`` and ``params`` may
    be functions of the request number (a different query each time: nothing cached from an earlier request)."""
    def at(index: int) -> Any:
        return params(index) if callable(params) else params

    def path_at(index: int) -> str:
        return str(path(index)) if callable(path) else str(path)

    body: dict[str, Any] = client.get(path_at(-1), params=at(-1)).raise_for_status().json()
    samples = []
    for index in range(repeat):
        started = time.perf_counter()
        response = client.get(path_at(index), params=at(index))
        samples.append((time.perf_counter() - started) * 1000)
        body = response.raise_for_status().json()
    return samples, body


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(store: Store, repeat: int) -> dict[str, Any]:
    """Time the reads over HTTP; returns name → {p50, p95, rows, total}."""
    results: dict[str, Any] = {}
    longest = [row["session_id"] for row in store.select(
        "SELECT session_id FROM {db}.session_rollups FINAL ORDER BY trace_count DESC, session_id LIMIT 100",
        tag="bench.longest")]
    with Server(store) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        total = client.get("/v1/sessions", params={"limit": 1}).raise_for_status().json()["pagination"]["total"]
        results["sessions"] = total
        filtered = [("user_id", "user-0042"), ("min_total_cost_usd", "0.01"), ("sort", "-total_cost_usd"),
                    ("limit", "50")]
        def other_user(index: int) -> Any:  # a page never requested before: its rows are read, not cached
            return [("user_id", f"user-{500 + index:04d}"), *filtered[1:]]

        cases: list[tuple[str, str, Any]] = [
            ("list: user_id + min_total_cost_usd, sort=-total_cost_usd", "/v1/sessions", filtered),
            ("  same, cold: another user each request (no cached rows)", "/v1/sessions", other_user),
            ("list: unfiltered first page, sort=-last_seen", "/v1/sessions", {"limit": 50}),
            *((f"list: unfiltered first page, sort={sort}", "/v1/sessions", {"limit": 50, "sort": sort})
              for sort in ("-first_seen", "-trace_count", "-total_tokens", "-total_cost_usd", "-wall_duration_ms",
                           "-total_duration_ms", "-error_count", "-quality_score", "last_seen")),
            ("list: 3 filters (tags, has_errors, min_trace_count), sort=-trace_count", "/v1/sessions",
             [("tags", "pro"), ("has_errors", "true"), ("min_trace_count", "3"), ("sort", "-trace_count")]),
            ("list: user_id filter, sort=-last_seen", "/v1/sessions", {"user_id": "user-0042", "limit": 50}),
            ("list: user_id filter, sort=-quality_score", "/v1/sessions",
             {"user_id": "user-0042", "limit": 50, "sort": "-quality_score"}),
            ("list: deep offset page (offset 10,000)", "/v1/sessions", {"limit": 50, "offset": 10_000}),
            ("session: GET /v1/sessions/{id}, a longest session, another each request",
             lambda index: f"/v1/sessions/{longest[index % len(longest)]}", {}),
        ]
        first = client.get("/v1/sessions", params={"limit": 50, "sort": "-total_cost_usd"}).json()
        cursor = first["pagination"]["next_cursor"]
        cases.append(("list: keyset page 2, sort=-total_cost_usd", "/v1/sessions",
                      {"limit": 50, "sort": "-total_cost_usd", "cursor": cursor}))
        cases += [
            (f"search: needle {NEEDLE!r} (10 turns)", "/v1/sessions/search", {"q": NEEDLE, "limit": 20}),
            (f"search: rare word {RARE_WORD!r} (1 turn in 1000)", "/v1/sessions/search",
             {"q": RARE_WORD, "limit": 20}),
            ("search: rare word + user_id filter", "/v1/sessions/search", {"q": RARE_WORD, "user_id": "user-0042"}),
            ("search: a phrase found nowhere, new each request", "/v1/sessions/search",
             lambda index: {"q": f"{RARE_WORD} project. {index}", "limit": 20}),
            ("search: common phrase 'refund policy'", "/v1/sessions/search", {"q": "refund policy", "limit": 20}),
            ("project metrics, last 30 days", "/v1/sessions/metrics", {}),
        ]
        for name, path, params in cases:
            samples, body = timed(client, path, params, repeat)
            pagination = body.get("pagination", {})
            rows = len(body["data"]) if "data" in body else len(body.get("traces", []))
            results[name] = {"p50": round(statistics.median(samples), 2), "p95": round(pct(samples, 0.95), 2),
                             "rows": rows, "total": pagination.get("total")}
    return results


def dataset_arguments(description: str, repeat: int) -> argparse.ArgumentParser:
    """The command line of a benchmark over this dataset: --sessions, --spans-per-batch, --repeat (default
    ``repeat``), --seed, --data-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--spans-per-batch", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, help="keep the dataset here (reused when it already exists)")
    return parser


@contextmanager
def dataset(args: argparse.Namespace, console: Console, prefix: str) -> Iterator[tuple[Store, dict[str, Any]]]:
    """The dataset's store and its generation figures: generated through BatchCommitter.commit, unless
    ``args.data_dir`` already holds one (reused); without ``args.data_dir`` a temporary directory (named from
    ``prefix``) is used and removed afterwards."""
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=prefix))
    reuse = args.data_dir is not None and (data_dir / "store").exists()
    try:
        store = Store.embedded(data_dir / "store", DATABASE)
        migrate(store)
        generation: dict[str, Any] = {"reused": True}
        if not reuse:
            console.print(f"generating {args.sessions:,} sessions through BatchCommitter.commit ...")
            generation = generate(store, args.sessions, args.spans_per_batch, args.seed, console)
        yield store, generation
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    args = dataset_arguments(__doc__.split("\n")[0], repeat=50).parse_args()
    console = Console()
    with dataset(args, console, "threadline-scale-") as (store, generation):
        counts = store.select("SELECT (SELECT count() FROM {db}.spans) AS spans, "
                              "(SELECT count() FROM {db}.trace_rollups FINAL) AS traces", tag="bench.counts")[0]
        reads = measure(store, args.repeat)
    results = {
        "workload": {"sessions": reads.pop("sessions"), "traces": counts["traces"], "spans": counts["spans"]},
        "generation": generation,
        "reads_ms": reads,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    table = Table(title=f"Threadline sessions at scale: {results['workload']['sessions']:,} sessions, "
                        f"{counts['spans']:,} spans, {counts['traces']:,} turns")
    for column in ("read", "p50 ms", "p95 ms", "rows", "total"):
        table.add_column(column, justify="left" if column == "read" else "right")
    for name, stats in reads.items():
        table.add_row(name, f"{stats['p50']}", f"{stats['p95']}", str(stats["rows"]), str(stats["total"]))
    console.print(table)
    write_results("sessions_at_scale", results, console)


if __name__ == "__main__":
    main()
