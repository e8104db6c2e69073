"""Vercel AI SDK spans through :func:`threadline.ingest.normalize.normalize` and :mod:`threadline.ingest.vercel_ai`.

The attribute dicts are what `ai` 5.0.277 emits (recorded from ``generateText`` with ``MockLanguageModelV2``, a tool
call and ``experimental_telemetry``, as tests/clients/js/run_vercel_ai.mjs runs it), with values as the OTLP decoder
gives them: scalars as text, arrays as JSON.
"""

from __future__ import annotations

import json

import pytest

from threadline.ingest import vercel_ai
from threadline.ingest.normalize import normalize
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, SpanRow

TRACE = "330e8d95a0b1c2d3e4f5061728394a5b"
SYSTEM = "You are a concise weather assistant."
QUESTION = "What is the weather in Paris?"
ANSWER = "It is 18 degrees and sunny in Paris."
TOOL_RESULT = '{"city":"Paris","temperatureC":18,"conditions":"sunny"}'

COMMON = {
    "resource.name": "weather-chat",
    "ai.telemetry.functionId": "weather-chat",
    "ai.telemetry.metadata.sessionId": "chat-1",
    "ai.telemetry.metadata.userId": "user-js-1",
}
CALL = {
    **COMMON,
    "ai.model.provider": "mock-provider",
    "ai.model.id": "mock-weather-model",
    "ai.settings.maxRetries": "2",
    "ai.request.headers.user-agent": "ai/5.0.277",
}
PROMPT_TOOLS = json.dumps(['{"type":"function","name":"getWeather","description":"The current weather in a city",'
                           '"inputSchema":{"type":"object","properties":{"city":{"type":"string"}}}}'])
FIRST_MESSAGES = json.dumps([{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": [{"type": "text", "text": QUESTION}]}])
TOOL_MESSAGES = json.dumps([
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "call-1", "toolName": "getWeather",
                                       "input": {"city": "Paris"}}]},
    {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "call-1", "toolName": "getWeather",
                                  "output": {"type": "json", "value": json.loads(TOOL_RESULT)}}]},
], separators=(",", ":"))

# Turn 1 of the recorded run: the outer call, its two provider calls and the tool call between them.
GENERATE_TEXT = {
    **CALL,
    "operation.name": "ai.generateText weather-chat",
    "ai.operationId": "ai.generateText",
    "ai.prompt": json.dumps({"system": SYSTEM, "prompt": QUESTION}),
    "ai.response.finishReason": "stop",
    "ai.response.text": ANSWER,
    "ai.usage.promptTokens": "45",
    "ai.usage.completionTokens": "11",
}
DO_GENERATE_TOOL_CALL = {
    **CALL,
    "operation.name": "ai.generateText.doGenerate weather-chat",
    "ai.operationId": "ai.generateText.doGenerate",
    "ai.prompt.messages": FIRST_MESSAGES,
    "ai.prompt.tools": PROMPT_TOOLS,
    "ai.prompt.toolChoice": '{"type":"auto"}',
    "gen_ai.system": "mock-provider",
    "gen_ai.request.model": "mock-weather-model",
    "ai.response.finishReason": "tool-calls",
    "ai.response.toolCalls": '[{"toolCallId":"call-1","toolName":"getWeather","input":"{\\"city\\":\\"Paris\\"}"}]',
    "ai.response.id": "resp-1",
    "ai.response.model": "mock-weather-model",
    "ai.response.timestamp": "1970-01-01T00:00:00.000Z",
    "ai.usage.promptTokens": "21",
    "ai.usage.completionTokens": "7",
    "gen_ai.response.finish_reasons": '["tool-calls"]',
    "gen_ai.response.id": "resp-1",
    "gen_ai.response.model": "mock-weather-model",
    "gen_ai.usage.input_tokens": "21",
    "gen_ai.usage.output_tokens": "7",
}
TOOL_CALL = {
    **COMMON,
    "operation.name": "ai.toolCall weather-chat",
    "ai.operationId": "ai.toolCall",
    "ai.toolCall.name": "getWeather",
    "ai.toolCall.id": "call-1",
    "ai.toolCall.args": '{"city":"Paris"}',
    "ai.toolCall.result": TOOL_RESULT,
}
DO_GENERATE_ANSWER = {
    **DO_GENERATE_TOOL_CALL,
    "ai.prompt.messages": TOOL_MESSAGES,
    "ai.response.finishReason": "stop",
    "ai.response.text": ANSWER,
    "ai.response.id": "resp-2",
    "ai.usage.promptTokens": "45",
    "ai.usage.completionTokens": "11",
    "gen_ai.response.finish_reasons": '["stop"]',
    "gen_ai.response.id": "resp-2",
    "gen_ai.usage.input_tokens": "45",
    "gen_ai.usage.output_tokens": "11",
}
del DO_GENERATE_ANSWER["ai.response.toolCalls"]

