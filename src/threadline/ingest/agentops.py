"""AgentOps SDK spans (agentops 0.4.x, OpenTelemetry based; its conventions in ``agentops/semconv``): conversation
text of decorated functions, and the session a trace of it belongs to. Keys in :mod:`threadline.ingest.keys`
(``AGENTOPS_*``, ``TRACE_IS_SESSION``).

AgentOps' decorators (``@agent``, ``@task``/``@operation``, ``@tool``, ``@workflow``, ``@trace``...) record a call's
arguments as ``agentops.<kind>.input`` = ``{"args": [...], "kwargs": {...}}`` and its result as
``agentops.<kind>.output`` (a string as it is, anything else JSON). A call with a single argument shows as that
argument (``answer("Where is my order?")`` -> ``Where is my order?``; a message list -> its last user message), a
call without arguments shows no input, other calls keep the JSON. Outputs show as
:func:`threadline.ingest.content.content_text` makes them.

Every function is total and costs a few dict lookups on spans of other clients (ingest hot path).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from threadline.ingest import keys
from threadline.ingest.content import NOT_JSON, content_text, decode, value_text


def _first_value(attributes: Mapping[str, str], candidates: tuple[keys.Key, ...]) -> str:
    for key in candidates:
        value = attributes.get(key.name)
        if value:
            return value
    return ""


def _call_text(value: str) -> str:
    """The text of a recorded call ``{"args": [...], "kwargs": {...}}``: its only argument's text when it has one
    argument, else ``value`` as sent."""
    if not value.startswith("{"):
        return content_text(value, output=False)
    decoded = decode(value)
    if decoded is NOT_JSON:
        return value
    if isinstance(decoded, dict) and set(decoded) == {"args", "kwargs"}:
        args, kwargs = decoded["args"], decoded["kwargs"]
        arguments: list[Any] = (list(args) if isinstance(args, list) else [args]) + (
            list(kwargs.values()) if isinstance(kwargs, dict) else [kwargs])
        if not arguments:  # a call without arguments has no input to show
            return ""
        if len(arguments) != 1:
            return value
        only = arguments[0]
        text = value_text(only, output=False)
        if text is not None:
            return text
        return json.dumps(only, ensure_ascii=False) if not isinstance(only, str) else only
    text = value_text(decoded, output=False)
    return value if text is None else text


def input_text(attributes: Mapping[str, str]) -> str:
    """A decorated span's input (``agentops.<kind>.input``, ``tool.parameters``); '' when it has none."""
    value = _first_value(attributes, keys.AGENTOPS_INPUT)
    return _call_text(value) if value else ""


def output_text(attributes: Mapping[str, str]) -> str:
    """A decorated span's output (``agentops.<kind>.output``, ``tool.result``); '' when it has none."""
    value = _first_value(attributes, keys.AGENTOPS_OUTPUT)
    return content_text(value, output=True) if value else ""


def trace_session(resource_attributes: Mapping[str, str], trace_id: str) -> str:
    """The session id of a span that names none: its trace id when a client that shows each trace as a session
    exported it (``keys.TRACE_IS_SESSION``: AgentOps), else ''."""
    for key in keys.TRACE_IS_SESSION:
        if resource_attributes.get(key.name):
            return trace_id
    return ""
