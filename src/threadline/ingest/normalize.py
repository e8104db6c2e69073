"""Turn a :class:`RawSpan` into a span row: validate ids and times, and extract the session fields (session, user,
model, tokens, input/output, cost, type) by the key lists of :mod:`threadline.ingest.keys`."""

from __future__ import annotations

import json
import re

from threadline.ingest import agentops, conversation, keys, langfuse, vercel_ai
from threadline.ingest.keys import first
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow

MAX_ID_LENGTH = 256  # DESIGN.md: longer session/user ids are rejected per span, never cut
MAX_COUNT = 2**63 - 1  # token counts are clamped here so that any row fits the UInt64 columns
MAX_TIME_NS = 2**63 - 1  # DateTime64(9) and Arrow timestamp[ns] end in 2262; OTLP times are uint64
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_ZERO32 = "0" * 32
_ZERO16 = "0" * 16
END_STATES = frozenset({"success", "failure", "indeterminate"})


class InvalidSpan(ValueError):
    """A span that cannot be stored; the message says which span and why (it goes into ``partial_success``)."""


def span_or_resource(raw: RawSpan, candidates: tuple[keys.Key, ...]) -> str:
    """First match on the span's attributes, then on its resource's (DESIGN.md precedence)."""
    return first(raw.attributes, candidates) or first(raw.resource_attributes, candidates)


def _int(value: str) -> int:
    if not value:
        return 0
    try:
        number = int(value)  # exact for integers beyond 2**53
    except ValueError:
        try:
            number = int(float(value))
        except (ValueError, OverflowError):  # "abc", "nan", "inf", "1e400"
            return 0
    return min(max(number, 0), MAX_COUNT)


