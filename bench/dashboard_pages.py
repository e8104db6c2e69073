"""Benchmark: dashboard pages at 100,000 sessions: time to first byte and time to a usable page.

Builds the dataset of ``bench/sessions_at_scale.py`` (same generator, committed through ``BatchCommitter.commit``),
serves the real app over real HTTP (uvicorn in this process), adds one 200-turn session through ``POST /v1/ingest``
(each turn: a root span with the user's message and the answer, an LLM call and a tool call), then times:

* **TTFB** with httpx: request sent → response headers received (``client.stream``), and the full body;
* **usable** with Playwright in Debian's Chromium, on the page's own clock (ms since navigation start): when
  ``app.js`` marks the body ``data-ready`` (once every ``DOMContentLoaded`` handler ran), with the browser's
  Navigation Timing (responseStart, domContentLoadedEventEnd) alongside, and on list pages when the summary strip
  and charts arrived (``#summary[data-loaded]``, a fragment fetched after the list is usable);

for the sessions list (unfiltered; filtered and sorted by cost; a content search), the matching API calls (to show
what the page adds), and, when the session detail page exists, the 200-turn session's page. Each page is loaded
once to warm up, then ``--repeat`` times. Prints a table and writes JSON to ``bench/results/``.

    .venv/bin/python bench/dashboard_pages.py [--sessions 100000] [--repeat 10] [--data-dir DIR]

With ``--data-dir`` an existing dataset there (from this script or ``sessions_at_scale.py``) is reused.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright
from results_file import write_results
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from sessions_at_scale import NEEDLE, Server, dataset, dataset_arguments

from threadline.store.gateway import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
LONG_SESSION = "bench-long-session-200"
LONG_TURNS = 200


def add_long_session(client: httpx.Client, turns: int = LONG_TURNS) -> None:
    """One session of ``turns`` turns through POST /v1/ingest, 50 traces per request (skipped when a reused
    dataset already has it)."""
    if client.get(f"/v1/sessions/{LONG_SESSION}").status_code == 200:
        return
    start = datetime.now(UTC) - timedelta(hours=6)
    batch: list[dict[str, Any]] = []
    for turn in range(turns):
        at = start + timedelta(seconds=90 * turn)
        question = f"Turn {turn + 1}: can you check step {turn} of the migration plan and explain what changes?"
        answer = (f"Here is what step {turn} does:\n\n1. It copies the table.\n2. It swaps the names.\n\n```sql\n"
                  "ALTER TABLE orders RENAME TO orders_old;\n```\n\nNothing else changes.")
        batch.append({
            "name": "chat_turn", "session_id": LONG_SESSION, "user_id": "user-long",
            "spans": [
                {"name": "chat_turn", "start_time": at.isoformat(), "end_time": (at + timedelta(seconds=4)).isoformat(),
                 "input": question, "output": answer},
                {"name": "llm", "type": "llm", "model": "gpt-4o", "start_time": at.isoformat(),
                 "end_time": (at + timedelta(seconds=3)).isoformat(), "input_tokens": 800 + turn,
                 "output_tokens": 120, "input": question, "output": answer},
                {"name": "lookup_docs", "type": "tool", "start_time": (at + timedelta(seconds=3)).isoformat(),
                 "end_time": (at + timedelta(seconds=4)).isoformat(),
                 "status": "error" if turn % 37 == 5 else "ok"},
            ],
        })
        if len(batch) == 50 or turn == turns - 1:
            client.post("/v1/ingest", json=batch).raise_for_status()
            batch = []


def ttfb(client: httpx.Client, path: str, repeat: int) -> dict[str, Any]:
    """Headers-received and full-body latencies (ms) of ``repeat`` GETs after a warm-up."""
    client.get(path).raise_for_status()
    first, full = [], []
    size = status = 0
    for _ in range(repeat):
        started = time.perf_counter()
        with client.stream("GET", path) as response:
            first.append((time.perf_counter() - started) * 1000)
            body = response.read()
            full.append((time.perf_counter() - started) * 1000)
            size, status = len(body), response.status_code
    return {"ttfb_p50": _p(first, 0.5), "ttfb_p95": _p(first, 0.95), "body_p50": _p(full, 0.5),
            "bytes": size, "status": status}


def usable(page: Page, url: str, repeat: int) -> dict[str, Any]:
    """Navigation start → body[data-ready] (ms), and the browser's responseStart / domContentLoadedEventEnd."""
    def once() -> tuple[float, float, float, float]:
        page.goto(url, wait_until="commit")
        page.wait_for_selector("body[data-ready='true']", state="attached", timeout=120_000)
        charts = "null"
        if page.locator("#summary").count():  # the list's summary fragment, fetched after the page is usable
            page.wait_for_selector("#summary[data-loaded]", state="attached", timeout=120_000)
            charts = "Number(document.getElementById('summary').dataset.loadedMs)"
        # page clock: ms since navigation start (no harness round trips in the figures)
        found = page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0]; return "
                              f"[Number(document.body.dataset.readyMs), t.responseStart, t.domContentLoadedEventEnd, "
                              f"{charts}]; }}")
        return float(found[0]), float(found[1]), float(found[2]), float("nan") if found[3] is None else found[3]

    once()
    samples = [once() for _ in range(repeat)]
    ready, response_start, dcl, charts = (list(column) for column in zip(*samples, strict=True))
    out = {"ready_p50": _p(ready, 0.5), "ready_p95": _p(ready, 0.95), "browser_ttfb_p50": _p(response_start, 0.5),
           "dcl_p50": _p(dcl, 0.5)}
    if not any(math.isnan(value) for value in charts):
        out["charts_p50"] = _p(charts, 0.5)
    return out


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def measure(store: Store, repeat: int) -> dict[str, Any]:
    """Time every case; returns name → figures, plus the session count under "sessions"."""
    results: dict[str, Any] = {}
    detail = importlib.util.find_spec("threadline.dashboard.pages_detail") is not None
    with Server(store) as server, httpx.Client(base_url=server.url, timeout=300) as client:
        add_long_session(client)
        results["sessions"] = client.get("/v1/sessions", params={"limit": 1}).json()["pagination"]["total"]
        filtered = "user_id=user-0042&min_total_cost_usd=0.01&sort=-total_cost_usd"
        search = f"search={quote(NEEDLE)}"
        cases: list[tuple[str, str, bool]] = [  # (name, path, open in the browser too)
            ("list: first page (50 rows), sort=-last_seen", "/", True),
            ("  API: GET /v1/sessions", "/v1/sessions?limit=50", False),
            ("list: user + min cost, sort=-total_cost_usd", f"/?{filtered}", True),
            ("  API: same query", f"/v1/sessions?{filtered}", False),
            (f"list: search {NEEDLE!r}", f"/?{search}", True),
            ("  API: GET /v1/sessions/search", f"/v1/sessions/search?q={quote(NEEDLE)}", False),
            ("list: last 24 h + has_errors, sort=-error_count", "/?range=24h&has_errors=true&sort=-error_count", True),
        ]
        if detail:
            cases += [(f"session detail: {LONG_TURNS} turns", f"/sessions/{LONG_SESSION}", True),
                      (f"  API: GET /v1/sessions/{{id}} ({LONG_TURNS} turns)", f"/v1/sessions/{LONG_SESSION}", False)]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            for name, path, in_browser in cases:
                try:
                    figures = ttfb(client, path, repeat)
                    if in_browser:
                        figures |= usable(page, server.url + path, repeat)
                except (httpx.HTTPError, PlaywrightError) as exc:  # report it, measure the other pages
                    figures = {"error": str(exc).splitlines()[0]}
                results[name] = figures
            browser.close()
    return results