# streamText's outer span in ai 5 reports the usage summed over steps under the v5 names.
STREAM_TEXT = {
    **CALL,
    "ai.operationId": "ai.streamText",
    "ai.prompt": json.dumps({"system": SYSTEM, "messages": [{"role": "user", "content": QUESTION}]}),
    "ai.response.text": ANSWER,
    "ai.usage.inputTokens": "66",
    "ai.usage.outputTokens": "18",
    "ai.usage.totalTokens": "84",
}
DO_STREAM = {
    **CALL,
    "ai.operationId": "ai.streamText.doStream",
    "ai.prompt.messages": FIRST_MESSAGES,
    "ai.response.text": ANSWER,
    "ai.response.model": "mock-weather-model",
    "ai.usage.inputTokens": "66",
    "ai.usage.outputTokens": "18",
    "ai.usage.totalTokens": "84",
}


def run(attributes: dict[str, str], parent: str = "bb6a896442fe7cb8") -> SpanRow:
    raw = RawSpan(trace_id=TRACE, span_id="2b3d70ecc8f9ebc8", parent_span_id=parent,
                  name=attributes.get("ai.operationId", "op"), start_ns=1_700_000_000_000_000_000,
                  end_ns=1_700_000_000_100_000_000, attributes=dict(attributes),
                  resource_attributes={"service.name": "vercel-ai-chat"})
    return normalize(raw, "proj", PriceTable({}), 1_700_000_001_000_000)


def test_outer_generate_text_is_a_chain_with_the_question_and_the_answer() -> None:
    row = run(GENERATE_TEXT, parent="")
    assert row["span_type"] == "chain"  # its usage repeats its doGenerate children's: not summed (rollups.py)
    assert (row["input"], row["output"]) == (QUESTION, ANSWER)
    assert row["model"] == "mock-weather-model"
    assert (row["session_id"], row["user_id"], row["trace_name"]) == ("chat-1", "user-js-1", "weather-chat")


def test_provider_call_with_a_tool_call_is_an_llm_span_whose_output_names_the_call() -> None:
    row = run(DO_GENERATE_TOOL_CALL)
    assert row["span_type"] == "llm"
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (21, 7, 28)
    assert row["model"] == "mock-weather-model"
    assert row["input"] == QUESTION
    assert row["output"] == 'tool call: getWeather({"city":"Paris"})'


def test_provider_call_after_the_tool_reads_the_last_user_message_and_the_answer() -> None:
    row = run(DO_GENERATE_ANSWER)
    assert (row["span_type"], row["input"], row["output"]) == ("llm", QUESTION, ANSWER)
    assert (row["input_tokens"], row["output_tokens"]) == (45, 11)


def test_tool_call_span_is_a_tool_with_its_arguments_and_result() -> None:
    row = run(TOOL_CALL)
    assert row["span_type"] == "tool"
    assert (row["input"], row["output"]) == ('{"city":"Paris"}', TOOL_RESULT)
    assert (row["input_tokens"], row["output_tokens"], row["model"]) == (0, 0, "")


def test_second_turn_prompt_as_messages_gives_the_new_question() -> None:
    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]},
               {"role": "user", "content": [{"type": "text", "text": "Do I need an umbrella?"}]}]
    row = run({**GENERATE_TEXT, "ai.prompt": json.dumps({"system": SYSTEM, "messages": history})}, parent="")
    assert row["input"] == "Do I need an umbrella?"


