"""Shared pieces of the OTLP/gRPC tests: a live server (the real app over real HTTP, its gRPC receiver on a free
port), OTLP request builders, and readers of a refused call's status details."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from conftest import LiveServer, free_port, start_server, stop_server
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from threadline.auth.repository import ProjectRepository
from threadline.store.gateway import Store
from threadline.store.migrations import migrate

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
SEC = 1_000_000_000
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@dataclass
class GrpcServer:
    """A live server with its gRPC receiver: an HTTP client, a gRPC channel and the generated stubs on it."""

    live: LiveServer
    http: httpx.Client
    channel: grpc.Channel
    target: str
    key: str | None  # an API key of project ``key_project`` when one was asked for

    @property
    def traces(self) -> TraceServiceStub:
        return TraceServiceStub(self.channel)

    @property
    def logs(self) -> LogsServiceStub:
        return LogsServiceStub(self.channel)

    def raw_traces(self) -> grpc.UnaryUnaryMultiCallable:
        """``TraceService/Export`` sending bytes as they are (no serializer): any body, valid or not."""
        return self.channel.unary_unary(TRACE_EXPORT)


@contextmanager
def grpc_server(chdb_dir: Path, key_project: str | None = None, **overrides: object) -> Iterator[GrpcServer]:
    """The app on a fresh database, HTTP and gRPC on free ports of 127.0.0.1; stopped and dropped afterwards.
    With ``key_project``, that project and a key of it exist before the server starts (so keys are required)."""
    store = Store.embedded(chdb_dir, f"test_{uuid.uuid4().hex[:12]}")
    migrate(store)
    key = None
    if key_project:
        projects = ProjectRepository(store)
        projects.create_project(key_project)
        key = projects.create_key(key_project, "grpc tests")[1]
    live = start_server(store, **{"grpc_port": free_port(), **overrides})
    target = f"127.0.0.1:{live.settings.grpc_port}"
    try:
        with live.client() as http, grpc.insecure_channel(target) as channel:
            yield GrpcServer(live, http, channel, target, key)
    finally:
        stop_server(live)
        store.command("DROP DATABASE IF EXISTS {db}", tag="test.drop")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def span(name: str, *, trace_id: bytes | None = None, parent: bytes = b"", start: int = T0, end: int = T0 + SEC,
         attrs: dict[str, str | int] | None = None) -> Span:
    return Span(trace_id=os.urandom(16) if trace_id is None else trace_id, span_id=os.urandom(8),
                parent_span_id=parent, name=name, start_time_unix_nano=start, end_time_unix_nano=end,
                attributes=[kv(k, v) for k, v in (attrs or {}).items()])


def trace_request(*spans: Span) -> ExportTraceServiceRequest:
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    resource.resource.attributes.append(kv("service.name", "grpc-tests"))
    resource.scope_spans[0].scope.name = "tests"
    return ExportTraceServiceRequest(resource_spans=[resource])


def session_spans(session_id: str, count: int = 1) -> ExportTraceServiceRequest:
    """``count`` one-span traces of ``session_id``."""
    return trace_request(*(span(f"turn {i}", start=T0 + i * SEC, end=T0 + i * SEC + SEC // 2,
                                attrs={"session.id": session_id}) for i in range(count)))


def log_request(*records: LogRecord) -> ExportLogsServiceRequest:
    resource = ResourceLogs(scope_logs=[ScopeLogs(log_records=list(records))])
    resource.resource.attributes.append(kv("service.name", "grpc-tests"))
    return ExportLogsServiceRequest(resource_logs=[resource])


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def retry_after(error: grpc.RpcError) -> tuple[float | None, float | None]:
    """The retry delay (s) of a refused call: from the ``RetryInfo`` in its ``google.rpc.Status`` details
    (``grpc-status-details-bin``) and from the ``google.rpc.retryinfo-bin`` trailer; None where absent."""
    from_status = None
    status = rpc_status.from_call(error)
    if status is not None:
        assert status.code == error.code().value[0] and status.message == error.details()
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                from_status = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    from_trailer = None
    for key, value in error.trailing_metadata() or ():
        if key == "google.rpc.retryinfo-bin":
            info = error_details_pb2.RetryInfo.FromString(value)
            from_trailer = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return from_status, from_trailer
