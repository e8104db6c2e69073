"""The dead-letter stream: entries that failed ``worker_max_attempts`` deliveries, kept with their error until an
operator retries or drops them (``threadline dlq list|retry|drop``).

A dead-letter entry holds the original entry's fields (``v``, ``n``, ``spans``) plus ``stream`` and ``id`` (where
it came from), ``error``, ``attempts``, ``consumer`` and ``failed_at`` (ms since the epoch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from threadline.queue.connection import QueueKeys

_OWN_FIELDS = (b"stream", b"id", b"error", b"attempts", b"consumer", b"failed_at")


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered batch: its DLQ entry id, origin stream and entry id, span count, error, deliveries, when it
    failed (ms since the epoch), and the consumer that gave up."""

    dlq_id: str
    stream: str
    entry_id: str
    spans: int
    error: str
    attempts: int
    failed_at_ms: int
    consumer: str


def dead_letter(client: redis.Redis, keys: QueueKeys, stream: str, entry_id: str, fields: dict[bytes, bytes], *,
                error: str, attempts: int, consumer: str) -> None:
    """Move entry ``entry_id`` of ``stream`` to the dead-letter stream: XADD it there with its error, XACK and XDEL
    the original, in one MULTI/EXEC (so it is in exactly one of the two). Raises redis.RedisError."""
    letter = {k: v for k, v in fields.items() if k not in _OWN_FIELDS}
    letter.update({b"stream": stream.encode(), b"id": entry_id.encode(), b"error": error.encode()[:4000],
                   b"attempts": str(attempts).encode(), b"consumer": consumer.encode(),
                   b"failed_at": str(time.time_ns() // 1_000_000).encode()})
    with client.pipeline(transaction=True) as pipe:
        pipe.xadd(keys.dlq, letter)  # type: ignore[arg-type]
        pipe.xack(stream, keys.group, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()


def _text(fields: dict[bytes, bytes], name: bytes) -> str:
    return fields.get(name, b"").decode(errors="replace")


def _number(fields: dict[bytes, bytes], name: bytes) -> int:
    try:
        return int(fields.get(name, b"0"))
    except ValueError:
        return 0


def list_letters(client: redis.Redis, keys: QueueKeys, limit: int = 100) -> list[DeadLetter]:
    """The oldest ``limit`` dead-lettered batches. Raises redis.RedisError."""
    rows: Any = client.xrange(keys.dlq, count=limit)
    return [DeadLetter(i.decode(), _text(f, b"stream"), _text(f, b"id"), _number(f, b"n"), _text(f, b"error"),
                       _number(f, b"attempts"), _number(f, b"failed_at"), _text(f, b"consumer")) for i, f in rows]


def size(client: redis.Redis, keys: QueueKeys) -> int:
    """Batches in the dead-letter stream. Raises redis.RedisError."""
    return int(client.xlen(keys.dlq))


def _select(client: redis.Redis, keys: QueueKeys, ids: list[str] | None) -> list[tuple[str, dict[bytes, bytes]]]:
    if ids is None:
        every: Any = client.xrange(keys.dlq)
        return [(i.decode(), f) for i, f in every]
    found = []
    for dlq_id in ids:
        rows: Any = client.xrange(keys.dlq, dlq_id, dlq_id)
        if not rows:
            raise KeyError(dlq_id)
        found.append((dlq_id, rows[0][1]))
    return found


def retry(client: redis.Redis, keys: QueueKeys, ids: list[str] | None = None) -> int:
    """Put dead-lettered batches (``ids``, or all when None) back on the stream they came from (a new entry, so
    they get ``worker_max_attempts`` fresh deliveries) and remove them from the dead-letter stream, each in one
    MULTI/EXEC. Returns how many. Raises KeyError (an id not in the DLQ; nothing done), redis.RedisError."""
    letters = _select(client, keys, ids)
    for dlq_id, fields in letters:
        stream = fields.get(b"stream", b"").decode() or keys.stream(0)
        original = {k: v for k, v in fields.items() if k not in _OWN_FIELDS}
        with client.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, original)  # type: ignore[arg-type]
            pipe.xdel(keys.dlq, dlq_id)
            pipe.execute()
    return len(letters)


def drop(client: redis.Redis, keys: QueueKeys, ids: list[str] | None = None) -> int:
    """Delete dead-lettered batches (``ids``, or all when None) for good. Returns how many. Raises KeyError (an id
    not in the DLQ; nothing done), redis.RedisError."""
    letters = _select(client, keys, ids)
    if letters:
        client.xdel(keys.dlq, *[dlq_id for dlq_id, _ in letters])
    return len(letters)
