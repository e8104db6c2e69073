"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from redis.exceptions import RedisError

from threadline.api.problems import Problem
from threadline.api.read_schemas import problem_responses
from threadline.api.state import AppState, app_state
from threadline.queue.producer import QueueProducer

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """200 while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness",
            responses=problem_responses(described={503: "the store or the ingest queue is not answering (see "
                                                        "Retry-After)"}))
async def readyz(state: Annotated[AppState, Depends(app_state)]) -> dict[str, str | int]:
    """200 when the store answers a query and, in queue mode, Redis answers; 503 otherwise. Reports spans waiting
    for the writer, the OTLP/gRPC receiver (``grpc``: its port, or ``off``) and, in queue mode, batches waiting in
    the queue and in its dead-letter stream."""
    try:
        await asyncio.to_thread(state.store.select, "SELECT 1 AS ok", tag="readyz")
    except Exception as exc:
        raise Problem(503, f"the store is not answering: {exc}", headers={"Retry-After": "1"}) from None
    ready: dict[str, str | int] = {"status": "ready", "pending_spans": state.writer.pending_spans,
                                   "grpc": state.grpc_port or "off"}
    if isinstance(state.writer, QueueProducer):
        try:
            shards, dlq = await state.writer.depths()
        except RedisError as exc:
            raise Problem(503, f"the ingest queue (Redis) is not answering: {exc}",
                          headers={"Retry-After": "1"}) from None
        state.metrics.record_queue_depths(shards, dlq)
        ready |= {"queue_depth": sum(shards), "dlq_entries": dlq}
    return ready
