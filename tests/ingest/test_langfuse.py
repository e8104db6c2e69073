"""Langfuse SDK spans through :func:`threadline.ingest.normalize.normalize` and :mod:`threadline.ingest.langfuse`.

The attribute dicts are what ``langfuse`` 5.2 emits (recorded from ``start_as_current_observation`` with
``propagate_attributes``, as tests/clients/test_langfuse.py runs it), plus the SDK 3-4 trace attributes
(``langfuse.trace.input``/``output``, from ``update_current_trace``); values as the OTLP decoder gives them: scalars as
text, arrays as JSON.
"""

from __future__ import annotations

import json

import pytest

from threadline.ingest import langfuse
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PROPAGATED = {
    "session.id": "chat-7", "user.id": "u-7", "langfuse.trace.name": "support-turn",
    "langfuse.trace.tags": '["billing","vip"]', "langfuse.trace.metadata.plan": '"pro"',
    "langfuse.trace.metadata.seats": "3", "langfuse.environment": "staging", "langfuse.release": "r42",
}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order?"}]
REPLY = {"role": "assistant", "content": "It ships tomorrow."}


def span(attributes: dict[str, str], *, span_id: str = "00f067aa0ba902b7", parent: str = "",
         status: str = "UNSET", message: str = "") -> SpanRow:
    raw = RawSpan(trace_id=TRACE, span_id=span_id, parent_span_id=parent, name="op", start_ns=1_700_000_000 * 10**9,
                  end_ns=1_700_000_001 * 10**9, status_code=status, status_message=message,
                  attributes=attributes, scope_name="langfuse-sdk")
    return normalize(raw, "p", PriceTable({}), 0)


def test_generation_fields() -> None:
    row = span({**PROPAGATED, "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.observation.input": json.dumps(MESSAGES), "langfuse.observation.output": json.dumps(REPLY),
                "langfuse.observation.usage_details": '{"input": 120, "output": 30}',
                "langfuse.observation.cost_details": '{"input": 0.0012, "output": 0.0006}',
                "langfuse.observation.metadata.temperature": "0.2"}, parent="b7ad6b7169203331")
    assert (row["session_id"], row["user_id"], row["trace_name"]) == ("chat-7", "u-7", "support-turn")
    assert (row["span_type"], row["model"]) == ("llm", "gpt-4o-mini")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (120, 30, 150)
    assert row["cost_usd"] == pytest.approx(0.0018)
    assert (row["input"], row["output"]) == ("Where is my order?", "It ships tomorrow.")
    assert row["tags"] == ["billing", "vip"]
    assert dict(row["metadata"]) == {"plan": "pro", "seats": "3", "temperature": "0.2", "environment": "staging",
                                     "release": "r42"}


@pytest.mark.parametrize(("details", "expected"), [
    ('{"input": 10, "output": 5, "total": 99}', (10, 5, 99)),  # a reported total wins
    ('{"input": 10, "input_cached_tokens": 4, "output": 5}', (10, 5, 19)),  # no total: every entry, as Langfuse
    ('{"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}', (7, 3, 10)),  # OpenAI names
    ('{"input_tokens": 7, "output_tokens": 3, "details": {"x": 1}}', (7, 3, 10)),
    ('{"input": -5, "output": "many", "flag": true}', None),  # nothing usable
    ("[1, 2]", None), ("not json", None), ("", None),
])
def test_usage_details(details: str, expected: tuple[int, int, int] | None) -> None:
    found = langfuse.usage({"langfuse.observation.usage_details": details})
    assert (None if found is None else (found.input_tokens, found.output_tokens, found.total_tokens)) == expected


@pytest.mark.parametrize(("details", "expected"), [
    ('{"input": 0.25, "output": 0.5, "total": 1.0}', 1.0), ('{"input": 0.25, "output": 0.5}', 0.75),
    ('{"total": 0}', 0.0), ('{"input": "x"}', None), ("[0.5]", None), ('{"total": NaN}', None),
])
def test_cost_details(details: str, expected: float | None) -> None:
    assert langfuse.cost_usd({"langfuse.observation.cost_details": details}) == expected