def _optional_float(value: str) -> float | None:
    """A non-negative finite number, or None when ``value`` is empty or not one."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 <= number < float("inf") else None


def _float(value: str) -> float:
    return _optional_float(value) or 0.0


def _span_type(raw: RawSpan, model: str, tokens: int) -> str:
    explicit = raw.explicit.get("span_type")
    value = (explicit or first(raw.attributes, keys.SPAN_TYPE)).lower()
    if value in keys.SPAN_TYPE_VALUES:
        return keys.SPAN_TYPE_VALUES[value]
    if model or tokens:
        return "llm"
    return value[:32] if value else "span"


def _json_map(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def _json_list(text: str) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return [text]
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    if value is None:
        return []
    return [value if isinstance(value, str) else json.dumps(value)]


def validate_ids(raw: RawSpan) -> None:
    """Raise InvalidSpan unless trace/span ids are valid non-zero hex and the times are set, ordered and in range."""
    if not _HEX32.match(raw.trace_id) or raw.trace_id == _ZERO32:
        raise InvalidSpan(f"span {raw.name!r}: trace_id {raw.trace_id!r} is not 32 hex digits (16 bytes, non-zero)")
    if not _HEX16.match(raw.span_id) or raw.span_id == _ZERO16:
        raise InvalidSpan(f"span {raw.name!r}: span_id {raw.span_id!r} is not 16 hex digits (8 bytes, non-zero)")
    if raw.parent_span_id and (not _HEX16.match(raw.parent_span_id) or raw.parent_span_id == _ZERO16):
        raise InvalidSpan(f"span {raw.span_id}: parent_span_id {raw.parent_span_id!r} is not 16 hex digits")
    if raw.start_ns <= 0 or raw.end_ns <= 0:
        raise InvalidSpan(f"span {raw.span_id}: start and end times are required (ns since the Unix epoch, after 1970)")
    if raw.end_ns < raw.start_ns:
        raise InvalidSpan(f"span {raw.span_id}: end time is before start time")
    if raw.end_ns > MAX_TIME_NS or any(not 0 <= e.time_ns <= MAX_TIME_NS for e in raw.events):
        raise InvalidSpan(f"span {raw.span_id}: a time is out of range (ns since the Unix epoch, before 2262)")


def normalize(raw: RawSpan, project_id: str, prices: PriceTable, ingested_at_us: int) -> SpanRow:
    """Validate ``raw`` and return its row for the ``spans`` table. Raises InvalidSpan (ids, times, id lengths)."""
    validate_ids(raw)
    ex = raw.explicit
    session_id = str(ex.get("session_id") or span_or_resource(raw, keys.SESSION_ID)
                     or agentops.trace_session(raw.resource_attributes, raw.trace_id))
    user_id = str(ex.get("user_id") or span_or_resource(raw, keys.USER_ID))
    previous_id = span_or_resource(raw, keys.PREVIOUS_SESSION_ID)
    for label, value in (("session id", session_id), ("user id", user_id), ("previous session id", previous_id)):
        if len(value) > MAX_ID_LENGTH:
            raise InvalidSpan(f"span {raw.span_id}: {label} is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    attrs = raw.attributes
    model = str(ex.get("model") or first(attrs, keys.MODEL))
    input_tokens = int(ex["input_tokens"]) if ex.get("input_tokens") is not None else _int(
        first(attrs, keys.INPUT_TOKENS))
    output_tokens = int(ex["output_tokens"]) if ex.get("output_tokens") is not None else _int(
        first(attrs, keys.OUTPUT_TOKENS))
    lf = langfuse.read(attrs)  # None for spans of other clients
    usage = lf.usage if lf else None  # Langfuse generations report their tokens as one JSON attribute
    if usage is not None:
        input_tokens = input_tokens or min(usage.input_tokens, MAX_COUNT)
        output_tokens = output_tokens or min(usage.output_tokens, MAX_COUNT)
    total_tokens = (_int(first(attrs, keys.TOTAL_TOKENS)) or (min(usage.total_tokens, MAX_COUNT) if usage else 0)
                    or input_tokens + output_tokens)
    span_type = _span_type(raw, model, total_tokens)
    if ex.get("cost_usd") is not None:
        cost = float(ex["cost_usd"])
    else:
        reported = _optional_float(first(attrs, keys.COST))  # a reported cost, even 0, beats the price table
        if reported is None and lf:
            reported = lf.cost_usd
        cost = prices.cost_usd(model, input_tokens, output_tokens) if reported is None else reported
    end_state = keys.END_STATE_VALUES.get(span_or_resource(raw, keys.END_STATE).lower(), "")
    metadata = dict(ex.get("metadata") or _json_map(first(attrs, keys.METADATA)) or vercel_ai.metadata(attrs)
                    or (lf.metadata if lf else {}))
    status_code, status_message = raw.status_code, raw.status_message
    level_error = lf.error_message if lf else None  # a Langfuse observation of level ERROR is an error span
    if level_error is not None:
        status_code, status_message = "ERROR", status_message or level_error
    row: SpanRow = {
        "project_id": project_id,
        "trace_id": raw.trace_id,
        "span_id": raw.span_id,
        "parent_span_id": raw.parent_span_id,
        "session_id": session_id,
        "user_id": user_id,
        "session_previous_id": previous_id,
        "name": raw.name,
        "kind": raw.kind,
        "span_type": span_type,
        "start_time": raw.start_ns,
        "end_time": raw.end_ns,
        "duration_ns": raw.end_ns - raw.start_ns,
        "status_code": status_code,
        "status_message": status_message,
        "service_name": raw.resource_attributes.get("service.name", ""),
        "scope_name": raw.scope_name,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total_tokens,
        "cost_usd": cost,
        "reported_cost_usd": float(ex.get("reported_cost_usd") or _float(first(attrs, keys.TRACE_TOTAL_COST))),
        "reported_tokens": int(ex.get("reported_tokens") or _int(first(attrs, keys.TRACE_TOTAL_TOKENS))),
        "end_state": end_state,
        "trace_name": str(ex.get("trace_name") or first(attrs, keys.TRACE_NAME)),
        "metadata": list(metadata.items()),
        "tags": list(ex.get("tags") or _json_list(first(attrs, keys.TAGS))),
        # Precedence (keys.py, "Input and output text"): text keys, message lists and GenAI events, the clients read
        # by their own modules, then JSON blobs decoded.
        "input": str(ex.get("input") or conversation.input_text(raw) or vercel_ai.input_text(attrs)
                     or (lf.input if lf else "")
                     or agentops.input_text(attrs, raw.resource_attributes)
                     or conversation.encoded_input(raw)),
        "output": str(ex.get("output") or conversation.output_text(raw) or vercel_ai.output_text(attrs)
                      or (lf.output if lf else "")
                      or agentops.output_text(attrs, raw.resource_attributes)
                      or conversation.encoded_output(raw)),
        "attributes": list(attrs.items()),
        "resource_attributes": list(raw.resource_attributes.items()),
        "events_time": [e.time_ns for e in raw.events],
        "events_name": [e.name for e in raw.events],
        "events_attributes": [list(e.attributes.items()) for e in raw.events],
        "ingested_at": ingested_at_us,
    }
    # A value promoted to the input or output column is not stored again in ``attributes`` (it was most of their
    # size); the trace view shows it as the span's input/output.
    promoted = (row["input"], row["output"])
    row["attributes"] = [(k, v) for k, v in row["attributes"] if not v or v not in promoted]
    return row