def test_prompt_given_as_a_message_list_under_prompt() -> None:
    prompt = {"prompt": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]}
    assert run({**GENERATE_TEXT, "ai.prompt": json.dumps(prompt)})["input"] == QUESTION


def test_stream_text_v5_usage_names() -> None:
    outer, inner = run(STREAM_TEXT, parent=""), run(DO_STREAM)
    assert (outer["span_type"], inner["span_type"]) == ("chain", "llm")
    assert (inner["input_tokens"], inner["output_tokens"], inner["total_tokens"]) == (66, 18, 84)
    assert (outer["input"], outer["output"]) == (QUESTION, ANSWER)
    assert (inner["input"], inner["output"]) == (QUESTION, ANSWER)


@pytest.mark.parametrize(("operation", "span_type"), [
    ("ai.generateObject", "chain"), ("ai.generateObject.doGenerate", "llm"), ("ai.streamObject", "chain"),
    ("ai.streamObject.doStream", "llm"), ("ai.embed", "chain"), ("ai.embed.doEmbed", "embedding"),
    ("ai.embedMany", "chain"), ("ai.embedMany.doEmbed", "embedding"),
])
def test_every_operation_id_has_its_span_type(operation: str, span_type: str) -> None:
    assert run({**CALL, "ai.operationId": operation, "ai.usage.tokens": "9"})["span_type"] == span_type


def test_embedding_tokens_are_input_tokens() -> None:
    row = run({**CALL, "ai.operationId": "ai.embed.doEmbed", "ai.values": '["\\"sunny\\""]', "ai.usage.tokens": "9"})
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (9, 0, 9)


def test_generate_object_output_is_the_object() -> None:
    row = run({**CALL, "ai.operationId": "ai.generateObject", "ai.response.object": '{"city":"Paris"}'})
    assert row["output"] == '{"city":"Paris"}'


def test_telemetry_metadata_other_than_the_ids_becomes_metadata() -> None:
    row = run({**GENERATE_TEXT, "ai.telemetry.metadata.plan": "pro", "ai.telemetry.metadata.retries": "3"})
    assert dict(row["metadata"]) == {"plan": "pro", "retries": "3"}
    assert run(GENERATE_TEXT)["metadata"] == []


def test_metadata_prefix_on_a_span_that_is_not_the_sdks_is_ignored() -> None:
    assert run({"ai.telemetry.metadata.plan": "pro"})["metadata"] == []


def test_text_wins_over_tool_calls_and_ai_4_args_objects_are_summarised() -> None:
    v4_calls = '[{"toolCallType":"function","toolCallId":"c","toolName":"getWeather","args":{"city":"Paris"}}]'
    assert run({**GENERATE_TEXT, "ai.response.toolCalls": v4_calls})["output"] == ANSWER
    no_text = {k: v for k, v in GENERATE_TEXT.items() if k != "ai.response.text"}
    assert run({**no_text, "ai.response.toolCalls": v4_calls})["output"] == 'tool call: getWeather({"city": "Paris"})'


@pytest.mark.parametrize("value", ["not json", "[1, 2", '{"system": "s"}', "42", '"a string"'])
def test_prompt_values_that_are_not_the_expected_json_are_kept_as_they_are(value: str) -> None:
    assert run({**GENERATE_TEXT, "ai.prompt": value})["input"] == value
    assert run({**DO_GENERATE_ANSWER, "ai.prompt.messages": value})["input"] == value


@pytest.mark.parametrize("value", ["not json", "[]", '[{"id": 1}]', "{}"])
def test_tool_call_values_that_are_not_tool_calls_are_kept_as_they_are(value: str) -> None:
    assert vercel_ai.output_text({"ai.response.toolCalls": value}) == value


def test_spans_of_other_conventions_are_untouched() -> None:
    assert vercel_ai.input_text({"input.value": "hi"}) == ""
    assert vercel_ai.output_text({"output.value": "hi"}) == ""
    assert vercel_ai.metadata({"metadata": "{}"}) == {}
