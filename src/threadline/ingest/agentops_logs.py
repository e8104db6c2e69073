"""AgentOps log uploads (``POST /v4/logs/upload/``) as rows of the ``logs`` table.

When a trace's root span ends, the AgentOps SDK (0.4.x, ``agentops/logging/instrument_logging.py``) uploads what the
process printed meanwhile: lines formatted ``%(asctime)s - %(levelname)s - %(message)s``, with the trace id (as a
decimal integer) in a ``Trace-Id`` header. Each line becomes one OTLP log record of that trace, so it shows in the
trace's session log (``GET /v1/sessions/{id}/logs``); a line without the prefix continues the previous record (a
multi-line print). The records are built as OTLP ``LogRecord`` messages and stored through
:func:`threadline.ingest.otlp_logs.to_log_batch`, like any OTLP log.

Times: ``asctime`` is the client's local time in an unknown zone, so records take the upload's receive time, one
nanosecond apart to keep their order (and their ids distinct), and keep ``asctime`` as ``agentops.log.asctime``.
"""

from __future__ import annotations

import re

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from threadline.ingest.otlp_logs import LogBatch, to_log_batch

SCOPE = "agentops.logs.upload"
_LINE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - ([A-Z]+) - (.*)")
MAX_TRACE_ID = 2**128 - 1


class InvalidUpload(ValueError):
    """An upload that cannot be stored; the message says why."""


def trace_id_hex(header: str) -> str:
    """The 32-hex-digit trace id of a ``Trace-Id`` header: a decimal integer (what the SDK sends) or 32 hex digits.
    Raises InvalidUpload."""
    value = header.strip()
    if re.fullmatch(r"[0-9a-fA-F]{32}", value):
        number = int(value, 16)
    elif re.fullmatch(r"[0-9]{1,39}", value):
        number = int(value)
    else:
        raise InvalidUpload(f"the Trace-Id header {value[:64]!r} is neither a decimal trace id nor 32 hex digits")
    if not 0 < number <= MAX_TRACE_ID:
        raise InvalidUpload("the Trace-Id header is 0 or larger than 128 bits")
    return f"{number:032x}"


def _records(text: str) -> list[tuple[str, str, str]]:
    """(asctime, level, message) per logged line; continuation lines join the record before them."""
    found: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        if match:
            found.append((match.group(1), match.group(2), match.group(3)))
        elif found:
            asctime, level, message = found[-1]
            found[-1] = (asctime, level, f"{message}\n{line}")
        elif line.strip():
            found.append(("", "", line))
    return [(asctime, level, message.rstrip()) for asctime, level, message in found]


def log_upload_batch(text: str, trace_id: str, project_id: str, received_ns: int) -> LogBatch:
    """The ``logs`` rows of an uploaded log text for trace ``trace_id`` (32 hex digits) of ``project_id``."""
    request = ExportLogsServiceRequest()
    resource = request.resource_logs.add()
    resource.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="agentops")))
    scope = resource.scope_logs.add()
    scope.scope.name = SCOPE
    trace_bytes = bytes.fromhex(trace_id)
    for index, (asctime, level, message) in enumerate(_records(text)):
        record = scope.log_records.add()
        record.time_unix_nano = received_ns + index
        record.observed_time_unix_nano = received_ns
        record.trace_id = trace_bytes
        record.severity_text = level
        record.body.string_value = message
        if asctime:
            record.attributes.append(KeyValue(key="agentops.log.asctime", value=AnyValue(string_value=asctime)))
    return to_log_batch(request, {}, project_id, received_ns // 1000)