def test_reported_cost_beats_the_price_table_and_usage_fills_tokens() -> None:
    row = span({"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o-mini",
                "langfuse.observation.usage_details": '{"input": 1000000, "output": 0}',
                "langfuse.observation.cost_details": '{"total": 0.01}'})
    assert row["cost_usd"] == 0.01 and row["input_tokens"] == 1_000_000


@pytest.mark.parametrize(("value", "output", "expected"), [
    ('"Where is my order?"', False, "Where is my order?"),  # a JSON-encoded string: its text
    ("Where is my order?", False, "Where is my order?"),  # a plain string stays
    (json.dumps(MESSAGES), False, "Where is my order?"),  # a message list: the last user message
    (json.dumps([*MESSAGES, REPLY]), True, "It ships tomorrow."),  # ... the assistant reply
    (json.dumps(REPLY), True, "It ships tomorrow."),  # a message object
    ('{"question": "hi", "k": 2}', False, '{"question": "hi", "k": 2}'),  # any other object stays JSON
    ("[1, 2, 3]", False, "[1, 2, 3]"), ('{"broken": ', False, '{"broken": '), ("42", True, "42"),
])
def test_content_values(value: str, output: bool, expected: str) -> None:
    attribute = "langfuse.observation.output" if output else "langfuse.observation.input"
    row = span({attribute: value})
    assert row["output" if output else "input"] == expected


def test_trace_input_and_output_win_over_the_observation() -> None:
    row = span({"langfuse.trace.input": '"the user question"', "langfuse.observation.input": '{"a": 1}',
                "langfuse.trace.output": "the answer", "langfuse.observation.output": "step result"})
    assert (row["input"], row["output"]) == ("the user question", "the answer")


def test_metadata_precedence_and_whole_objects() -> None:
    found = langfuse.metadata({
        "langfuse.observation.metadata.k": '"observation"', "langfuse.trace.metadata.k": '"trace"',
        "langfuse.observation.metadata": '{"whole": {"nested": true}, "k": "whole-observation"}',
        "langfuse.trace.metadata.n": "7", "langfuse.trace.metadata.obj": '{"a": [1]}',
        "langfuse.trace.metadata.": "ignored", "langfuse.version": "v3", "other.metadata.x": "no"})
    assert found == {"k": "trace", "whole": '{"nested": true}', "n": "7", "obj": '{"a": [1]}', "version": "v3"}
    assert langfuse.metadata({"session.id": "s", "input.value": "x"}) == {}


@pytest.mark.parametrize(("level", "status", "message", "expected"), [
    ("ERROR", "UNSET", "", ("ERROR", "tool failed")),  # SDK 3-4: level only
    ("error", "ERROR", "boom", ("ERROR", "boom")),  # SDK 5 also sets the OTel status; its message stays
    ("WARNING", "UNSET", "", ("UNSET", "")), ("DEFAULT", "OK", "", ("OK", "")),
])
def test_level_error_marks_the_span(level: str, status: str, message: str, expected: tuple[str, str]) -> None:
    row = span({"langfuse.observation.level": level, "langfuse.observation.status_message": "tool failed"},
               status=status, message=message)
    assert (row["status_code"], row["status_message"]) == expected


@pytest.mark.parametrize(("kind", "expected"), [
    ("generation", "llm"), ("span", "span"), ("event", "span"), ("tool", "tool"), ("agent", "agent"),
    ("retriever", "retriever"), ("embedding", "embedding"), ("chain", "chain"), ("guardrail", "guardrail"),
    ("evaluator", "evaluator"),
])
def test_observation_types(kind: str, expected: str) -> None:
    assert span({"langfuse.observation.type": kind})["span_type"] == expected


def test_other_clients_spans_are_untouched() -> None:
    row = span({"input.value": "hello", "output.value": "world", "gen_ai.usage.input_tokens": "3"})
    assert (row["input"], row["output"], row["input_tokens"], row["metadata"]) == ("hello", "world", 3, [])
    assert (langfuse.usage({}), langfuse.cost_usd({}), langfuse.error_message({})) == (None, None, None)


def test_read_is_none_without_langfuse_attributes() -> None:
    assert langfuse.read({"session.id": "s", "user.id": "u", "input.value": "x"}) is None
    found = langfuse.read({"langfuse.observation.input": '"q"', "langfuse.observation.level": "ERROR"})
    assert found is not None and (found.input, found.error_message, found.usage) == ("q", "", None)
