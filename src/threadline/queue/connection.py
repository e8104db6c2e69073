"""Redis clients from the queue URL, and the names of every Redis key the queue uses.

Keys (``P`` is ``settings.queue_prefix``): ``P:spans:{shard}`` the shard streams, ``P:dlq`` the dead-letter stream,
``P:recompute:{bucket}`` the locks serialising rollup recomputation across workers (one per bucket of projects),
``P:rollup_version`` the counter every writer takes rollup versions from (:class:`threadline.writer.versions.
RedisVersions`).
The consumer group on every shard stream is ``P:writers``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

# A reachable Redis answers in well under a second; a dead one must turn into a 503 quickly, not hang ingest.
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 10.0
# Rollups of different projects never share a row, so only workers recomputing the same projects need to take turns;
# projects hash into this many lock buckets.
LOCK_BUCKETS = 16


def project_bucket(project_id: str) -> int:
    """The recompute-lock bucket of a project (0 ≤ bucket < LOCK_BUCKETS), stable across processes."""
    return int.from_bytes(hashlib.blake2b(project_id.encode(), digest_size=4).digest(), "big") % LOCK_BUCKETS


@dataclass(frozen=True)
class QueueKeys:
    """Key names of one queue: ``prefix`` (``settings.queue_prefix``) and ``shards`` (``settings.queue_shards``)."""

    prefix: str
    shards: int

    def stream(self, shard: int) -> str:
        """The stream of shard ``shard`` (0 ≤ shard < shards)."""
        return f"{self.prefix}:spans:{shard}"

    @property
    def streams(self) -> list[str]:
        """Every shard stream, by shard number."""
        return [self.stream(shard) for shard in range(self.shards)]

    @property
    def group(self) -> str:
        """The consumer group every worker joins on every shard stream."""
        return f"{self.prefix}:writers"

    @property
    def dlq(self) -> str:
        """The dead-letter stream: entries that failed ``worker_max_attempts`` deliveries, with their error."""
        return f"{self.prefix}:dlq"

    @property
    def versions(self) -> str:
        """The rollup version counter shared by every writer of the store (a decimal integer, ns-like)."""
        return f"{self.prefix}:rollup_version"

    def recompute_locks(self, project_ids: set[str]) -> list[str]:
        """The locks a worker holds while it recomputes links and rollups of these projects (see
        :mod:`threadline.queue.worker`), in the order to take them (sorted, so two workers never deadlock)."""
        return [f"{self.prefix}:recompute:{bucket}" for bucket in sorted({project_bucket(p) for p in project_ids})]


def redacted(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def sync_client(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A blocking redis-py client of ``url`` (``redis://[:password@]host:port/db``, ``rediss://`` for TLS).
    Connects lazily: errors (``redis.ConnectionError``) surface on the first command."""
    return redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=socket_timeout)


def async_client(url: str) -> aioredis.Redis:
    """An asyncio redis-py client of ``url`` (for the API's event loop). Connects lazily."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=SOCKET_TIMEOUT_S)