def main() -> None:
    args = dataset_arguments(__doc__.split("\n")[0], repeat=10).parse_args()
    console = Console(width=150)
    with dataset(args, console, "threadline-dashboard-") as (store, generation):
        reads = measure(store, args.repeat)
    sessions = reads.pop("sessions")
    results = {"workload": {"sessions": sessions, "long_session_turns": LONG_TURNS, "repeat": args.repeat},
               "generation": generation, "pages_ms": reads,
               "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    table = Table(title=f"Threadline dashboard pages at {sessions:,} sessions (ms; p50 of {args.repeat} unless noted)")
    columns = ("page", "TTFB", "TTFB p95", "body", "KB", "browser TTFB", "DOMContentLoaded", "usable", "usable p95",
               "charts")
    for column in columns:
        table.add_column(column, justify="left" if column == "page" else "right")
    for name, f in reads.items():
        if "error" in f:
            table.add_row(name, f"failed: {f['error']}")
            continue
        table.add_row(name, str(f["ttfb_p50"]), str(f["ttfb_p95"]), str(f["body_p50"]), f"{f['bytes'] / 1024:.0f}",
                      str(f.get("browser_ttfb_p50", "")), str(f.get("dcl_p50", "")), str(f.get("ready_p50", "")),
                      str(f.get("ready_p95", "")), str(f.get("charts_p50", "")))
    console.print(table)
    write_results("dashboard_pages", results, console)


if __name__ == "__main__":
    main()
