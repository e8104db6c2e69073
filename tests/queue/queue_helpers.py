"""Shared pieces of the queue tests: a unique queue per test on the real Redis (127.0.0.1:6379), a span workload
whose totals are known in advance, and checks of what the store holds."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pytest
import redis

from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, rows_to_arrow
from threadline.queries.sessions import list_sessions
from threadline.queue.connection import QueueKeys
from threadline.settings import Settings
from threadline.store.gateway import Store

REDIS_URL = os.environ.get("THREADLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PRICES = PriceTable({})
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000


@dataclass
class Queue:
    """A queue of its own on the test Redis: settings (unique prefix), keys, a client."""

    settings: Settings
    keys: QueueKeys
    client: redis.Redis


def queue_settings(prefix: str, **overrides: object) -> Settings:
    return Settings(queue_url=REDIS_URL, queue_prefix=prefix, **overrides)  # type: ignore[arg-type]


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def redis_or_skip() -> redis.Redis:
    """A client of the test Redis; skips the test when none answers."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL} (.ci/run starts one)")
    return client


@pytest.fixture(name="prefix")
def prefix_fixture() -> Iterator[str]:
    """A unique queue prefix on the test Redis; its keys are deleted afterwards."""
    client = redis_or_skip()
    name = f"tq-{uuid.uuid4().hex[:10]}"
    yield name
    delete_prefix(client, name)
    client.close()


@pytest.fixture(name="queue")
def queue_fixture(prefix: str) -> Iterator[Queue]:
    """A queue of its own (4 shards, fast reclaiming and retries) on the test Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    settings = queue_settings(prefix, queue_shards=4, worker_batch_wait_ms=5, worker_claim_idle_ms=300,
                              worker_max_attempts=3)
    yield Queue(settings, QueueKeys(prefix, 4), client)
    client.close()


@dataclass(frozen=True)
class Workload:
    """``traces`` traces of ``project``, trace i in session ``s{i % sessions}``, each a root and two LLM children
    (input tokens 10 + i % 7, output tokens 3); the root carries the session id."""

    project: str
    traces: int
    sessions: int = 5
    tag: str = ""

    def trace_id(self, i: int) -> str:
        return f"{self.tag or 'a' * 8}{i:024x}"[:32]

    def session(self, i: int) -> str:
        return f"s{i % self.sessions}"

    def spans(self, i: int) -> list[RawSpan]:
        trace = self.trace_id(i)
        start = T0_NS + i * 1000 * MS
        root = RawSpan(trace, f"{i:08x}00000001", "", "turn", start, start + 500 * MS,
                       attributes={"session.id": self.session(i)}, resource_attributes={"service.name": "q"})
        children = [RawSpan(trace, f"{i:08x}0000000{j}", root.span_id, "chat", start + j * MS, start + 100 * MS,
                            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                                        "gen_ai.usage.input_tokens": str(10 + i % 7),
                                        "gen_ai.usage.output_tokens": "3"}) for j in (2, 3)]
        return [root, *children]

    def table(self, first: int, count: int) -> pa.Table:
        """Span rows of traces ``first`` .. ``first + count - 1``."""
        return rows_to_arrow([normalize(raw, self.project, PRICES, 1_767_225_600_000_000)
                              for i in range(first, first + count) for raw in self.spans(i)])

    def expected(self, traces: range | None = None) -> dict[str, dict[str, int]]:
        """Session id → trace_count, span_count, total_tokens of the given traces (default all)."""
        want: dict[str, dict[str, int]] = defaultdict(lambda: {"trace_count": 0, "span_count": 0,
                                                               "total_tokens": 0})
        for i in traces if traces is not None else range(self.traces):
            got = want[self.session(i)]
            got["trace_count"] += 1
            got["span_count"] += 3
            got["total_tokens"] += 2 * (13 + i % 7)
        return dict(want)


def stored_sessions(store: Store, project: str) -> dict[str, dict[str, int]]:
    """Session id → trace_count, span_count, total_tokens as the sessions list reads them (session rollups)."""
    page = list_sessions(store, project, limit=1000, cache=None)
    return {row["session_id"]: {k: int(row[k]) for k in ("trace_count", "span_count", "total_tokens")}
            for row in page.rows}


def stored_spans(store: Store, project: str) -> int:
    """Spans of ``project`` after deduplication (what every read sees)."""
    rows = store.select("SELECT count() AS n FROM (SELECT 1 FROM {db}.spans WHERE project_id = {p:String} "
                        "LIMIT 1 BY project_id, trace_id, span_id)", {"p": project}, tag="test.count")
    return int(rows[0]["n"])


def enqueue(queue: Queue, table: pa.Table) -> list[tuple[str, str]]:
    """Append ``table`` to its shard streams as the producer would (synchronously); (stream, entry id) pairs."""
    from threadline.queue.codec import entry_fields
    from threadline.queue.sharding import split

    added = []
    for shard, part in split(table, queue.keys.shards).items():
        stream = queue.keys.stream(shard)
        added.append((stream, queue.client.xadd(stream, entry_fields(part)).decode()))  # type: ignore[arg-type]
    return added
