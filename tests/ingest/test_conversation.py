"""Unit tests of :mod:`threadline.ingest.conversation` through :func:`normalize`: the attribute shapes OpenInference,
OpenLLMetry, the GenAI semantic conventions (1.37+ and events) and pydantic-ai emit (copied from what the real
packages export: openinference-instrumentation-openai 0.1.66, traceloop-sdk 0.62, pydantic-ai 2.x), the precedence
text key > message list > GenAI events > JSON blob, span types and trace names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from threadline.ingest import conversation, keys
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanEvent, SpanRow

START = 1_700_000_000_000_000_000
QUESTION, ANSWER = "Weather in Paris?", "It is 18C and sunny."
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                                 {"role": "user", "content": QUESTION}]}
RESPONSE = {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": ANSWER}}]}


def raw(attributes: dict[str, str], events: list[SpanEvent] | None = None) -> RawSpan:
    return RawSpan(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331", parent_span_id="",
                   name="op", start_ns=START, end_ns=START + 1000, attributes=attributes, resource_attributes={},
                   explicit={}, events=list(events or []))


def run(attributes: dict[str, str], events: list[SpanEvent] | None = None) -> SpanRow:
    return normalize(raw(attributes, events), "proj", PriceTable({}), 1)


def genai(*messages: tuple[str, list[dict[str, Any]]]) -> str:
    return json.dumps([{"role": role, "parts": parts} for role, parts in messages])


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


# --- OpenInference ------------------------------------------------------------------------------------------------

OPENINFERENCE_LLM = {
    "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
    "input.value": json.dumps(REQUEST), "input.mime_type": "application/json",
    "output.value": json.dumps(RESPONSE), "output.mime_type": "application/json",
    "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": QUESTION,
    "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": ANSWER,
}


def test_openinference_llm_span_shows_the_messages_not_the_json() -> None:
    row = run(OPENINFERENCE_LLM)
    assert (row["input"], row["output"], row["span_type"]) == (QUESTION, ANSWER, "llm")


def test_openinference_tool_call_output() -> None:
    attributes = {k: v for k, v in OPENINFERENCE_LLM.items() if not k.startswith("llm.output_messages")}
    attributes.update({
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_0",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
    })
    assert run(attributes)["output"] == 'tool call: get_weather({"city": "Paris"})'


def test_openinference_json_values_without_message_attributes_give_their_messages() -> None:
    attributes = {k: v for k, v in OPENINFERENCE_LLM.items() if not k.startswith(("llm.input", "llm.output"))}
    row = run(attributes)
    assert (row["input"], row["output"]) == (QUESTION, ANSWER)


def test_openinference_plain_and_non_message_json_values_stay_as_sent() -> None:
    row = run({"openinference.span.kind": "CHAIN", "input.value": "plain question", "input.mime_type": "text/plain",
               "output.value": '{"answer": 42}', "output.mime_type": "application/json"})
    assert (row["input"], row["output"], row["span_type"]) == ("plain question", '{"answer": 42}', "chain")


def test_openinference_contents_parts() -> None:
    row = run({"llm.input_messages.0.message.role": "user",
               "llm.input_messages.0.message.contents.0.message_content.type": "text",
               "llm.input_messages.0.message.contents.0.message_content.text": QUESTION,
               "llm.input_messages.0.message.contents.1.message_content.type": "image",
               "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/y.png"})
    assert row["input"] == QUESTION


@pytest.mark.parametrize(("kind", "span_type"), [("LLM", "llm"), ("TOOL", "tool"), ("RETRIEVER", "retriever"),
                                                 ("EMBEDDING", "embedding"), ("AGENT", "agent"), ("CHAIN", "chain"),
                                                 ("RERANKER", "reranker"), ("GUARDRAIL", "guardrail"),
                                                 ("EVALUATOR", "evaluator"), ("PROMPT", "chain")])
def test_openinference_span_kinds(kind: str, span_type: str) -> None:
    assert run({"openinference.span.kind": kind})["span_type"] == span_type


# --- OpenLLMetry --------------------------------------------------------------------------------------------------

def test_openllmetry_llm_span_genai_137_shape() -> None:
    row = run({"gen_ai.operation.name": "chat", "traceloop.workflow.name": "chat_turn",
               "gen_ai.input.messages": genai(("system", [text("Be brief.")]), ("user", [text(QUESTION)])),
               "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [text(ANSWER)],
                                                      "finish_reason": "stop"}]),
               "gen_ai.usage.input_tokens": "14", "gen_ai.usage.output_tokens": "5",
               "gen_ai.usage.total_tokens": "19"})
    assert (row["input"], row["output"], row["span_type"]) == (QUESTION, ANSWER, "llm")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (14, 5, 19)
    assert row["trace_name"] == "chat_turn"


def test_openllmetry_llm_span_indexed_shape() -> None:
    row = run({"llm.request.type": "chat", "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": "Be brief.",
               "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": QUESTION,
               "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": ANSWER,
               "gen_ai.completion.0.finish_reason": "stop", "llm.usage.total_tokens": "30"})
    assert (row["input"], row["output"], row["span_type"], row["total_tokens"]) == (QUESTION, ANSWER, "llm", 30)


def test_openllmetry_indexed_tool_call() -> None:
    row = run({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": QUESTION,
               "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.finish_reason": "tool_calls",
               "gen_ai.completion.0.tool_calls.0.id": "c", "gen_ai.completion.0.tool_calls.0.name": "get_weather",
               "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}'})
    assert row["output"] == 'tool call: get_weather({"city": "Paris"})'


def test_openllmetry_workflow_and_tool_spans_decode_the_recorded_call() -> None:
    row = run({"traceloop.span.kind": "workflow", "traceloop.workflow.name": "chat_turn",
               "traceloop.entity.input": json.dumps({"args": [QUESTION], "kwargs": {}}),
               "traceloop.entity.output": json.dumps(ANSWER)})
    assert (row["input"], row["output"], row["span_type"], row["trace_name"]) == (QUESTION, ANSWER, "chain",
                                                                                  "chat_turn")
    tool = run({"traceloop.span.kind": "tool", "traceloop.entity.input": '{"args": [], "kwargs": {"city": "Paris"}}',
                "traceloop.entity.output": '{"temp": 18}'})
    assert (tool["input"], tool["output"], tool["span_type"]) == ("Paris", '{"temp": 18}', "tool")


@pytest.mark.parametrize(("kind", "span_type"), [("workflow", "chain"), ("task", "chain"), ("agent", "agent"),
                                                 ("tool", "tool")])
def test_openllmetry_span_kinds(kind: str, span_type: str) -> None:
    assert run({"traceloop.span.kind": kind})["span_type"] == span_type


@pytest.mark.parametrize(("request_type", "span_type"), [("chat", "llm"), ("completion", "llm"),
                                                         ("embedding", "embedding"), ("rerank", "reranker")])
def test_openllmetry_request_types(request_type: str, span_type: str) -> None:
    assert run({"llm.request.type": request_type})["span_type"] == span_type


# --- GenAI semantic conventions -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("operation", "span_type"), [
    ("chat", "llm"), ("text_completion", "llm"), ("generate_content", "llm"), ("embeddings", "embedding"),
    ("execute_tool", "tool"), ("invoke_agent", "agent"), ("create_agent", "agent")])
def test_genai_operation_names(operation: str, span_type: str) -> None:
    assert run({"gen_ai.operation.name": operation})["span_type"] == span_type


def test_genai_operation_details_event() -> None:
    event = SpanEvent(START, keys.OPERATION_DETAILS_EVENT, {
        "gen_ai.input.messages": genai(("user", [text(QUESTION)])),
        "gen_ai.output.messages": genai(("assistant", [text(ANSWER)])),
        "gen_ai.system_instructions": json.dumps([text("Be brief.")])})
    row = run({"gen_ai.operation.name": "chat"}, [event])
    assert (row["input"], row["output"]) == (QUESTION, ANSWER)


def test_genai_message_events_choice_beats_assistant_history() -> None:
    events = [SpanEvent(START, "gen_ai.system.message", {"content": "Be brief."}),
              SpanEvent(START, "gen_ai.user.message", {"content": "Earlier question"}),
              SpanEvent(START, "gen_ai.assistant.message", {"content": "Earlier answer"}),
              SpanEvent(START, "gen_ai.user.message", {"content": json.dumps([{"type": "text", "text": QUESTION}])}),
              SpanEvent(START, "gen_ai.choice", {"index": "0", "message": json.dumps({"content": ANSWER})})]
    row = run({}, events)
    assert (row["input"], row["output"]) == (QUESTION, ANSWER)
    history_only = run({}, events[:3])
    assert (history_only["input"], history_only["output"]) == ("Earlier question", "Earlier answer")


def test_genai_tool_span() -> None:
    row = run({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
               "gen_ai.tool.call.arguments": '{"city": "Paris"}', "gen_ai.tool.call.result": "18C"})
    assert (row["input"], row["output"], row["span_type"]) == ('{"city": "Paris"}', "18C", "tool")


# --- pydantic-ai / Logfire ----------------------------------------------------------------------------------------

ALL_MESSAGES = genai(
    ("system", [text("Be brief.")]), ("user", [text(QUESTION)]),
    ("assistant", [{"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "Paris"}}]),
    ("user", [{"type": "tool_call_response", "id": "t1", "name": "get_weather", "result": "18C"}]),
    ("assistant", [text(ANSWER)]))


def test_pydantic_ai_agent_run_span() -> None:
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather",
                  "logfire.msg": "weather run", "pydantic_ai.all_messages": ALL_MESSAGES, "final_result": ANSWER}
    row = run(attributes)
    assert (row["input"], row["output"], row["span_type"]) == (QUESTION, ANSWER, "agent")
    del attributes["final_result"]
    assert run(attributes)["output"] == ANSWER


def test_pydantic_ai_structured_final_result_is_shown_as_sent() -> None:
    row = run({"pydantic_ai.all_messages": ALL_MESSAGES, "final_result": '{"city": "Paris", "temp": 18}'})
    assert row["output"] == '{"city": "Paris", "temp": 18}'


def test_pydantic_ai_model_request_span_after_a_tool_call() -> None:
    # the last "user" message is the tool's result: the question stays the input
    row = run({"gen_ai.operation.name": "chat", "gen_ai.input.messages": ALL_MESSAGES,
               "gen_ai.output.messages": genai(("assistant", [text(ANSWER)]))})
    assert (row["input"], row["output"]) == (QUESTION, ANSWER)


def test_pydantic_ai_version_2_tool_span_and_version_1_events() -> None:
    tool = run({"tool_arguments": '{"city": "Paris"}', "tool_response": "18C"})
    assert (tool["input"], tool["output"]) == ('{"city": "Paris"}', "18C")
    events = json.dumps([
        {"content": "Be brief.", "role": "system", "gen_ai.message.index": 0, "event.name": "gen_ai.system.message"},
        {"content": QUESTION, "role": "user", "gen_ai.message.index": 1, "event.name": "gen_ai.user.message"},
        {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "event.name": "gen_ai.choice"}])
    for key in ("all_messages_events", "events"):
        row = run({key: events})
        assert (row["input"], row["output"]) == (QUESTION, ANSWER)


# --- precedence ---------------------------------------------------------------------------------------------------

def test_a_plain_text_key_beats_a_message_list() -> None:
    row = run({"input.value": "as typed", "llm.input_messages.0.message.role": "user",
               "llm.input_messages.0.message.content": QUESTION})
    assert row["input"] == "as typed"


def test_a_message_list_without_text_falls_through() -> None:
    row = run({"llm.input_messages.0.message.role": "user",
               "llm.input_messages.0.message.contents.0.message_content.type": "image",
               "gen_ai.input.messages": genai(("user", [text(QUESTION)]))})
    assert row["input"] == QUESTION


def test_earlier_message_lists_win() -> None:
    row = run({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "from openllmetry",
               "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "from oi"})
    assert row["input"] == "from oi"


def test_json_that_is_not_messages_stays_raw_and_bad_json_too() -> None:
    for value in ('{"query": "x"}', "[1, 2]", "{not json", '"a json string"'):
        row = run({"input.value": value, "input.mime_type": "application/json"})
        assert row["input"] == (value if value[0] != '"' else "a json string")


def test_spans_without_conversation_keys_have_none() -> None:
    span = raw({"http.method": "GET", "llm.input_messages": "x", "gen_ai.prompt.x": "y"})
    assert conversation.input_text(span) == conversation.output_text(span) == ""
    assert conversation.encoded_input(span) == conversation.encoded_output(span) == ""
