"""The server's retention pass: every ``retention_interval_s`` (and once soon after start), each project with a
retention window loses what is older (:mod:`threadline.writer.retention`)."""

from __future__ import annotations

import asyncio
import logging
import time

from threadline.api.state import AppState
from threadline.store.errors import StoreError
from threadline.writer.retention import ProjectRetention, run_retention, windows_of

log = logging.getLogger("threadline.retention")
FIRST_PASS_DELAY_S = 30.0  # after start-up work (journal recovery, pending deletions), not competing with it


def retention_pass(state: AppState, project_id: str | None = None) -> list[ProjectRetention]:
    """Run one pass now, over every project or only ``project_id``, with the process's rollup writer; counts it in
    ``/metrics``. Blocking (call it from a thread). Raises StoreError."""
    started = time.monotonic()
    results = run_retention(state.store, state.writer.committer,
                            windows_of(state.projects.list_projects(), project_id))
    state.metrics.retention_traces_removed.inc(sum(r.traces_removed for r in results))
    state.metrics.retention_pass_seconds.observe(time.monotonic() - started)
    return results


async def run_periodically(state: AppState, every_s: float, first_after_s: float = FIRST_PASS_DELAY_S) -> None:
    """Run :func:`retention_pass` ``first_after_s`` after start, then every ``every_s`` seconds, until cancelled.
    A failed pass is logged and tried again at the next interval (a pass is idempotent)."""
    await asyncio.sleep(min(first_after_s, every_s))
    while True:
        try:
            await asyncio.to_thread(retention_pass, state)
        except StoreError as exc:
            log.warning("the retention pass failed (it runs again in %.0f s): %s", every_s, exc)
        await asyncio.sleep(every_s)
