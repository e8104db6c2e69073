"""``TraceService/Export`` and ``LogsService/Export`` over real gRPC against a live server whose project has a key:
OK only once committed (read back at once), keys in metadata, gzip, ``partial_success``, ``INVALID_ARGUMENT``,
``UNAUTHENTICATED`` with nothing written, key scopes (``PERMISSION_DENIED``) and expiry, and the ingest metrics."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_helpers import (
    SEC,
    T0,
    GrpcServer,
    bearer,
    grpc_server,
    kv,
    log_request,
    session_spans,
    span,
    trace_request,
    unique,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from threadline.auth.repository import ProjectRepository
from threadline.grpc.services import peer_host

PROJECT = "acme"


@pytest.fixture(scope="module")
def server(chdb_dir: Path) -> Iterator[GrpcServer]:
    with grpc_server(chdb_dir, key_project=PROJECT) as started:
        yield started


def get(server: GrpcServer, path: str) -> Any:
    assert server.key
    response = server.http.get(path, headers={"Authorization": f"Bearer {server.key}"})
    assert response.status_code == 200, response.text
    return response.json()


def session_or_none(server: GrpcServer, session_id: str) -> Any:
    assert server.key
    response = server.http.get(f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {server.key}"})
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def test_an_ok_export_is_committed_and_read_back_at_once(server: GrpcServer) -> None:
    assert server.key
    session_id = unique("chat")
    trace_id = os.urandom(16)
    root = span("chat turn", trace_id=trace_id, attrs={"session.id": session_id, "user.id": "ada"})
    llm = span("chat gpt-4o-mini", trace_id=trace_id, parent=root.span_id, start=T0 + SEC // 10, end=T0 + SEC // 2,
               attrs={"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 120,
                      "gen_ai.usage.output_tokens": 30, "input.value": "What is OTLP?",
                      "output.value": "A protocol for telemetry."})
    response = server.traces.Export(trace_request(llm, root), metadata=bearer(server.key), timeout=30)
    assert not response.HasField("partial_success")
    found = get(server, f"/v1/sessions/{session_id}")  # no polling: OK means committed
    assert found["project_id"] == PROJECT
    assert (found["trace_count"], found["span_count"], found["llm_call_count"]) == (1, 2, 1)
    assert (found["input_tokens"], found["output_tokens"], found["total_tokens"]) == (120, 30, 150)
    assert found["user_id"] == "ada" and found["models"] == ["gpt-4o-mini"]
    assert (found["first_input"], found["last_output"]) == ("What is OTLP?", "A protocol for telemetry.")


def test_x_api_key_metadata_and_gzip_compressed_requests_are_accepted(server: GrpcServer) -> None:
    assert server.key
    session_id = unique("gzip")
    request = session_spans(session_id, 3)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("input.value", "x" * 50_000))
    server.traces.Export(request, metadata=(("x-api-key", server.key),), compression=grpc.Compression.Gzip,
                         timeout=30)
    found = get(server, f"/v1/sessions/{session_id}")
    assert found["trace_count"] == 3 and found["first_input"] == "x" * 50_000


@pytest.mark.parametrize(("metadata", "words"), [
    ((), "an API key is required"),
    (bearer("tl_000000000000_" + "A" * 43), "not valid"),
    ((("x-api-key", "not-a-key"),), "malformed"),
])
def test_missing_or_bad_keys_are_unauthenticated_and_write_nothing(
        server: GrpcServer, metadata: tuple[tuple[str, str], ...], words: str) -> None:
    session_id = unique("refused")
    with pytest.raises(grpc.RpcError) as refused:
        server.traces.Export(session_spans(session_id), metadata=metadata, timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert words in refused.value.details()
    with pytest.raises(grpc.RpcError) as logs_refused:
        server.logs.Export(log_request(LogRecord(time_unix_nano=T0, attributes=[kv("session.id", session_id)])),
                           metadata=metadata, timeout=30)
    assert logs_refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert session_or_none(server, session_id) is None


def test_invalid_spans_are_rejected_in_partial_success_and_the_rest_committed(server: GrpcServer) -> None:
    assert server.key
    session_id = unique("partial")
    good = span("good", attrs={"session.id": session_id})
    too_long = span("bad", attrs={"session.id": "s" * 300})
    no_id = span("no trace id", trace_id=b"")
    response = server.traces.Export(trace_request(good, too_long, no_id), metadata=bearer(server.key), timeout=30)
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message.startswith("2 span(s) rejected: ")
    assert "256" in response.partial_success.error_message
    assert get(server, f"/v1/sessions/{session_id}")["span_count"] == 1


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\x05\x0a"])
def test_an_undecodable_request_is_invalid_argument(server: GrpcServer, body: bytes) -> None:
    assert server.key
    with pytest.raises(grpc.RpcError) as refused:
        server.raw_traces()(body, metadata=bearer(server.key), timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "could not decode the OTLP request" in refused.value.details()
    assert "ExportTraceServiceRequest" in refused.value.details()


def test_an_empty_export_is_ok(server: GrpcServer) -> None:
    assert server.key
    response = server.raw_traces()(b"", metadata=bearer(server.key), timeout=30)
    assert response == b""  # an ExportTraceServiceResponse without partial_success


def test_log_records_land_in_their_session_and_invalid_ones_in_partial_success(server: GrpcServer) -> None:
    assert server.key
    session_id = unique("logs")
    server.traces.Export(session_spans(session_id), metadata=bearer(server.key), timeout=30)
    records = [LogRecord(time_unix_nano=T0 + i, severity_text="INFO", attributes=[kv("session.id", session_id)])
               for i in range(2)]
    for i, record in enumerate(records):
        record.body.string_value = f"step {i}"
    bad = LogRecord(time_unix_nano=T0, trace_id=b"\x01\x02\x03", attributes=[kv("session.id", session_id)])
    response = server.logs.Export(log_request(*records, bad), metadata=bearer(server.key),
                                  compression=grpc.Compression.Gzip, timeout=30)
    assert response.partial_success.rejected_log_records == 1
    assert "trace_id is 3 bytes" in response.partial_success.error_message
    page = get(server, f"/v1/sessions/{session_id}/logs")
    assert [e["body"] for e in page["data"] if e["source"] == "log"] == ["step 0", "step 1"]


def test_spans_are_counted_under_the_grpc_endpoint(server: GrpcServer) -> None:
    assert server.key
    def counted() -> tuple[float, float]:
        text = server.http.get("/metrics").text
        values = {}
        for name in ("threadline_spans_ingested_total", "threadline_spans_rejected_total"):
            line = next((ln for ln in text.splitlines() if ln.startswith(f'{name}{{endpoint="grpc"}}')), None)
            values[name] = float(line.split()[-1]) if line else 0.0
        return values["threadline_spans_ingested_total"], values["threadline_spans_rejected_total"]

    before = counted()
    server.traces.Export(trace_request(span("a", attrs={"session.id": unique("m")}), span("b", trace_id=b"")),
                         metadata=bearer(server.key), timeout=30)
    after = counted()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_readyz_reports_the_grpc_port(server: GrpcServer) -> None:
    assert server.http.get("/readyz").json()["grpc"] == server.live.settings.grpc_port


@pytest.mark.parametrize(("peer", "host"), [("ipv4:127.0.0.1:50312", "127.0.0.1"), ("ipv6:[::1]:50312", "::1"),
                                            ("ipv6:%5B::1%5D:50312", "::1"), ("unix:/tmp/s", "unix:/tmp/s"),
                                            ("", "unknown")])
def test_peer_host_is_the_address_http_throttles_by(peer: str, host: str) -> None:
    assert peer_host(peer) == host


def test_key_scopes_and_expiry(server: GrpcServer) -> None:
    """An ingest key exports; a read key is PERMISSION_DENIED naming its scope; an expired key UNAUTHENTICATED
    saying when; the refused calls write nothing."""
    repo = ProjectRepository(server.live.store)
    keys = {scope: repo.create_key(PROJECT, scope, scope=scope)[1] for scope in ("ingest", "read")}
    expiring, keys["expiring"] = repo.create_key(PROJECT, "expiring",
                                                 expires_at=datetime.now(UTC) + timedelta(seconds=1.5))
    # the server re-reads its keys within a second; waiting rather than polling keeps failures off the throttle
    time.sleep(1.1)
    accepted = unique("ingest-key")
    server.traces.Export(session_spans(accepted), metadata=bearer(keys["ingest"]), timeout=30)
    assert get(server, f"/v1/sessions/{accepted}")["span_count"] == 1
    assert expiring.expires_at is not None
    time.sleep(max(0.0, (expiring.expires_at - datetime.now(UTC)).total_seconds() + 0.05))
    refused = unique("refused")
    for secret, code, words in ((keys["read"], grpc.StatusCode.PERMISSION_DENIED,
                                 "this API key has scope 'read'; sending spans and logs "
                                 "(opentelemetry.proto.collector.trace.v1.TraceService/Export) needs a key with "
                                 "scope 'ingest' or 'all'"),
                                (keys["expiring"], grpc.StatusCode.UNAUTHENTICATED,
                                 f"expired on {expiring.expires_at:%Y-%m-%d %H:%M:%S} UTC")):
        with pytest.raises(grpc.RpcError) as info:
            server.traces.Export(session_spans(refused), metadata=bearer(secret), timeout=30)
        assert (info.value.code(), words in info.value.details()) == (code, True), info.value.details()
        with pytest.raises(grpc.RpcError) as logs_info:
            server.logs.Export(log_request(LogRecord(time_unix_nano=T0, attributes=[kv("session.id", refused)])),
                               metadata=bearer(secret), timeout=30)
        assert logs_info.value.code() == code
    assert session_or_none(server, refused) is None
