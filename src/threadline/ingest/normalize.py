"""Turn a :class:`RawSpan` into a span row: validate ids and times, and extract the session fields (session, user,
model, tokens, input/output, cost, type) by the key lists of :mod:`threadline.ingest.keys`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import pyarrow as pa

from threadline.ingest import agentops, conversation, keys, langfuse, vercel_ai
from threadline.ingest.keys import first
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import MAP_COLUMNS, SPAN_COLUMNS, RawSpan, SpanRow, SpanValues, values_to_arrow

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


def _span_type(declared: str, model: str, tokens: int) -> str:
    """The normalised type of a span declaring ``declared`` (its explicit type, else its first ``keys.SPAN_TYPE``)."""
    value = declared.lower()
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


# The key lists read from every span, looked up in one pass (keys.Picker): their indexes in a pick.
_SPAN_KEYS = keys.Picker((keys.SESSION_ID, keys.USER_ID, keys.PREVIOUS_SESSION_ID, keys.END_STATE, keys.MODEL,
                          keys.INPUT_TOKENS, keys.OUTPUT_TOKENS, keys.TOTAL_TOKENS, keys.COST, keys.METADATA,
                          keys.TRACE_TOTAL_COST, keys.TRACE_TOTAL_TOKENS, keys.TRACE_NAME, keys.TAGS, keys.SPAN_TYPE))
(_SESSION, _USER, _PREVIOUS, _END_STATE, _MODEL, _INPUT_TOKENS, _OUTPUT_TOKENS, _TOTAL_TOKENS, _COST, _METADATA,
 _TRACE_TOTAL_COST, _TRACE_TOTAL_TOKENS, _TRACE_NAME, _TAGS, _SPAN_TYPE) = range(15)
# Those also read from the resource (DESIGN.md precedence: the span's attributes first), same indexes.
_RESOURCE_KEYS = keys.Picker((keys.SESSION_ID, keys.USER_ID, keys.PREVIOUS_SESSION_ID, keys.END_STATE))


def _values(raw: RawSpan, project_id: str, prices: PriceTable, ingested_at_us: int) -> SpanValues:
    """The row of ``raw`` as a tuple in :data:`SPAN_SCHEMA` order (map columns as dicts, see
    :func:`threadline.ingest.spans.values_to_arrow`). Raises InvalidSpan."""
    validate_ids(raw)
    ex = raw.explicit
    attrs, resource = raw.attributes, raw.resource_attributes
    picked = _SPAN_KEYS.pick(attrs)
    if not (picked[_SESSION] and picked[_USER] and picked[_PREVIOUS] and picked[_END_STATE]):
        for index, value in enumerate(_RESOURCE_KEYS.pick(resource)):
            picked[index] = picked[index] or value
    session_id = str(ex.get("session_id") or picked[_SESSION] or agentops.trace_session(resource, raw.trace_id))
    user_id = str(ex.get("user_id") or picked[_USER])
    previous_id = picked[_PREVIOUS]
    for label, value in (("session id", session_id), ("user id", user_id), ("previous session id", previous_id)):
        if len(value) > MAX_ID_LENGTH:
            raise InvalidSpan(f"span {raw.span_id}: {label} is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    model = str(ex.get("model") or picked[_MODEL])
    input_tokens = int(ex["input_tokens"]) if ex.get("input_tokens") is not None else _int(picked[_INPUT_TOKENS])
    output_tokens = int(ex["output_tokens"]) if ex.get("output_tokens") is not None else _int(
        picked[_OUTPUT_TOKENS])
    lf = langfuse.read(attrs)  # None for spans of other clients
    usage = lf.usage if lf else None  # Langfuse generations report their tokens as one JSON attribute
    if usage is not None:
        input_tokens = input_tokens or min(usage.input_tokens, MAX_COUNT)
        output_tokens = output_tokens or min(usage.output_tokens, MAX_COUNT)
    total_tokens = (_int(picked[_TOTAL_TOKENS]) or (min(usage.total_tokens, MAX_COUNT) if usage else 0)
                    or input_tokens + output_tokens)
    span_type = _span_type(raw.explicit.get("span_type") or picked[_SPAN_TYPE], model, total_tokens)
    if ex.get("cost_usd") is not None:
        cost = float(ex["cost_usd"])
    else:
        reported = _optional_float(picked[_COST])  # a reported cost, even 0, beats the price table
        if reported is None and lf:
            reported = lf.cost_usd
        cost = prices.cost_usd(model, input_tokens, output_tokens) if reported is None else reported
    end_state = keys.END_STATE_VALUES.get(picked[_END_STATE].lower(), "")
    metadata = dict(ex.get("metadata") or _json_map(picked[_METADATA]) or vercel_ai.metadata(attrs)
                    or (lf.metadata if lf else {}))
    status_code, status_message = raw.status_code, raw.status_message
    level_error = lf.error_message if lf else None  # a Langfuse observation of level ERROR is an error span
    if level_error is not None:
        status_code, status_message = "ERROR", status_message or level_error
    # Precedence (keys.py, "Input and output text"): text keys, message lists and GenAI events, the clients read by
    # their own modules, then JSON blobs decoded.
    input_value = str(ex.get("input") or conversation.input_text(raw) or vercel_ai.input_text(attrs)
                      or (lf.input if lf else "")
                      or agentops.input_text(attrs, resource)
                      or conversation.encoded_input(raw))
    output_value = str(ex.get("output") or conversation.output_text(raw) or vercel_ai.output_text(attrs)
                       or (lf.output if lf else "")
                       or agentops.output_text(attrs, resource)
                       or conversation.encoded_output(raw))
    # A value promoted to the input or output column is not stored again in ``attributes`` (it was most of their
    # size); the trace view shows it as the span's input/output. ``in`` on the values is one C-level scan, so a span
    # without such a value keeps its dict as it is.
    values = attrs.values()
    attributes = attrs
    if (input_value and input_value in values) or (output_value and output_value in values):
        attributes = {k: v for k, v in attrs.items() if not v or (v != input_value and v != output_value)}
    events = raw.events
    return (
        project_id, raw.trace_id, raw.span_id, raw.parent_span_id, session_id, user_id, previous_id, raw.name,
        raw.kind, span_type, raw.start_ns, raw.end_ns, raw.end_ns - raw.start_ns, status_code, status_message,
        resource.get("service.name", ""), raw.scope_name, model, input_tokens, output_tokens, total_tokens, cost,
        float(ex.get("reported_cost_usd") or _float(picked[_TRACE_TOTAL_COST])),
        int(ex.get("reported_tokens") or _int(picked[_TRACE_TOTAL_TOKENS])),
        end_state, str(ex.get("trace_name") or picked[_TRACE_NAME]),
        metadata, list(ex.get("tags") or _json_list(picked[_TAGS])), input_value, output_value,
        attributes, resource,
        [e.time_ns for e in events] if events else [], [e.name for e in events] if events else [],
        [list(e.attributes.items()) for e in events] if events else [],
        ingested_at_us,
    )


def normalize(raw: RawSpan, project_id: str, prices: PriceTable, ingested_at_us: int) -> SpanRow:
    """Validate ``raw`` and return its row for the ``spans`` table (map columns as lists of (key, value) pairs).
    Raises InvalidSpan (ids, times, id lengths)."""
    row = dict(zip(SPAN_COLUMNS, _values(raw, project_id, prices, ingested_at_us), strict=True))
    for name in MAP_COLUMNS:
        row[name] = list(row[name].items())
    return row


def normalize_spans(raw_spans: Iterable[RawSpan], project_id: str, prices: PriceTable, ingested_at_us: int
                    ) -> tuple[pa.Table, list[str]]:
    """Normalise a batch: (the Arrow table of the valid spans' rows, in order, as :func:`rows_to_arrow` builds it
    from :func:`normalize`'s rows; the messages of the spans rejected as InvalidSpan). Built column by column, which
    costs far less per span than row dicts."""
    rows: list[SpanValues] = []
    problems: list[str] = []
    for raw in raw_spans:
        try:
            rows.append(_values(raw, project_id, prices, ingested_at_us))
        except InvalidSpan as exc:
            problems.append(str(exc))
    return values_to_arrow(rows), problems
