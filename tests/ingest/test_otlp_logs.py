"""OTLP log decoding into ``logs`` rows: both encodings, session id precedence, per-record rejections, severity,
the replay-stable ``log_id``, and the response encoding."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber

from threadline.ingest.otlp_logs import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    decode_logs,
    encode_logs_response,
    severity_level,
)

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
TRACE = bytes.fromhex("ab" * 16)
SPAN = bytes.fromhex("cd" * 8)


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def record(body: str = "hello", **fields: Any) -> LogRecord:
    attrs = fields.pop("attrs", {})
    return LogRecord(time_unix_nano=fields.pop("time", T0), body=AnyValue(string_value=body),
                     attributes=[kv(k, v) for k, v in attrs.items()], **fields)


def export(*records: LogRecord, resource: dict[str, str] | None = None) -> ExportLogsServiceRequest:
    logs = ResourceLogs(scope_logs=[ScopeLogs(log_records=list(records))])
    logs.scope_logs[0].scope.name = "tests.logs"
    for key, value in {"service.name": "svc", **(resource or {})}.items():
        logs.resource.attributes.append(kv(key, value))
    return ExportLogsServiceRequest(resource_logs=[logs])


def to_json(request: ExportLogsServiceRequest) -> dict[str, Any]:
    """The OTLP JSON mapping (ids as hex)."""
    document = json_format.MessageToDict(request)
    for resource in document.get("resourceLogs", []):
        for scope in resource.get("scopeLogs", []):
            for item in scope.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return document


def rows(request: ExportLogsServiceRequest, encoding: str = PROTOBUF) -> list[dict[str, Any]]:
    body = request.SerializeToString() if encoding == PROTOBUF else json.dumps(to_json(request)).encode()
    batch = decode_logs(body, encoding, "proj", 1)
    assert batch.rejected == 0, batch.message
    result: list[dict[str, Any]] = batch.table.to_pylist()
    return result


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_a_record_becomes_a_row(encoding: str) -> None:
    request = export(record("started", trace_id=TRACE, span_id=SPAN,
                            severity_number=SeverityNumber.SEVERITY_NUMBER_WARN, severity_text="WARN",
                            observed_time_unix_nano=T0 + 5,
                            attrs={"session.id": "chat-1", "k": "v"}))
    [row] = rows(request, encoding)
    assert row["project_id"] == "proj" and row["session_id"] == "chat-1"
    assert row["trace_id"] == "ab" * 16 and row["span_id"] == "cd" * 8
    assert row["severity_number"] == 13 and row["severity_text"] == "WARN" and row["body"] == "started"
    assert row["timestamp"].value == T0 and row["observed_timestamp"].value == T0 + 5
    assert row["service_name"] == "svc" and row["scope_name"] == "tests.logs"
    assert dict(row["attributes"]) == {"session.id": "chat-1", "k": "v"}
    assert dict(row["resource_attributes"]) == {"service.name": "svc"}


def test_session_id_from_record_then_resource_with_the_span_key_list() -> None:
    request = export(record("a", attrs={"gen_ai.conversation.id": "on-record"}), record("b"),
                     record("c", attrs={"session.id": "first-key", "session_id": "later-key"}),
                     resource={"langfuse.session.id": "on-resource"})
    assert [r["session_id"] for r in rows(request)] == ["on-record", "on-resource", "first-key"]


def test_a_record_without_any_session_key_has_none() -> None:
    [row] = rows(export(record(trace_id=TRACE)))
    assert row["session_id"] == "" and row["trace_id"] == "ab" * 16


def test_all_zero_ids_mean_no_id() -> None:
    [row] = rows(export(record(trace_id=bytes(16), span_id=bytes(8))))
    assert row["trace_id"] == "" and row["span_id"] == ""


def test_observed_time_stands_in_for_a_missing_time() -> None:
    [row] = rows(export(record(time=0, observed_time_unix_nano=T0 + 9)))
    assert row["timestamp"].value == T0 + 9


@pytest.mark.parametrize(("text", "number"), [("ERROR", 17), ("warning", 13), ("Info", 9), ("debug", 5),
                                               ("TRACE", 1), ("FATAL", 21), ("critical", 21), ("whatever", 0),
                                               ("", 0)])
def test_severity_number_from_text_when_unspecified(text: str, number: int) -> None:
    [row] = rows(export(record(severity_text=text)))
    assert row["severity_number"] == number


def test_an_explicit_severity_number_wins_over_the_text() -> None:
    [row] = rows(export(record(severity_number=9, severity_text="ERROR")))
    assert row["severity_number"] == 9


@pytest.mark.parametrize(("number", "level"), [(0, "unspecified"), (1, "trace"), (4, "trace"), (5, "debug"),
                                               (9, "info"), (12, "info"), (13, "warn"), (17, "error"),
                                               (20, "error"), (21, "fatal"), (24, "fatal"), (25, "unspecified")])
def test_severity_levels_follow_the_otlp_ranges(number: int, level: str) -> None:
    assert severity_level(number) == level


def test_non_string_bodies_become_text() -> None:
    request = export(LogRecord(time_unix_nano=T0, body=AnyValue(int_value=42)),
                     LogRecord(time_unix_nano=T0, body=AnyValue(array_value=ArrayValue(
                         values=[AnyValue(string_value="a"), AnyValue(bool_value=True)]))),
                     LogRecord(time_unix_nano=T0))
    assert [r["body"] for r in rows(request)] == ["42", '["a", true]', ""]


def test_event_name_is_kept_as_an_attribute() -> None:
    [row] = rows(export(record(event_name="gen_ai.evaluation")))
    assert dict(row["attributes"])["event.name"] == "gen_ai.evaluation"


def test_log_id_is_the_same_for_a_replay_in_either_encoding_and_differs_per_record() -> None:
    request = export(record("one", trace_id=TRACE), record("two", trace_id=TRACE))
    first = [r["log_id"] for r in rows(request, PROTOBUF)]
    assert first == [r["log_id"] for r in rows(request, PROTOBUF)] == [r["log_id"] for r in rows(request, JSON)]
    assert len(set(first)) == 2
    assert rows(export(record("one", trace_id=TRACE), resource={"host": "b"}))[0]["log_id"] != first[0]


def test_invalid_records_are_rejected_one_by_one() -> None:
    request = export(record("ok"), record("long", attrs={"session.id": "x" * 257}),
                     record("short trace", trace_id=b"\x01" * 8), record("short span", span_id=b"\x01" * 4),
                     record("no time", time=0), record("limit", attrs={"session.id": "y" * 256}))
    batch = decode_logs(request.SerializeToString(), PROTOBUF, "proj", 1)
    assert [r["body"] for r in batch.table.to_pylist()] == ["ok", "limit"]
    assert batch.rejected == 4
    for words in ("4 log record(s) rejected", "record 1 of scope 0 of resource 0: session id is 257 characters",
                  "trace_id is 8 bytes", "span_id is 4 bytes", "neither time_unix_nano"):
        assert words in batch.message


def test_json_ids_that_are_not_hex_reject_only_their_record() -> None:
    document = to_json(export(record("bad", trace_id=TRACE), record("good", trace_id=TRACE)))
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records[0]["traceId"] = "not-hex!"
    records[1]["spanId"] = "cd" * 8
    batch = decode_logs(json.dumps(document).encode(), JSON, "proj", 1)
    assert batch.rejected == 1 and "trace_id 'not-hex!' is not a hex string" in batch.message
    assert [(r["body"], r["span_id"]) for r in batch.table.to_pylist()] == [("good", "cd" * 8)]


def test_json_accepts_snake_case_field_names() -> None:
    document = {"resource_logs": [{"scope_logs": [{"log_records": [
        {"time_unix_nano": str(T0), "trace_id": "ab" * 16, "body": {"string_value": "snake"}}]}]}]}
    [row] = decode_logs(json.dumps(document).encode(), JSON, "proj", 1).table.to_pylist()
    assert row["trace_id"] == "ab" * 16 and row["body"] == "snake"


@pytest.mark.parametrize(("body", "encoding", "words"), [
    (b"\xff\xff\xff", PROTOBUF, "not a protobuf ExportLogsServiceRequest"),
    (b"{", JSON, "not valid JSON"),
    (b"[1]", JSON, "must be an object"),
    (b'{"resourceLogs": 3}', JSON, "not an ExportLogsServiceRequest"),
    (b"[" * 100_000 + b"]" * 100_000, JSON, "nested too deeply"),
])
def test_undecodable_bodies_raise(body: bytes, encoding: str, words: str) -> None:
    with pytest.raises(OtlpDecodeError, match=words):
        decode_logs(body, encoding, "proj", 1)


def test_an_empty_request_has_no_rows() -> None:
    batch = decode_logs(b"", PROTOBUF, "proj", 1)
    assert batch.table.num_rows == 0 and batch.rejected == 0 and batch.message == ""


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_response_encoding_with_and_without_partial_success(encoding: str) -> None:
    empty = encode_logs_response(0, "", encoding)
    full = encode_logs_response(2, "2 log record(s) rejected", encoding)
    if encoding == PROTOBUF:
        assert not ExportLogsServiceResponse.FromString(empty).HasField("partial_success")
        parsed = ExportLogsServiceResponse.FromString(full)
        assert parsed.partial_success.rejected_log_records == 2
        assert parsed.partial_success.error_message == "2 log record(s) rejected"
    else:
        assert json.loads(empty) == {}
        assert json.loads(full) == {"partialSuccess": {"rejectedLogRecords": "2",
                                                       "errorMessage": "2 log record(s) rejected"}}
