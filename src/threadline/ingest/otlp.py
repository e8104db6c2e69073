"""OTLP/HTTP trace decoding (opentelemetry-proto) into :class:`RawSpan` and the encoding of responses.

Follows the OTLP specification, "OTLP/HTTP": binary protobuf (``application/x-protobuf``) or the JSON mapping of
protobuf (``application/json``) where trace and span ids are hex strings, not base64.
"""

from __future__ import annotations

import base64
import json
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from threadline.ingest.spans import RawSpan, SpanEvent

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_STATUS = ("UNSET", "OK", "ERROR")
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class OtlpDecodeError(ValueError):
    """The body is not a valid ExportTraceServiceRequest in the declared encoding."""


def _hex_ids_to_base64(node: Any) -> Any:
    # OTLP JSON carries ids as hex; protobuf's JSON parser expects base64 for bytes fields.
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    out[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpDecodeError(f"{key} {value!r} is not a hex string") from None
            else:
                out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def parse_protobuf(body: bytes, message: Message) -> None:
    """Fill ``message`` from a binary protobuf body. Raises OtlpDecodeError naming the message type."""
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OtlpDecodeError(f"the body is not a protobuf {message.DESCRIPTOR.name} ({exc})") from None


def load_json_object(body: bytes, list_name: str) -> dict[str, Any]:
    """The JSON object of an OTLP/JSON body (``list_name``: its top-level list, for the error message). Raises
    OtlpDecodeError."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OtlpDecodeError(f"the body is not valid JSON ({exc})") from None
    except RecursionError:
        raise OtlpDecodeError("the JSON body is nested too deeply") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError(f"the JSON body must be an object with a '{list_name}' list")
    return document


def parse_json(document: dict[str, Any], message: Message) -> None:
    """Fill ``message`` from an OTLP/JSON document whose ids are already base64. Raises OtlpDecodeError."""
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpDecodeError(f"the JSON body is not an {message.DESCRIPTOR.name}: {exc}") from None
    except RecursionError:
        raise OtlpDecodeError("the JSON body is nested too deeply") from None


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse an OTLP trace export body. ``content_type`` is PROTOBUF or JSON. Raises OtlpDecodeError."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        parse_protobuf(body, request)
    else:
        parse_json(_hex_ids_to_base64(load_json_object(body, "resourceSpans")), request)
    return request


def any_value_text(value: AnyValue) -> str:
    """An attribute value as text: strings as they are, scalars in their usual form, arrays and maps as JSON."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which is None:
        return ""
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "array_value":
        items = value.array_value.values
        if all(item.WhichOneof("value") == "string_value" for item in items):
            # What json.dumps writes for a list of strings (e.g. finish reasons), without its encoder's setup.
            return "[" + ", ".join([_json_string(item.string_value) for item in items]) + "]"
    return json.dumps(_any_value_py(value)) if which in ("array_value", "kvlist_value") else str(
        _any_value_py(value))


def _any_value_py(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return bool(value.bool_value)  # JSON true/false inside arrays and maps
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if which == "array_value":
        return [_any_value_py(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _any_value_py(kv.value) for kv in value.kvlist_value.values}
    return None


def attributes_dict(attributes: Any) -> dict[str, str]:
    """OTLP ``repeated KeyValue`` → ``{key: text}``."""
    # Most values are strings: read the string first (an unset or non-string value reads as ''), the oneof only when
    # it is empty.
    return {kv.key: value.string_value or any_value_text(value) for kv in attributes for value in [kv.value]}


def to_raw_spans(request: ExportTraceServiceRequest) -> list[RawSpan]:
    """Flatten resource → scope → span into RawSpans (ids as lowercase hex, resource attributes on each span)."""
    spans: list[RawSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            for span in scope_spans.spans:
                kind, status = span.kind, span.status
                spans.append(RawSpan(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    kind=_KINDS[kind] if 0 <= kind < len(_KINDS) else "UNSPECIFIED",
                    status_code=_STATUS[status.code] if 0 <= status.code < len(_STATUS) else "UNSET",
                    status_message=status.message,
                    attributes=attributes_dict(span.attributes),
                    resource_attributes=resource,
                    scope_name=scope_name,
                    events=[SpanEvent(e.time_unix_nano, e.name, attributes_dict(e.attributes)) for e in events]
                    if (events := span.events) else [],
                ))
    return spans


def encode_response(rejected: int, message: str, content_type: str) -> bytes:
    """ExportTraceServiceResponse in the request's encoding; ``partial_success`` set only when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type == PROTOBUF:
        return bytes(response.SerializeToString())
    text: str = json_format.MessageToJson(response, indent=None)
    return text.encode()
