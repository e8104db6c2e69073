"""Langfuse SDK spans (v3+, OpenTelemetry based): conversation text, usage, cost, metadata and level from the
``langfuse.*`` attributes (keys in :mod:`threadline.ingest.keys`, ``LANGFUSE_*``), decoded the way Langfuse's own
server reads them (langfuse/langfuse, ``packages/shared/src/server/otel/OtelIngestionProcessor.ts``).

The SDK writes strings as they are and JSON-encodes every other value (``json.dumps``), metadata strings included
since v5 (``"pro"`` arrives as ``"\\"pro\\""``). Input and output show as :func:`threadline.ingest.content.content_text`
makes them: a JSON string's text, a message list's conversation, else the value as sent.

Every function is total (malformed values give the raw value, ``{}`` or None, never an error) and cheap on spans of
other clients (a few dict lookups, one pass over the keys for metadata), since it runs on the ingest hot path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from threadline.ingest import keys
from threadline.ingest.content import content_text, decode


def input_text(attributes: Mapping[str, str]) -> str:
    """A span's input from ``langfuse.trace.input`` or ``langfuse.observation.input``; '' when neither is set."""
    value = keys.first(attributes, keys.LANGFUSE_INPUT)
    return content_text(value, output=False) if value else ""


def output_text(attributes: Mapping[str, str]) -> str:
    """A span's output from ``langfuse.trace.output`` or ``langfuse.observation.output``; '' when neither is set."""
    value = keys.first(attributes, keys.LANGFUSE_OUTPUT)
    return content_text(value, output=True) if value else ""


def _metadata_value(value: str) -> str:
    """A metadata value as text: a JSON string's text (the v5 SDK encodes every value), anything else as sent."""
    if value.startswith('"'):
        decoded = decode(value)
        if isinstance(decoded, str):
            return decoded
    return value


def _json_object(value: str) -> dict[str, str]:
    decoded = decode(value)
    if not isinstance(decoded, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in decoded.items()}


# Every Langfuse key starts with "langfuse." (session.id and user.id aside, read by keys.SESSION_ID / USER_ID).
_METADATA_HEAD = keys.LANGFUSE_METADATA[0].name.split(".", 1)[0] + "."
_METADATA_PREFIXES = tuple(k.name + "." for k in keys.LANGFUSE_METADATA)


def metadata(attributes: Mapping[str, str]) -> dict[str, str]:
    """Metadata of a Langfuse span: ``langfuse.trace.metadata.K`` and ``langfuse.observation.metadata.K`` (the
    trace's win for the same key; a whole JSON object at the prefix itself also counts), plus ``environment``,
    ``release`` and ``version``. {} for spans of other clients."""
    ranked: list[dict[str, str]] = [{} for _ in keys.LANGFUSE_METADATA]
    for key, value in attributes.items():
        if not key.startswith(_METADATA_HEAD):
            continue
        for rank, prefix in enumerate(_METADATA_PREFIXES):
            if key.startswith(prefix) and len(key) > len(prefix):
                ranked[rank][key[len(prefix):]] = _metadata_value(value)
            elif key == prefix[:-1] and value:
                ranked[rank] = {**_json_object(value), **ranked[rank]}
    found: dict[str, str] = {}
    for entries in reversed(ranked):  # the lowest rank (trace) last, so its entries win
        found.update(entries)
    for name, field in keys.LANGFUSE_METADATA_FIELDS.items():
        text = attributes.get(field.name)
        if text:
            found.setdefault(name, text)
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _details(attributes: Mapping[str, str], key: keys.Key) -> dict[str, float]:
    """The non-negative numeric entries of a JSON object attribute ({} when absent or not an object)."""
    value = attributes.get(key.name)
    if not value:
        return {}
    decoded = decode(value)
    if not isinstance(decoded, dict):
        return {}
    return {str(k): n for k, v in decoded.items() if (n := _number(v)) is not None}


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of a generation: input, output, total (the sum of every entry when the SDK sends no total, as
    Langfuse counts cached and reasoning tokens into it)."""

    input_tokens: int
    output_tokens: int
    total_tokens: int


def _pick(details: Mapping[str, float], names: tuple[str, ...]) -> float | None:
    return next((details[n] for n in names if n in details), None)


def usage(attributes: Mapping[str, str]) -> Usage | None:
    """Token counts of ``langfuse.observation.usage_details``, or None when the span has none."""
    details = _details(attributes, keys.LANGFUSE_USAGE_DETAILS)
    if not details:
        return None
    input_tokens = int(_pick(details, keys.LANGFUSE_USAGE_INPUT) or 0)
    output_tokens = int(_pick(details, keys.LANGFUSE_USAGE_OUTPUT) or 0)
    total = _pick(details, keys.LANGFUSE_USAGE_TOTAL)
    return Usage(input_tokens, output_tokens, int(total if total is not None else sum(details.values())))


def cost_usd(attributes: Mapping[str, str]) -> float | None:
    """Cost in USD of ``langfuse.observation.cost_details``: its ``total``, else the sum of its entries; None when
    the span reports none."""
    details = _details(attributes, keys.LANGFUSE_COST_DETAILS)
    if not details:
        return None
    total = details.get(keys.LANGFUSE_COST_TOTAL)
    return total if total is not None else sum(details.values())


def error_message(attributes: Mapping[str, str]) -> str | None:
    """None unless the observation's level is ERROR; then its status message ('' when it has none)."""
    level = attributes.get(keys.LANGFUSE_LEVEL.name)
    if not level or level.upper() not in keys.ERROR_LEVELS:
        return None
    return attributes.get(keys.LANGFUSE_STATUS_MESSAGE.name, "")


@dataclass(frozen=True, slots=True)
class LangfuseSpan:
    """What a Langfuse span adds to its row: usage, cost (USD), metadata, error message (None: not an error),
    input and output text ('' when absent)."""

    usage: Usage | None
    cost_usd: float | None
    metadata: dict[str, str]
    error_message: str | None
    input: str
    output: str


def read(attributes: Mapping[str, str]) -> LangfuseSpan | None:
    """Everything :mod:`threadline.ingest.normalize` takes from a Langfuse span; None for a span without any
    ``langfuse.*`` attribute, found in one pass of C-level ``startswith`` calls (the common case on the hot path)."""
    if not any(map(str.startswith, attributes, repeat(_METADATA_HEAD, len(attributes)))):
        return None
    return LangfuseSpan(usage(attributes), cost_usd(attributes), metadata(attributes), error_message(attributes),
                        input_text(attributes), output_text(attributes))
