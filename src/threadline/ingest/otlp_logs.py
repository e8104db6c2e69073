"""OTLP/HTTP log ingest: decode an ``ExportLogsServiceRequest`` (protobuf or JSON), turn its records into rows of the
``logs`` table, and encode the ``ExportLogsServiceResponse``.

Follows the OTLP specification, "OTLP/HTTP": binary protobuf (``application/x-protobuf``) or the JSON mapping of
protobuf (``application/json``) where trace and span ids are hex strings. A record that cannot be stored is rejected
on its own (``partial_success``), never the whole request: a trace id that is not 16 bytes (32 hex digits), a span id
that is not 8 bytes, a session id longer than 256 characters, or no time at all. All-zero ids mean "no id" (OTLP:
an all-zero id is invalid, i.e. absent).

Row fields:

* ``session_id``: the record's attributes, then its resource's, with the key list of spans
  (:data:`threadline.ingest.keys.SESSION_ID`); '' when neither names one. A record without a session id but with a
  trace id belongs to its trace's session, resolved **at read time** (``GET /v1/sessions/{id}/logs``), so a log that
  arrives before its trace's spans, or whose trace later moves to another session, is still shown where its trace is.
* ``timestamp``: ``time_unix_nano``, else ``observed_time_unix_nano`` (ns since the Unix epoch).
* ``severity_number``: OTLP's 1-24; when 0 (unspecified) it is derived from ``severity_text`` (``WARN``,
  ``error``...), else stays 0.
* ``body``: a string body as it is; other values as text (scalars) or JSON (arrays, maps).
* ``log_id``: BLAKE2b of the serialized resource, scope and record, so a replayed record (protobuf or JSON alike)
  has the same key and collapses in the ``ReplacingMergeTree``.
* ``attributes``: the record's attributes; its ``event_name`` (OTLP 1.5+), when set, as ``event.name``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from threadline.ingest import keys
from threadline.ingest.keys import first
from threadline.ingest.normalize import MAX_ID_LENGTH, MAX_TIME_NS
from threadline.ingest.otlp import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    any_value_text,
    attributes_dict,
    load_json_object,
    parse_json,
    parse_protobuf,
)

_STR_MAP = pa.map_(pa.string(), pa.string())
_TS = pa.timestamp("ns", tz="UTC")

LOG_SCHEMA = pa.schema([
    ("project_id", pa.string()),
    ("session_id", pa.string()),
    ("timestamp", _TS),
    ("log_id", pa.string()),
    ("observed_timestamp", _TS),
    ("trace_id", pa.string()),
    ("span_id", pa.string()),
    ("severity_number", pa.uint8()),
    ("severity_text", pa.string()),
    ("body", pa.string()),
    ("service_name", pa.string()),
    ("scope_name", pa.string()),
    ("attributes", _STR_MAP),
    ("resource_attributes", _STR_MAP),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
])

# OTLP SeverityNumber ranges (logs data model): the first number of each level; a level spans 4 numbers.
SEVERITY_LEVELS: dict[str, int] = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
_TEXT_LEVELS = (("trace", 1), ("debug", 5), ("info", 9), ("notice", 9), ("warn", 13), ("err", 17), ("fatal", 21),
                ("crit", 21), ("emerg", 21), ("alert", 21), ("panic", 21))
MAX_MESSAGES = 5
_RECORD_ID_KEYS = {"traceId": "trace_id", "trace_id": "trace_id", "spanId": "span_id", "span_id": "span_id"}
Position = tuple[int, int, int]  # (resource, scope, record) index


@dataclass(frozen=True)
class LogBatch:
    """The rows of one request's valid records (an Arrow table of :data:`LOG_SCHEMA`), the number of rejected
    records, and a message naming the first few rejections ('' when none)."""

    table: pa.Table
    rejected: int
    message: str


def severity_level(number: int) -> str:
    """The level name of an OTLP severity number: trace (1-4), debug, info, warn, error, fatal (21-24), or
    ``unspecified`` (0 or out of range)."""
    if not 1 <= number <= 24:
        return "unspecified"
    return next(name for name, start in reversed(SEVERITY_LEVELS.items()) if number >= start)


def _severity_from_text(text: str) -> int:
    lowered = text.strip().lower()
    return next((number for prefix, number in _TEXT_LEVELS if lowered.startswith(prefix)), 0)


def _hex_ids_to_base64(document: dict[str, Any]) -> dict[Position, str]:
    """Rewrite the record ids of an OTLP JSON document from hex to base64 in place (protobuf's JSON parser wants
    base64); an id that is not hex is removed and its record reported, by position, with the reason."""
    invalid: dict[Position, str] = {}
    resources = document.get("resourceLogs", document.get("resource_logs"))
    for r, resource in enumerate(resources if isinstance(resources, list) else []):
        scopes = resource.get("scopeLogs", resource.get("scope_logs")) if isinstance(resource, dict) else None
        for s, scope in enumerate(scopes if isinstance(scopes, list) else []):
            records = scope.get("logRecords", scope.get("log_records")) if isinstance(scope, dict) else None
            for i, record in enumerate(records if isinstance(records, list) else []):
                if not isinstance(record, dict):
                    continue
                for key, label in _RECORD_ID_KEYS.items():
                    value = record.get(key)
                    if not isinstance(value, str):
                        continue
                    try:
                        record[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        del record[key]
                        invalid.setdefault((r, s, i), f"{label} {value[:64]!r} is not a hex string")
    return invalid


def decode_logs_request(body: bytes, content_type: str) -> tuple[ExportLogsServiceRequest, dict[Position, str]]:
    """Parse an OTLP logs export body (``content_type`` PROTOBUF or JSON): the request, and the records whose JSON
    ids were not hex (by position, with the reason). Raises OtlpDecodeError when the body is not a request."""
    request = ExportLogsServiceRequest()
    if content_type == PROTOBUF:
        parse_protobuf(body, request)
        return request, {}
    document = load_json_object(body, "resourceLogs")
    invalid = _hex_ids_to_base64(document)
    parse_json(document, request)
    return request, invalid


def _id_hex(value: bytes, size: int, label: str) -> str:
    if not value or value == bytes(size):
        return ""
    if len(value) != size:
        raise ValueError(f"{label} is {len(value)} bytes; it must be {size} ({size * 2} hex digits)")
    return value.hex()


def _log_id(resource: bytes, scope: bytes, record: LogRecord) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (resource, scope, record.SerializeToString(deterministic=True)):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _row(record: LogRecord, resource: dict[str, str], resource_bytes: bytes, scope_name: str, scope_bytes: bytes,
         project_id: str, ingested_at_us: int) -> dict[str, Any]:
    """The ``logs`` row of one record. Raises ValueError saying why the record cannot be stored."""
    trace_id = _id_hex(record.trace_id, 16, "trace_id")
    span_id = _id_hex(record.span_id, 8, "span_id")
    attributes = attributes_dict(record.attributes)
    session_id = first(attributes, keys.SESSION_ID) or first(resource, keys.SESSION_ID)
    if len(session_id) > MAX_ID_LENGTH:
        raise ValueError(f"session id is {len(session_id)} characters; the limit is {MAX_ID_LENGTH}")
    timestamp = record.time_unix_nano or record.observed_time_unix_nano
    if timestamp == 0:
        raise ValueError("neither time_unix_nano nor observed_time_unix_nano is set")
    if timestamp > MAX_TIME_NS or record.observed_time_unix_nano > MAX_TIME_NS:
        raise ValueError("a time is out of range (ns since the Unix epoch, before 2262)")
    severity = record.severity_number if 1 <= record.severity_number <= 24 else 0
    if event_name := getattr(record, "event_name", ""):
        attributes.setdefault("event.name", event_name)
    return {
        "project_id": project_id,
        "session_id": session_id,
        "timestamp": timestamp,
        "log_id": _log_id(resource_bytes, scope_bytes, record),
        "observed_timestamp": record.observed_time_unix_nano or timestamp,
        "trace_id": trace_id,
        "span_id": span_id,
        "severity_number": severity or _severity_from_text(record.severity_text),
        "severity_text": record.severity_text,
        "body": any_value_text(record.body),
        "service_name": resource.get("service.name", ""),
        "scope_name": scope_name,
        "attributes": list(attributes.items()),
        "resource_attributes": list(resource.items()),
        "ingested_at": ingested_at_us,
    }


def to_log_batch(request: ExportLogsServiceRequest, invalid: dict[Position, str], project_id: str,
                 ingested_at_us: int) -> LogBatch:
    """Flatten resource → scope → record into ``logs`` rows of ``project_id``; records listed in ``invalid`` (from
    :func:`decode_logs_request`) or failing validation are counted as rejected."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for r, resource_logs in enumerate(request.resource_logs):
        resource = attributes_dict(resource_logs.resource.attributes)
        resource_bytes = resource_logs.resource.SerializeToString(deterministic=True)
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope_bytes = scope_logs.scope.SerializeToString(deterministic=True)
            for i, record in enumerate(scope_logs.log_records):
                reason = invalid.get((r, s, i))
                if reason is None:
                    try:
                        rows.append(_row(record, resource, resource_bytes, scope_logs.scope.name, scope_bytes,
                                         project_id, ingested_at_us))
                        continue
                    except ValueError as exc:
                        reason = str(exc)
                problems.append(f"log record {i} of scope {s} of resource {r}: {reason}")
    message = ""
    if problems:
        message = f"{len(problems)} log record(s) rejected: " + "; ".join(problems[:MAX_MESSAGES])
        if len(problems) > MAX_MESSAGES:
            message += f"; and {len(problems) - MAX_MESSAGES} more"
    return LogBatch(pa.Table.from_pylist(rows, schema=LOG_SCHEMA), len(problems), message)


def decode_logs(body: bytes, content_type: str, project_id: str, ingested_at_us: int) -> LogBatch:
    """Decode an OTLP logs body into the rows to insert. Raises OtlpDecodeError. CPU-bound: run it off the event
    loop."""
    request, invalid = decode_logs_request(body, content_type)
    return to_log_batch(request, invalid, project_id, ingested_at_us)


def encode_logs_response(rejected: int, message: str, content_type: str) -> bytes:
    """ExportLogsServiceResponse in the request's encoding; ``partial_success`` set only when records were
    rejected."""
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    if content_type == PROTOBUF:
        return bytes(response.SerializeToString())
    text: str = json_format.MessageToJson(response, indent=None)
    return text.encode()


__all__ = ["JSON", "LOG_SCHEMA", "PROTOBUF", "SEVERITY_LEVELS", "LogBatch", "OtlpDecodeError", "decode_logs",
           "decode_logs_request", "encode_logs_response", "severity_level", "to_log_batch"]
