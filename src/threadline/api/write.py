"""Handing normalised rows to the writer: the commit every ingest transport awaits, and its refusals mapped to HTTP
answers (OTLP/gRPC maps the same refusals to gRPC status codes in :mod:`threadline.grpc.status`)."""

from __future__ import annotations

import time

from threadline.api.problems import Problem
from threadline.api.state import AppState
from threadline.ingest.spans import SpanBatch
from threadline.writer.group_commit import Overloaded


class TooManySpans(Exception):
    """One request holds more spans than the writer queues (``THREADLINE_MAX_PENDING_SPANS``): retrying the same
    request can never succeed; the client must send smaller batches."""

    def __init__(self, spans: int, limit: int) -> None:
        super().__init__(f"the request holds {spans} spans, more than the {limit} the server queues "
                         "(THREADLINE_MAX_PENDING_SPANS); send smaller batches")


class WriterStopping(Exception):
    """The writer is shutting down and takes no more spans; a retry a moment later (to this or another replica)
    succeeds."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry shortly")


# What commit_rows raises when it refuses rows (nothing of them is stored): the type, and the tuple to catch them.
WriteRefused = TooManySpans | WriterStopping | Overloaded
WRITE_REFUSALS = (TooManySpans, WriterStopping, Overloaded)


async def commit_rows(state: AppState, rows: SpanBatch) -> None:
    """Await the commit of ``rows`` (embedded: group commit into the store; queue mode: Redis acknowledged them).
    Raises TooManySpans, WriterStopping, Overloaded (its subclasses QueueFull / QueueUnavailable in queue mode;
    ``retry_after`` in seconds); store errors (StoreError) propagate."""
    if len(rows) > state.writer.max_pending_spans:
        raise TooManySpans(len(rows), state.writer.max_pending_spans)
    started = time.perf_counter()
    try:
        await state.writer.write(rows)
    except RuntimeError:  # the writer's "not running": raised only while it stops
        raise WriterStopping() from None
    state.metrics.commit_wait_seconds.observe(time.perf_counter() - started)


def write_problem(exc: WriteRefused) -> Problem:
    """The HTTP answer to a refused write: 413 for a request too large to ever fit, else 503 with Retry-After."""
    if isinstance(exc, TooManySpans):
        return Problem(413, str(exc))
    if isinstance(exc, WriterStopping):
        return Problem(503, str(exc), headers={"Retry-After": "1"})
    return Problem(503, f"ingest is overloaded ({exc}); retry later", headers={"Retry-After": str(exc.retry_after)})


async def write_rows(state: AppState, rows: SpanBatch) -> None:
    """Await the commit of ``rows``. Raises Problem 503 with Retry-After when the writer is overloaded or
    stopping, 413 when the request alone exceeds the writer's queue; store errors propagate (problem+json)."""
    try:
        await commit_rows(state, rows)
    except WRITE_REFUSALS as exc:
        raise write_problem(exc) from None
