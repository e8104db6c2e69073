"""The real app in queue mode over real HTTP, with real Redis and the real store: OTLP in, sessions out through
the in-process consumers; backpressure (503 + Retry-After, then 2xx once drained); Redis down; readiness and
metrics."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
from conftest import LiveServer, start_server, stop_server
from queue_helpers import (
    REDIS_URL,
    prefix_fixture,  # noqa: F401  (fixtures)
)

from threadline.queue.connection import sync_client
from threadline.queue.pool import queue_keys
from threadline.queue.worker import StreamWorker, WorkerConfig
from threadline.store.gateway import Store
from threadline.writer.commit import BatchCommitter

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
# The durability harness: requests with known totals, and the checks of what the API shows.
from test_durability import (
    LATE,
    PROTOBUF,
    SEC,
    SESSIONS,
    build_requests,
    check_acknowledged,
    check_consistent,
    observe,
    post_all,
)


def queued_server(store: Store, prefix: str, **overrides: object) -> LiveServer:
    return start_server(store, **{"queue_url": REDIS_URL, "queue_prefix": prefix, "queue_shards": 4,
                                  "worker_batch_wait_ms": 5, "worker_claim_idle_ms": 2000, **overrides})


def wait_drained(url: str, timeout_s: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while True:
        ready = httpx.get(f"{url}/readyz", timeout=10).json()
        if ready["queue_depth"] == 0:
            return ready  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, ready
        time.sleep(0.05)


def test_otlp_in_sessions_out_exactly_with_two_consumers(store: Store, prefix: str) -> None:
    """Serve with the queue and two in-process consumers on the same shards; every acknowledged span shows once,
    rollups exact; replays change nothing. (One consumer: test_queue_durability, serve and worker processes.)"""
    live = queued_server(store, prefix, workers=2)
    try:
        requests = build_requests(60, time.time_ns() - 3600 * SEC)
        status = post_all(live.url, requests, threads=4)
        assert set(status.values()) == {200}
        ready = wait_drained(live.url)
        assert ready["status"] == "ready" and ready["dlq_entries"] == 0
        trace_ids = [r.spans[0].trace_id for r in requests]
        seen = observe(live.url, trace_ids)
        check_acknowledged(seen, requests, set(range(60)), set(range(60)))
        check_consistent(seen)
        assert len(seen.sessions) == SESSIONS
        assert sum(s["trace_count"] for s in seen.sessions.values()) == 60
        assert sum(s["span_count"] for s in seen.sessions.values()) == 60 * 5 - LATE
        before = seen.snapshot()
        assert set(post_all(live.url, requests[:20], threads=2).values()) == {200}  # an exporter's replay
        wait_drained(live.url)
        assert observe(live.url, trace_ids).snapshot() == before
        metrics = httpx.get(f"{live.url}/metrics").text
        assert 'threadline_queue_depth{shard="0"}' in metrics and "threadline_worker_batch_spans_count" in metrics
        assert "threadline_queue_dlq_entries 0.0" in metrics
    finally:
        stop_server(live)


def test_backpressure_answers_503_then_2xx_after_draining(store: Store, prefix: str) -> None:
    live = queued_server(store, prefix, workers=0, queue_shards=1, queue_max_length=5)
    try:
        requests = build_requests(12, time.time_ns() - 3600 * SEC)
        answers = []
        with httpx.Client(base_url=live.url, timeout=30) as client:
            for request in requests[:8]:
                answers.append(client.post("/v1/traces", content=request.body, headers=PROTOBUF))
        assert [a.status_code for a in answers] == [200] * 5 + [503] * 3
        refused = answers[-1]
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) >= 1 and "THREADLINE_QUEUE_MAX_LENGTH" in refused.json()["detail"]

        keys = queue_keys(live.settings)
        drained = StreamWorker(BatchCommitter(store), sync_client(REDIS_URL), keys,
                               WorkerConfig.from_settings(live.settings)).drain()
        assert drained.committed == 5
        with httpx.Client(base_url=live.url, timeout=30) as client:  # the exporter retries what was refused
            assert {client.post("/v1/traces", content=r.body, headers=PROTOBUF).status_code
                    for r in requests[5:10]} == {200}
        StreamWorker(BatchCommitter(store), sync_client(REDIS_URL), keys,
                     WorkerConfig.from_settings(live.settings)).drain()
        seen = observe(live.url, [r.spans[0].trace_id for r in requests[:10]])
        check_acknowledged(seen, requests, set(range(10)), set(range(10)))
        check_consistent(seen)
    finally:
        stop_server(live)


def test_redis_down_is_503_with_retry_after_and_not_ready(store: Store) -> None:
    live = start_server(store, queue_url="redis://127.0.0.1:1/0", workers=0)
    try:
        body = build_requests(1, time.time_ns())[0].body
        answer = httpx.post(f"{live.url}/v1/traces", content=body, headers=PROTOBUF, timeout=30)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert "not answering" in answer.json()["detail"]
        ready = httpx.get(f"{live.url}/readyz", timeout=30)
        assert ready.status_code == 503 and "ingest queue" in ready.json()["detail"]
    finally:
        stop_server(live)
