"""Conversation text and metadata of Vercel AI SDK spans, from the JSON attributes its telemetry writes (keys in
:mod:`threadline.ingest.keys`: ``AI_PROMPT``, ``AI_PROMPT_MESSAGES``, ``AI_RESPONSE_TOOL_CALLS``,
``AI_METADATA_PREFIX``; https://ai-sdk.dev/docs/ai-sdk-core/telemetry).

The plain-text attributes (``ai.response.text``, ``ai.toolCall.args``/``result``...) are ordinary entries of
``keys.INPUT``/``keys.OUTPUT``; this module reads only what needs decoding, and only when the key is present, since
it runs on the ingest hot path. Every function is total: malformed values give '' or the raw value, never an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from threadline.ingest import keys
from threadline.ingest.messages import (
    ToolCall,
    last_user_text,
    messages_from_value,
    parse_json_messages,
    tool_calls_summary,
)

# The metadata entries already read as the session and user ids.
_ID_METADATA = frozenset(k.name for k in keys.SESSION_ID + keys.USER_ID if k.name.startswith(
    keys.AI_METADATA_PREFIX.name))


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _prompt_text(value: str) -> str:
    """The user's text of an ``ai.prompt`` value: ``prompt`` when it is a string, else the last user message of
    ``prompt`` or ``messages`` (ai accepts messages under either); the raw value when it is neither."""
    decoded = _decode(value)
    if not isinstance(decoded, Mapping):
        return value
    for name in ("prompt", "messages"):
        item = decoded.get(name)
        if isinstance(item, str) and item:
            return item
        if isinstance(item, list):
            text = last_user_text(messages_from_value(item) or [])
            if text:
                return text
    return value


def _tool_calls_text(value: str) -> str:
    """``tool call: name(arguments)`` lines of an ``ai.response.toolCalls`` value, or the raw value."""
    decoded = _decode(value)
    if not isinstance(decoded, list):
        return value
    calls = []
    for item in decoded:
        if isinstance(item, Mapping) and isinstance(item.get("toolName"), str):
            arguments = item.get("input", item.get("args", ""))
            calls.append(ToolCall(item["toolName"], arguments if isinstance(arguments, str) else json.dumps(
                arguments, ensure_ascii=False)))
    return tool_calls_summary(calls) or value


def input_text(attributes: Mapping[str, str]) -> str:
    """A span's input from ``ai.prompt.messages`` (provider call spans: the last user message) or ``ai.prompt``
    (outer call spans); '' when neither is present. A value that is not the expected JSON is returned as it is."""
    messages = attributes.get(keys.AI_PROMPT_MESSAGES.name)
    if messages:
        parsed = parse_json_messages(messages)
        return (last_user_text(parsed) if parsed else "") or messages
    prompt = attributes.get(keys.AI_PROMPT.name)
    return _prompt_text(prompt) if prompt else ""


def output_text(attributes: Mapping[str, str]) -> str:
    """A span's output when it has no text (``ai.response.text`` is read by ``keys.OUTPUT``): a summary of the tool
    calls of ``ai.response.toolCalls``; '' when absent."""
    calls = attributes.get(keys.AI_RESPONSE_TOOL_CALLS.name)
    return _tool_calls_text(calls) if calls else ""


def metadata(attributes: Mapping[str, str]) -> dict[str, str]:
    """``experimental_telemetry.metadata`` of a Vercel AI SDK span (``ai.telemetry.metadata.K`` -> ``K``), without
    the session and user ids; {} for any other span (tested by its ``ai.operationId``, so other spans cost one
    lookup)."""
    if keys.AI_OPERATION_ID.name not in attributes:
        return {}
    prefix = keys.AI_METADATA_PREFIX.name
    return {k[len(prefix):]: v for k, v in attributes.items()
            if k.startswith(prefix) and k not in _ID_METADATA and len(k) > len(prefix)}

