"""The OpenTelemetry Python SDK's own OTLP/gRPC exporters (``opentelemetry-exporter-otlp-proto-grpc``), unmodified,
against a live ``threadline serve`` subprocess with its gRPC receiver on: what a user gets by setting
``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, ``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4317`` and
``OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer <key>``.

A two-turn chat (root span per turn with the session and user, an LLM child with GenAI model and token attributes
and the turn's input and output), gzip-compressed, through a ``BatchSpanProcessor``; log records through the SDK's
gRPC log exporter (one naming the session, one only emitted inside a span of it); a wrong key is refused (the
exporter reports FAILURE, nothing stored).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port
from grpc import Compression
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

PROJECT = "pygrpc"
TURNS = [("What is a span?", "One operation of a trace.", 41, 9), ("And a trace?", "All spans of one request.", 67, 11)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("otel_python_grpc"), PROJECT, grpc_port=free_port()) as live:
        yield live


def test_serve_starts_the_grpc_listener_and_says_where(server: Threadline) -> None:
    assert server.http.get("/readyz").json()["grpc"] == server.grpc_port
    log = server.proc.log_path.read_text()
    assert re.search(rf"OTLP/gRPC: http://127\.0\.0\.1:{server.grpc_port}\b", log), log[-2000:]


def export_chat(server: Threadline, session_id: str, key: str) -> list[SpanExportResult]:
    """Run the two turns through a TracerProvider with the gRPC span exporter; the results of its exports."""
    results: list[SpanExportResult] = []

    class Recording(OTLPSpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            result = super().export(spans)
            results.append(result)
            return result

    exporter = Recording(endpoint=server.grpc_endpoint, insecure=True, headers={"authorization": f"Bearer {key}"},
                         compression=Compression.Gzip, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "python-grpc-chat"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.clients.grpc")
    for question, answer, input_tokens, output_tokens in TURNS:
        with tracer.start_as_current_span("chat turn", attributes={"session.id": session_id, "user.id": "grace"}), \
                tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
                    "input.value": question, "output.value": answer}):
            pass
    provider.shutdown()  # flushes the batch processor
    return results


def test_a_chat_exported_over_grpc_lands_in_its_session_with_the_conversation(server: Threadline) -> None:
    session_id = f"py-grpc-{uuid.uuid4().hex[:8]}"
    results = export_chat(server, session_id, server.api_key)
    assert results and all(r is SpanExportResult.SUCCESS for r in results)
    response = server.http.get(f"/v1/sessions/{session_id}")  # exports returned: committed
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["project_id"] == PROJECT and found["user_id"] == "grace"
    assert (found["trace_count"], found["span_count"], found["llm_call_count"]) == (2, 4, 2)
    assert found["input_tokens"] == sum(t[2] for t in TURNS)
    assert found["output_tokens"] == sum(t[3] for t in TURNS)
    assert found["models"] == ["gpt-4o-mini"] and found["total_cost_usd"] > 0
    assert (found["first_input"], found["last_output"]) == (TURNS[0][0], TURNS[-1][1])
    turns = sorted(found["traces"], key=lambda t: t["turn"])
    assert [(t["input"], t["output"]) for t in turns] == [(q, a) for q, a, _, _ in TURNS]


def test_log_records_exported_over_grpc_land_in_the_session(server: Threadline) -> None:
    session_id = f"py-grpc-logs-{uuid.uuid4().hex[:8]}"
    headers = {"authorization": f"Bearer {server.api_key}"}
    logs = LoggerProvider(resource=Resource.create({"service.name": "python-grpc-chat"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=server.grpc_endpoint, insecure=True, headers=headers, compression=Compression.Gzip, timeout=10)))
    logger = logs.get_logger("tests.clients.grpc")
    traces = TracerProvider()
    traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.grpc_endpoint, insecure=True,
                                                                   headers=headers, timeout=10)))
    with traces.get_tracer("tests.clients.grpc").start_as_current_span("turn", attributes={"session.id": session_id}):
        # emitted inside the span: the record carries its trace id, not the session id
        logger.emit(LogRecord(timestamp=time.time_ns(), body="retrieved 3 documents", severity_text="INFO",
                              severity_number=SeverityNumber.INFO))
    logger.emit(LogRecord(timestamp=time.time_ns(), body="tool call timed out", severity_text="WARN",
                          severity_number=SeverityNumber.WARN, attributes={"session.id": session_id}))
    logs.shutdown()
    traces.shutdown()
    response = server.http.get(f"/v1/sessions/{session_id}/logs")
    assert response.status_code == 200, response.text
    found = [(e["body"], e["severity"]) for e in response.json()["data"] if e["source"] == "log"]
    assert found == [("retrieved 3 documents", "info"), ("tool call timed out", "warn")]


def test_a_wrong_key_is_refused_and_nothing_is_stored(server: Threadline) -> None:
    session_id = f"py-grpc-refused-{uuid.uuid4().hex[:8]}"
    results = export_chat(server, session_id, "tl_000000000000_" + "A" * 43)
    assert results and all(r is SpanExportResult.FAILURE for r in results)  # UNAUTHENTICATED: not retried
    assert server.http.get(f"/v1/sessions/{session_id}").status_code == 404
