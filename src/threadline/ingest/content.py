"""Conversation text of a JSON-encoded input or output value, for clients that JSON-encode what they record
(Langfuse observations, AgentOps decorated functions).

A JSON string shows as its text; a chat message list or message object as the conversation (the last user message
in, the assistant reply out, :mod:`threadline.ingest.messages`); anything else as sent (an object stays JSON, plain
text stays itself). Decorators of both clients (Langfuse ``@observe``, AgentOps ``@agent``/``@tool``...) record a
call's arguments as ``{"args": [...], "kwargs": {...}}``: a call with one argument shows as that argument's text
(``answer("Where is my order?")`` -> ``Where is my order?``; a message list -> its last user message), a call
without arguments shows nothing, other calls keep the JSON. Total: malformed JSON is returned as it is, never an
error.
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


_CALL_KEYS = frozenset({"args", "kwargs"})


def _call_argument(decoded: Any) -> Any:
    """The only argument of a recorded call ``{"args": [...], "kwargs": {...}}``; '' for a call without arguments;
    :data:`NOT_JSON` when ``decoded`` is not a recorded call or has several arguments."""
    if not isinstance(decoded, dict) or decoded.keys() != _CALL_KEYS:
        return NOT_JSON
    args, kwargs = decoded["args"], decoded["kwargs"]
    arguments = (list(args) if isinstance(args, list) else [args]) + (
        list(kwargs.values()) if isinstance(kwargs, dict) else [kwargs])
    if not arguments:
        return ""
    return arguments[0] if len(arguments) == 1 else NOT_JSON


def content_text(value: str, *, output: bool) -> str:
    """The text shown for an input (``output=False``) or output value. Only values starting with ``[``, ``{`` or
    ``"`` are parsed, so plain text costs nothing."""
    if not value or value[0] not in '["{':
        return value
    decoded = decode(value)
    if decoded is NOT_JSON:
        return value
    if not output:
        argument = _call_argument(decoded)
        if argument is not NOT_JSON:
            text = value_text(argument, output=False)
            return text if text is not None else json.dumps(argument, ensure_ascii=False)
    text = value_text(decoded, output=output)
    return value if text is None else text
