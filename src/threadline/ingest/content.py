"""Conversation text of a JSON-encoded input or output value, for clients that JSON-encode what they record
(Langfuse observations, AgentOps decorated functions).

A JSON string shows as its text; a chat message list or message object as the conversation (the last user message
in, the assistant reply out, :mod:`threadline.ingest.messages`); anything else as sent (an object stays JSON, plain
text stays itself). Total: malformed JSON is returned as it is, never an error.
"""

from __future__ import annotations

import json
from typing import Any

from threadline.ingest.messages import assistant_text, last_user_text, messages_from_value

NOT_JSON: Any = object()


def decode(value: str) -> Any:
    """The JSON value of ``value``, or :data:`NOT_JSON` when it is not JSON."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return NOT_JSON


def value_text(decoded: Any, *, output: bool) -> str | None:
    """The text of an already decoded value: a string itself, a message list's or message object's conversation
    text (input side: last user message; output side: assistant reply); None when it is neither."""
    if isinstance(decoded, str):
        return decoded
    if isinstance(decoded, (list, dict)):
        found = messages_from_value(decoded)
        if found:
            text = assistant_text(found) if output else last_user_text(found)
            if text:
                return text
    return None


def content_text(value: str, *, output: bool) -> str:
    """The text shown for an input (``output=False``) or output value. Only values starting with ``[``, ``{`` or
    ``"`` are parsed, so plain text costs nothing."""
    if not value or value[0] not in '["{':
        return value
    decoded = decode(value)
    if decoded is NOT_JSON:
        return value
    text = value_text(decoded, output=output)
    return value if text is None else text
