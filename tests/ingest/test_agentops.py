"""AgentOps SDK spans through :func:`threadline.ingest.normalize.normalize` and :mod:`threadline.ingest.agentops`.

The attribute dicts are what ``agentops`` 0.4.18 emits for ``start_trace`` / ``@agent`` / ``@operation`` / ``@tool``
and ``end_trace(end_state=...)`` (recorded as tests/clients/test_agentops.py runs it); values as the OTLP decoder
gives them: scalars as text, arrays as JSON.
"""

from __future__ import annotations

import json

import pytest

from threadline.ingest import agentops
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow

TRACE = "4394294698ed9a8cae0f4c210c9153c9"
RESOURCE = {"service.name": "agentops", "agentops.project.id": "p1", "imported_libraries": '["agentops"]'}


def span(attributes: dict[str, str], resource: dict[str, str] | None = None) -> SpanRow:
    raw = RawSpan(trace_id=TRACE, span_id="be20b92fc2145f40", parent_span_id="", name="op",
                  start_ns=1_700_000_000 * 10**9, end_ns=1_700_000_001 * 10**9, attributes=attributes,
                  resource_attributes=RESOURCE if resource is None else resource, scope_name="agentops")
    return normalize(raw, "p", PriceTable({}), 0)


def test_session_span() -> None:
    row = span({"agentops.span.kind": "session", "operation.name": "support-chat",
                "agentops.tags": '["billing","vip"]', "agentops.session.end_state": "Success"})
    assert row["session_id"] == TRACE  # the trace is the session, as AgentOps shows it
    assert (row["span_type"], row["tags"], row["end_state"]) == ("chain", ["billing", "vip"], "success")


def test_a_named_session_wins_and_other_clients_get_none() -> None:
    assert span({"session.id": "chat-1"})["session_id"] == "chat-1"
    assert span({}, resource={"service.name": "app"})["session_id"] == ""


@pytest.mark.parametrize(("reported", "expected"), [
    ("Success", "success"), ("SUCCESS", "success"), ("StatusCode.OK", "success"), ("Fail", "failure"),
    ("failure", "failure"), ("ERROR", "failure"), ("StatusCode.ERROR", "failure"), ("Indeterminate", "indeterminate"),
    ("UNSET", "indeterminate"), ("Shutdown", "indeterminate"), ("Reinitialized", "indeterminate"), ("later", ""),
])
def test_end_states(reported: str, expected: str) -> None:
    assert span({"agentops.session.end_state": reported})["end_state"] == expected


@pytest.mark.parametrize(("kind", "expected"), [
    ("agent", "agent"), ("task", "chain"), ("operation", "chain"), ("workflow", "chain"), ("tool", "tool"),
    ("llm", "llm"), ("guardrail", "guardrail"), ("session", "chain"),
])
def test_span_kinds(kind: str, expected: str) -> None:
    assert span({"agentops.span.kind": kind})["span_type"] == expected


@pytest.mark.parametrize(("value", "expected"), [
    ('{"args": ["Where is my order?"], "kwargs": {}}', "Where is my order?"),
    ('{"args": [], "kwargs": {"question": "Where is my order?"}}', "Where is my order?"),
    ('{"args": [], "kwargs": {}}', ""),  # a call without arguments shows no input
    ('{"args": [{"order": 42}], "kwargs": {}}', '{"order": 42}'),
    ('{"args": [7], "kwargs": {}}', "7"),
    ('{"args": ["a", "b"], "kwargs": {}}', '{"args": ["a", "b"], "kwargs": {}}'),  # several: the call as sent
    (json.dumps({"args": [[{"role": "user", "content": "hi there"}]], "kwargs": {}}), "hi there"),
    ('"a JSON string"', "a JSON string"), ("plain text", "plain text"), ('{"broken"', '{"broken"'),
])
def test_decorated_inputs(value: str, expected: str) -> None:
    assert agentops.input_text({"agentops.task.input": value}, RESOURCE) == expected
    assert agentops.input_text({"agentops.task.input": value}, {"service.name": "app"}) == ""  # not AgentOps


def test_decorated_outputs_and_tool_attributes() -> None:
    row = span({"agentops.span.kind": "tool", "agentops.tool.input": '{"args": ["42"], "kwargs": {}}',
                "agentops.tool.output": "order 42 ships tomorrow"})
    assert (row["input"], row["output"], row["span_type"]) == ("42", "order 42 ships tomorrow", "tool")
    row = span({"agentops.entity.output": '{"role": "assistant", "content": "Done."}'})
    assert row["output"] == "Done."
    row = span({"tool.parameters": '{"city": "Paris"}', "tool.result": "sunny"})
    assert (row["input"], row["output"]) == ('{"city": "Paris"}', "sunny")
