"""AgentOps SDK spans (agentops 0.4.x, OpenTelemetry based; its conventions in ``agentops/semconv``): conversation
text of decorated functions, and the session a trace of it belongs to. Keys in :mod:`threadline.ingest.keys`
(``AGENTOPS_*``, ``TRACE_IS_SESSION``).

AgentOps' decorators (``@agent``, ``@task``/``@operation``, ``@tool``, ``@workflow``, ``@trace``...) record a call's
arguments as ``agentops.<kind>.input`` = ``{"args": [...], "kwargs": {...}}`` and its result as
``agentops.<kind>.output`` (a string as it is, anything else JSON); both show as
:func:`threadline.ingest.content.content_text` makes them (a one-argument call as its argument's text).

Every function is total and costs a few dict lookups on spans of other clients (ingest hot path).
"""

from __future__ import annotations

from collections.abc import Mapping

from threadline.ingest import keys
from threadline.ingest.content import content_text


def exported_by_agentops(resource_attributes: Mapping[str, str]) -> bool:
    """Whether the AgentOps SDK exported a span (its resource carries ``keys.AGENTOPS_RESOURCE``): one lookup, so
    spans of other clients skip the AgentOps keys."""
    return bool(resource_attributes.get(keys.AGENTOPS_RESOURCE.name))


def input_text(attributes: Mapping[str, str], resource_attributes: Mapping[str, str]) -> str:
    """An AgentOps span's input (``agentops.<kind>.input``, ``tool.parameters``); '' when it has none or another
    client exported it."""
    if not exported_by_agentops(resource_attributes):
        return ""
    value = keys.first(attributes, keys.AGENTOPS_INPUT)
    return content_text(value, output=False) if value else ""


def output_text(attributes: Mapping[str, str], resource_attributes: Mapping[str, str]) -> str:
    """An AgentOps span's output (``agentops.<kind>.output``, ``tool.result``); '' when it has none or another
    client exported it."""
    if not exported_by_agentops(resource_attributes):
        return ""
    value = keys.first(attributes, keys.AGENTOPS_OUTPUT)
    return content_text(value, output=True) if value else ""


def trace_session(resource_attributes: Mapping[str, str], trace_id: str) -> str:
    """The session id of a span that names none: its trace id when a client that shows each trace as a session
    exported it (``keys.TRACE_IS_SESSION``: AgentOps), else ''."""
    for key in keys.TRACE_IS_SESSION:
        if resource_attributes.get(key.name):
            return trace_id
    return ""
