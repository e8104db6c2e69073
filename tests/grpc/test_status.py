"""Refusals as gRPC status codes (OTLP specification, "OTLP/gRPC Response", "OTLP/gRPC Throttling"): the mapping of
every refusal, and live servers that really refuse: the embedded writer overloaded (``RESOURCE_EXHAUSTED`` with
``RetryInfo``), a request larger than its queue (``RESOURCE_EXHAUSTED`` without), a full Redis ingest queue, and
repeated authentication failures (throttled with ``RetryInfo``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from google.rpc import error_details_pb2, status_pb2
from grpc_helpers import GrpcServer, bearer, grpc_server, retry_after, session_spans, unique

from threadline.api.write import TooManySpans, WriterStopping
from threadline.grpc.status import RETRY_INFO_KEY, Refusal, refusal_of
from threadline.ingest.otlp import OtlpDecodeError
from threadline.queue.producer import QueueFull, QueueUnavailable
from threadline.store.errors import QueryError, StoreUnavailable
from threadline.writer.group_commit import Overloaded

REDIS_URL = "redis://127.0.0.1:6379/0"
Code = grpc.StatusCode


@pytest.mark.parametrize(("exc", "code", "retry", "words"), [
    (OtlpDecodeError("the body is not a protobuf"), Code.INVALID_ARGUMENT, None, "could not decode"),
    (TooManySpans(10, 5), Code.RESOURCE_EXHAUSTED, None, "send smaller batches"),
    (Overloaded(500, 3), Code.RESOURCE_EXHAUSTED, 3, "overloaded"),
    (QueueFull("threadline:spans:0", 9, 5), Code.RESOURCE_EXHAUSTED, 2, "workers are behind"),
    (QueueUnavailable("redis://:secret@queue:6379/0", ConnectionError("refused")), Code.UNAVAILABLE, 1,
     "redis://queue:6379/0"),
    (WriterStopping(), Code.UNAVAILABLE, 1, "shutting down"),
    (StoreUnavailable("no server", tag="insert"), Code.UNAVAILABLE, 1, "store is unavailable"),
    (QueryError("syntax", tag="insert"), Code.INTERNAL, None, "server log"),
    (KeyError("bug"), Code.INTERNAL, None, "server log"),
])
def test_every_refusal_has_its_status_code_and_retry_delay(exc: Exception, code: grpc.StatusCode,
                                                           retry: int | None, words: str) -> None:
    refusal = refusal_of(exc)
    assert (refusal.code, refusal.retry_after_s) == (code, retry)
    assert words in refusal.message and "secret" not in refusal.message


def test_the_retry_delay_travels_in_the_status_details_and_the_python_exporters_trailer() -> None:
    trailers = dict(Refusal(Code.RESOURCE_EXHAUSTED, "slow down", 4).trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert (status.code, status.message) == (Code.RESOURCE_EXHAUSTED.value[0], "slow down")
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == 4
    assert error_details_pb2.RetryInfo.FromString(trailers[RETRY_INFO_KEY]).retry_delay.seconds == 4
    without = dict(Refusal(Code.INVALID_ARGUMENT, "bad").trailing_metadata())
    assert set(without) == {"grpc-status-details-bin"}
    assert not status_pb2.Status.FromString(without["grpc-status-details-bin"]).details


FLUSH_MS = 1000  # the window in which a second export finds the writer full; wide for a loaded CI machine


@pytest.fixture(scope="module")
def small(chdb_dir: Path) -> Iterator[GrpcServer]:
    """Embedded, local development mode (no key), a writer queue of 2 spans that waits FLUSH_MS before each
    commit, and authentication throttled after 2 failures."""
    with grpc_server(chdb_dir, max_pending_spans=2, flush_interval_ms=FLUSH_MS, auth_failure_limit=2) as started:
        yield started


def test_local_mode_takes_calls_without_a_key_into_project_default(small: GrpcServer) -> None:
    session_id = unique("local")
    small.traces.Export(session_spans(session_id), timeout=30)
    assert small.http.get(f"/v1/sessions/{session_id}").json()["project_id"] == "default"


def test_a_request_larger_than_the_writer_queue_is_resource_exhausted_without_retry_info(small: GrpcServer) -> None:
    session_id = unique("large")
    with pytest.raises(grpc.RpcError) as refused:
        small.traces.Export(session_spans(session_id, 3), timeout=30)
    assert refused.value.code() == Code.RESOURCE_EXHAUSTED
    assert "holds 3 spans, more than the 2" in refused.value.details()
    assert retry_after(refused.value) == (None, None)  # not retryable (spec: no RetryInfo)
    assert small.http.get(f"/v1/sessions/{session_id}").status_code == 404


def test_an_overloaded_writer_is_resource_exhausted_with_retry_info_and_the_queued_request_commits(
        small: GrpcServer) -> None:
    first, second = unique("queued"), unique("refused")
    queued = small.traces.Export.future(session_spans(first, 2), timeout=30)
    deadline = time.monotonic() + 10
    while small.http.get("/readyz").json()["pending_spans"] < 2:  # the first waits FLUSH_MS for its commit
        assert time.monotonic() < deadline and not queued.done(), "the first export never reached the writer"
    with pytest.raises(grpc.RpcError) as refused:
        small.traces.Export(session_spans(second), timeout=30)
    assert refused.value.code() == Code.RESOURCE_EXHAUSTED
    assert "overloaded" in refused.value.details()
    assert retry_after(refused.value) == (1.0, 1.0)
    queued.result()  # OK: committed
    assert small.http.get(f"/v1/sessions/{first}").json()["trace_count"] == 2
    assert small.http.get(f"/v1/sessions/{second}").status_code == 404


def test_repeated_authentication_failures_are_throttled_with_retry_info(small: GrpcServer) -> None:
    # Last of this module: the address (127.0.0.1) stays throttled for a minute.
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as refused:
            small.traces.Export(session_spans(unique("bad")), metadata=bearer("wrong"), timeout=30)
        assert refused.value.code() == Code.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as throttled:
        small.traces.Export(session_spans(unique("fine")), timeout=30)  # even a call that would pass
    assert throttled.value.code() == Code.RESOURCE_EXHAUSTED
    assert "too many failed authentication attempts" in throttled.value.details()
    from_status, from_trailer = retry_after(throttled.value)
    assert from_status is not None and 1 <= from_status <= 61 and from_status == from_trailer


@pytest.fixture(scope="module")
def queued(chdb_dir: Path) -> Iterator[tuple[GrpcServer, redis.Redis, str]]:
    """Queue mode on the test Redis: one shard of at most one entry, no consumer."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL} (.ci/run starts one)")
    prefix = f"test-grpc-{uuid.uuid4().hex[:8]}"
    try:
        with grpc_server(chdb_dir, queue_url=REDIS_URL, queue_prefix=prefix, queue_shards=1, queue_max_length=1,
                         workers=0) as started:
            yield started, client, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_queue_mode_ok_means_in_redis_and_a_full_queue_is_resource_exhausted_with_retry_info(
        queued: tuple[GrpcServer, redis.Redis, str]) -> None:
    server, client, prefix = queued
    server.traces.Export(session_spans(unique("q")), timeout=30)
    streams = [key for key in client.scan_iter(match=f"{prefix}:*") if client.type(key) == b"stream"]
    assert sum(client.xlen(stream) for stream in streams) == 1  # acknowledged = appended
    with pytest.raises(grpc.RpcError) as refused:
        server.traces.Export(session_spans(unique("q")), timeout=30)
    assert refused.value.code() == Code.RESOURCE_EXHAUSTED
    assert "THREADLINE_QUEUE_MAX_LENGTH" in refused.value.details()
    assert retry_after(refused.value) == (2.0, 2.0)
