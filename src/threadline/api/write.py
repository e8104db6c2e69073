"""Handing normalised rows to the writer, with its failures mapped to HTTP answers."""

from __future__ import annotations

import time

from threadline.api.problems import Problem
from threadline.api.state import AppState
from threadline.ingest.spans import SpanBatch
from threadline.writer.group_commit import Overloaded


async def write_rows(state: AppState, rows: SpanBatch) -> None:
    """Await the commit of ``rows``. Raises Problem 503 with Retry-After when the writer is overloaded or
    stopping, 413 when the request alone exceeds the writer's queue; store errors propagate (problem+json)."""
    if len(rows) > state.writer.max_pending_spans:
        raise Problem(413, f"the request holds {len(rows)} spans, more than the {state.writer.max_pending_spans} "
                           "the server queues (THREADLINE_MAX_PENDING_SPANS); send smaller batches")
    started = time.perf_counter()
    try:
        await state.writer.write(rows)
    except Overloaded as exc:
        raise Problem(503, f"ingest is overloaded ({exc}); retry later",
                      headers={"Retry-After": str(exc.retry_after)}) from None
    except RuntimeError:
        raise Problem(503, "the server is shutting down; retry shortly", headers={"Retry-After": "1"}) from None
    state.metrics.commit_wait_seconds.observe(time.perf_counter() - started)
