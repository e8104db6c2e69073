"""Unit tests of :mod:`threadline.ingest.messages`: every JSON shape and flattened family, the turn input/output
choice, and totality over arbitrary input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest.messages import (
    Message,
    ToolCall,
    assistant_text,
    indexed_messages,
    indexed_turn_text,
    json_turn_text,
    last_user_text,
    messages_from_value,
    parse_json_messages,
    tool_calls_summary,
)


def parse(value: Any) -> list[Message] | None:
    return parse_json_messages(json.dumps(value))


# --- JSON shapes --------------------------------------------------------------------------------------------------

def test_openai_string_content() -> None:
    assert parse([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]) == [
        Message("system", "Be brief."), Message("user", "Hi?")]


def test_openai_content_parts_keep_text_and_drop_images() -> None:
    msgs = parse([{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                               {"type": "image_url", "image_url": {"url": "data:..."}},
                                               {"type": "text", "text": "Be precise."}]}])
    assert msgs == [Message("user", "What is this?\nBe precise.")]


def test_openai_assistant_tool_calls_and_tool_result() -> None:
    msgs = parse([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    ])
    assert msgs == [Message("user", "Weather in Paris?"),
                    Message("assistant", "", (ToolCall("get_weather", '{"city": "Paris"}'),)),
                    Message("tool", "18C")]


def test_genai_137_parts() -> None:
    msgs = parse([
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "get_weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"temp": 18}}]},
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "thinking..."},
                                        {"type": "text", "content": "It is 18C."}], "finish_reason": "stop"},
    ])
    assert msgs == [Message("user", "Weather in Paris?"),
                    Message("assistant", "", (ToolCall("get_weather", '{"city": "Paris"}'),)),
                    Message("tool", '{"temp": 18}'),
                    Message("assistant", "It is 18C.")]


def test_vercel_and_anthropic_parts() -> None:
    msgs = parse([
        {"role": "assistant", "content": [{"type": "tool-call", "toolCallId": "1", "toolName": "add",
                                           "input": {"a": 1, "b": 2}}]},
        {"role": "tool", "content": [{"type": "tool-result", "toolCallId": "1", "toolName": "add",
                                      "output": {"type": "json", "value": 3}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "mul", "input": {"a": 2}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "4"}]},
    ])
    assert msgs == [Message("assistant", "", (ToolCall("add", '{"a": 1, "b": 2}'),)), Message("tool", "3"),
                    Message("assistant", "", (ToolCall("mul", '{"a": 2}'),)), Message("tool", "4")]


def test_a_user_message_of_tool_results_is_a_tool_message() -> None:
    # pydantic-ai (instrumentation versions 2-5) sends tool results as user messages
    msgs = parse([{"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
                  {"role": "assistant", "parts": [{"type": "tool_call", "id": "1", "name": "w", "arguments": {}}]},
                  {"role": "user", "parts": [{"type": "tool_call_response", "id": "1", "response": "18C"}]}])
    assert [m.role for m in msgs or []] == ["user", "assistant", "tool"]
    assert last_user_text(msgs or []) == "Weather?"
    mixed = parse([{"role": "user", "content": [{"type": "tool_result", "content": "4"},
                                                {"type": "text", "text": "ok"}]}])
    assert mixed == [Message("user", "4\nok")]


def test_role_aliases() -> None:
    msgs = parse([{"role": "Human", "content": "a"}, {"role": "model", "content": "b"},
                  {"role": "developer", "content": "c"}])
    assert [m.role for m in msgs or []] == ["user", "assistant", "system"]


def test_envelopes() -> None:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}
    assert parse(request) == [Message("user", "Hi")]
    response = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "Hello"}}]}
    assert parse(response) == [Message("assistant", "Hello")]
    assert parse({"choices": [{"index": 0, "text": "legacy"}]}) == [Message("assistant", "legacy")]
    assert parse({"index": 0, "message": {"role": "assistant", "content": "choice event"}}) == [
        Message("assistant", "choice event")]
    assert parse({"role": "user", "content": "single"}) == [Message("user", "single")]


def test_odd_part_types_are_skipped() -> None:
    msgs = parse([{"role": "user", "content": [{"type": ["text"], "text": "x"}, {"type": {"a": 1}},
                                               {"type": "text", "text": "kept"}]},
                  {"role": "user", "parts": [{"type": [1]}]}])
    assert msgs == [Message("user", "kept"), Message("user", "")]


def test_not_messages() -> None:
    for value in ("plain text", "", "   ", "[1, 2]", "{}", '{"a": 1}', "[", "[]", '["x"]', "null", "42",
                  '{"messages": "no"}', "[" * 100_000):
        assert parse_json_messages(value) is None, value
    assert messages_from_value({"choices": []}) is None


# --- flattened families -------------------------------------------------------------------------------------------

def test_openinference_flattened() -> None:
    attrs = {
        "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be brief.",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.type": "text",
        "llm.input_messages.1.message.contents.0.message_content.text": "part one",
        "llm.input_messages.1.message.contents.1.message_content.type": "image",
        "llm.input_messages.1.message.contents.1.message_content.image.image.url": "data:...",
        "llm.input_messages.1.message.contents.2.message_content.type": "text",
        "llm.input_messages.1.message.contents.2.message_content.text": "part two",
        "llm.input_messages.4.message.role": "user", "llm.input_messages.4.message.content": "fifth",
        "llm.input_messages.6.message.role": "user", "llm.input_messages.6.message.content": "after a gap: unread",
        "llm.input_messages.2.message.role": "assistant",
        "llm.input_messages.2.message.tool_calls.0.tool_call.id": "c1",
        "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "get_weather",
        "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
        "llm.input_messages.3.message.role": "tool", "llm.input_messages.3.message.content": "18C",
        "llm.input_messagesX.0.message.role": "user", "llm.output_messages.0.message.content": "not input",
        "llm.input_messages.x.message.role": "user",
    }
    assert indexed_messages(attrs, "llm.input_messages") == [
        Message("system", "Be brief."), Message("user", "part one\npart two"),
        Message("assistant", "", (ToolCall("get_weather", '{"city": "Paris"}'),)), Message("tool", "18C"),
        Message("user", "fifth")]


def test_openllmetry_flattened() -> None:
    attrs = {
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": '[{"type": "text", "text": "Hi there"}]',
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.finish_reason": "tool_calls",
        "gen_ai.completion.0.tool_calls.0.id": "c1", "gen_ai.completion.0.tool_calls.0.name": "get_weather",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
        "gen_ai.completion.1.role": "assistant", "gen_ai.completion.1.function_call.name": "legacy",
        "gen_ai.completion.1.function_call.arguments": "{}",
    }
    assert indexed_messages(attrs, "gen_ai.prompt") == [Message("user", "Hi there")]
    assert indexed_messages(attrs, "gen_ai.completion") == [
        Message("assistant", "", (ToolCall("get_weather", '{"city": "Paris"}'),)),
        Message("assistant", "", (ToolCall("legacy", "{}"),))]
    assert indexed_messages({"gen_ai.prompt.0.content": "[{not json"}, "gen_ai.prompt") == [Message("", "[{not json")]
    assert indexed_messages({}, "gen_ai.prompt") == []


# --- turn input and output ----------------------------------------------------------------------------------------

def test_last_user_text() -> None:
    msgs = [Message("system", "sys"), Message("user", "first"), Message("assistant", "reply"),
            Message("user", "second"), Message("assistant", "", (ToolCall("f", "{}"),)), Message("tool", "result")]
    assert last_user_text(msgs) == "second"
    assert last_user_text([Message("system", "sys"), Message("assistant", "a")]) == "sys"
    assert last_user_text([Message("user", ""), Message("assistant", "a")]) == ""
    assert last_user_text([]) == ""


def test_assistant_text() -> None:
    assert assistant_text([Message("user", "q"), Message("assistant", "answer")]) == "answer"
    assert assistant_text([Message("", "role omitted")]) == "role omitted"
    calls = (ToolCall("get_weather", '{"city": "Paris"}'), ToolCall("now"))
    assert assistant_text([Message("assistant", "", calls)]) == (
        'tool call: get_weather({"city": "Paris"})\ntool call: now()')
    assert tool_calls_summary(calls[1:]) == "tool call: now()"
    assert assistant_text([Message("assistant", "earlier"), Message("assistant", "")]) == "earlier"
    assert assistant_text([Message("user", "q")]) == ""


# --- totality -----------------------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["role", "content", "parts", "type", "text", "message", "messages", "choices",
                                         "tool_calls", "function", "name", "arguments", "response", "value"]),
                        inner, max_size=5), max_leaves=20)


@settings(max_examples=200, deadline=None, database=None)
@given(JSON)
def test_any_json_gives_messages_or_none(value: Any) -> None:
    result = parse_json_messages(json.dumps(value))
    assert result is None or (result and all(isinstance(m, Message) and isinstance(m.text, str) for m in result))
    if result:
        assert isinstance(last_user_text(result), str) and isinstance(assistant_text(result), str)


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(st.text(alphabet="gen_ai.prompt0123456789rolecontentsmx", max_size=40), st.text(max_size=5)))
def test_any_attributes_give_messages(attrs: dict[str, str]) -> None:
    for message in indexed_messages(attrs, "gen_ai.prompt"):
        assert isinstance(message.text, str)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON)
def test_json_turn_text_is_parse_then_choose(value: Any) -> None:
    text = json.dumps(value)
    parsed = parse_json_messages(text)
    if parsed is None:
        assert json_turn_text(text, output=False) is None and json_turn_text(text, output=True) is None
    else:
        assert json_turn_text(text, output=False) == last_user_text(parsed)
        assert json_turn_text(text, output=True) == assistant_text(parsed)


_FIELDS = ("role", "content", "message.role", "message.content", "message.contents.0.message_content.text",
           "message.contents.0.message_content.type", "message.contents.1.message_content.text", "tool_calls.0.name",
           "tool_calls.0.id", "message.tool_calls.0.tool_call.function.name", "message.tool_calls.0.tool_call.id",
           "message.tool_calls.0.tool_call.function.arguments", "function_call.name", "message.function_call_name")
_FLATTENED = st.dictionaries(
    st.builds(lambda prefix, index, name: f"{prefix}.{index}.{name}", st.sampled_from(["llm.input_messages",
              "gen_ai.prompt"]), st.integers(0, 4), st.sampled_from(_FIELDS)),
    st.sampled_from(["", "user", "assistant", "system", "tool", "human", "x", "y", "text", "image",
                     '[{"type": "text", "text": "part"}]']), max_size=14)


@settings(max_examples=400, deadline=None, database=None)
@given(_FLATTENED)
def test_indexed_turn_text_is_read_then_choose(attrs: dict[str, str]) -> None:
    for prefix in ("llm.input_messages", "gen_ai.prompt"):
        found = indexed_messages(attrs, prefix)
        assert indexed_turn_text(attrs, prefix, output=False) == (last_user_text(found) if found else "")
        assert indexed_turn_text(attrs, prefix, output=True) == (assistant_text(found) if found else "")


def test_indexed_turn_text_reads_from_the_end() -> None:
    attrs = {f"llm.input_messages.{i}.message.{f}": v for i in range(6)
             for f, v in (("role", "user" if i % 2 == 0 else "assistant"), ("content", f"m{i}"))}
    assert indexed_turn_text(attrs, "llm.input_messages", output=False) == "m4"
    assert indexed_turn_text(attrs, "llm.input_messages", output=True) == "m5"
    assert indexed_turn_text({}, "llm.input_messages", output=True) == ""


def test_json_turn_text_of_a_long_history() -> None:
    history = [{"role": "user", "content": f"q{i}"} if i % 2 == 0 else {"role": "assistant", "content": f"a{i}"}
               for i in range(200)]
    assert json_turn_text(json.dumps(history), output=False) == "q198"
    assert json_turn_text(json.dumps(history), output=True) == "a199"
    assert json_turn_text("not json", output=True) is None
