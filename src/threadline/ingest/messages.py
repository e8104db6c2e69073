"""Chat message lists -> conversation text: the input of a turn is the last user message, its output the assistant
reply (or a readable summary of the tool calls it made when it has no text).

Shapes read (each a convention some client emits):

* JSON lists of messages (:func:`parse_json_messages`):

  - OpenAI chat / OpenTelemetry GenAI before 1.37: ``[{"role": "user", "content": "..."}]``, ``content`` a string or
    a list of parts ``[{"type": "text", "text": "..."}]``, assistant ``tool_calls``
    ``[{"function": {"name": ..., "arguments": "..."}}]``;
  - OpenTelemetry GenAI semantic conventions 1.37+ (``gen_ai.input.messages``, ``gen_ai.output.messages``):
    ``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]``, parts ``tool_call``
    (``name``, ``arguments``), ``tool_call_response`` (``response``);
  - Vercel AI SDK (``ai.prompt.messages``): parts ``tool-call`` (``toolName``, ``input``/``args``) and
    ``tool-result`` (``output``/``result``); Anthropic parts ``tool_use``/``tool_result``;
  - envelopes: an OpenAI request ``{"messages": [...]}``, an OpenAI response ``{"choices": [{"message": ...}]}``,
    GenAI choice events ``{"message": {...}}`` and a single message object.

* flattened attribute families (:func:`indexed_messages`):

  - OpenInference: ``llm.input_messages.N.message.role`` / ``.message.content`` /
    ``.message.contents.M.message_content.text`` / ``.message.tool_calls.M.tool_call.function.name|arguments``;
  - OpenLLMetry (Traceloop): ``gen_ai.prompt.N.role`` / ``.content`` / ``.tool_calls.M.name|arguments``,
    ``gen_ai.completion.N.*`` and ``.function_call.name|arguments``.

Every function here is total: malformed input gives ``None``/``[]``/``''``, never an exception, because it runs on
the ingest hot path over whatever clients send.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

# Role spellings of the conventions, folded to the OpenAI/GenAI vocabulary.
_ROLE_ALIASES: dict[str, str] = {"human": "user", "model": "assistant", "ai": "assistant", "bot": "assistant",
                                 "developer": "system", "function": "tool", "ipython": "tool"}
# Part types carrying conversation text (OpenAI chat/responses, GenAI 1.37+, Vercel AI SDK, Anthropic).
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_TOOL_CALL_PARTS = frozenset({"tool_call", "tool-call", "tool_use", "function_call"})
_TOOL_RESULT_PARTS = frozenset({"tool_call_response", "tool-result", "tool_result", "function_call_output"})
_MESSAGE_KEYS = frozenset({"role", "parts", "content", "message", "tool_calls"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool (function) call an assistant message asks for: the tool's name and its arguments as JSON text."""

    name: str
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message: ``role`` folded to user/assistant/system/tool ('' when absent; a user message holding only
    tool results is a tool message), its ``text`` (text parts joined by newlines; a tool message's text is the tool's
    result) and the tool calls it makes."""

    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


def _role(value: Any) -> str:
    role = value.strip().lower() if isinstance(value, str) else ""
    return _ROLE_ALIASES.get(role, role)


def _as_text(value: Any) -> str:
    """A string stays itself; anything else (a tool's structured result, arguments) becomes compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError, RecursionError):
        return str(value)


def _tool_call(part: dict[str, Any]) -> ToolCall | None:
    """A tool call in any of the shapes: GenAI part, OpenAI ``tool_calls`` item, Vercel/Anthropic part."""
    function = part.get("function")
    if isinstance(function, dict):  # OpenAI {"type": "function", "function": {"name", "arguments"}}
        part = function
    name = part.get("name") or part.get("toolName") or part.get("tool_name")
    if not isinstance(name, str) or not name:
        return None
    for key in ("arguments", "input", "args"):
        if key in part:
            return ToolCall(name, _as_text(part[key]))
    return ToolCall(name)


def _tool_result(part: dict[str, Any]) -> str:
    for key in ("response", "output", "result", "content"):
        if key in part:
            value = part[key]
            # Vercel AI SDK 5 wraps results as {"type": "json"|"text", "value": ...}.
            if isinstance(value, dict) and "value" in value and "type" in value:
                value = value["value"]
            return _content_text(value) if isinstance(value, list) else _as_text(value)
    return ""


def _only_tool_results(parts: list[Any]) -> bool:
    """Whether every part is a tool result: pydantic-ai (instrumentation versions 2-5) and Anthropic send tool results
    in a *user* message, which is not what the user said."""
    return bool(parts) and all(isinstance(p, dict) and isinstance(p.get("type"), str)
                               and p["type"] in _TOOL_RESULT_PARTS for p in parts)


def _parts(parts: Iterable[Any]) -> tuple[str, tuple[ToolCall, ...]]:
    """Text and tool calls of a list of content parts; reasoning, images and files carry no conversation text."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind is not None and not isinstance(kind, str):  # not a part of any convention (and maybe unhashable)
            continue
        if kind in _TOOL_CALL_PARTS:
            call = _tool_call(part)
            if call:
                calls.append(call)
        elif kind in _TOOL_RESULT_PARTS:
            texts.append(_tool_result(part))
        elif kind in _TEXT_PARTS or kind is None:
            text = part.get("text", part.get("content"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(t for t in texts if t), tuple(calls)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return _parts(content)[0]
    return _as_text(content)


def parts_text(content: Any) -> str:
    """The text of a decoded message content: a string itself; a list of parts (any of the module's part shapes)
    its text and tool-result parts joined by newlines; anything else as compact JSON."""
    return _content_text(content)


def _message(item: dict[str, Any]) -> Message | None:
    """One message object in any of the JSON shapes, or None when ``item`` is not one."""
    inner = item.get("message")
    if isinstance(inner, dict):  # GenAI choice event / OpenAI choice: {"index", "finish_reason", "message"}
        item = inner
    elif _MESSAGE_KEYS.isdisjoint(item):
        return None
    role = _role(item.get("role"))
    calls: list[ToolCall] = []
    parts = item.get("parts")  # GenAI 1.37+
    if not isinstance(parts, list):
        parts = item.get("content")
    if isinstance(parts, list):
        text, part_calls = _parts(parts)
        calls.extend(part_calls)
        if role == "user" and _only_tool_results(parts):
            role = "tool"
    else:
        text = _as_text(parts)
    tool_calls = item.get("tool_calls")
    if isinstance(tool_calls, list):
        calls.extend(c for c in (_tool_call(t) for t in tool_calls if isinstance(t, dict)) if c)
    function_call = item.get("function_call")
    if isinstance(function_call, dict):
        call = _tool_call(function_call)
        if call:
            calls.append(call)
    return Message(role, text, tuple(calls))


def messages_from_value(value: Any) -> list[Message] | None:
    """Messages of an already decoded JSON value (list or envelope object, as ``json.loads`` returns them: dicts and
    lists), or None when it holds none."""
    if isinstance(value, dict):
        listed = value.get("messages")
        if isinstance(listed, list):  # OpenAI chat request
            return messages_from_value(listed)
        choices = value.get("choices")
        if isinstance(choices, list):  # OpenAI chat response; legacy completions carry "text"
            found = [m for m in (_message(c) for c in choices if isinstance(c, dict)) if m]
            found += [Message("assistant", c["text"]) for c in choices
                      if isinstance(c, dict) and isinstance(c.get("text"), str)]
            return found or None
        if "role" in value or isinstance(value.get("message"), dict) or isinstance(value.get("parts"), list):
            single = _message(value)
            return [single] if single else None
        return None
    if isinstance(value, list) and value:
        found = [m for m in (_message(v) for v in value if isinstance(v, dict)) if m]
        return found or None
    return None


def _decode(value: str) -> Any:
    """The JSON value of ``value`` when it starts with [ or { (after blanks), else None."""
    stripped = value.lstrip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):
        return None


def parse_json_messages(value: str) -> list[Message] | None:
    """Messages of a JSON text in any of the module's JSON shapes, or None when ``value`` is not JSON or holds no
    message (then the caller keeps ``value`` as it is). Cheap on plain text: no parse unless it starts with [ or {."""
    return messages_from_value(_decode(value))


def json_turn_text(value: str, *, output: bool) -> str | None:
    """:func:`last_user_text` (or, when ``output``, :func:`assistant_text`) of the messages of a JSON text, None when
    it holds no message. Same result as parsing then choosing, but a plain list is read from its end and only as far
    as the choice needs: a long history (an agent's every earlier step) costs its JSON decoding, not a message
    object per entry."""
    decoded = _decode(value)
    if not isinstance(decoded, list):
        found = messages_from_value(decoded)
        if not found:
            return None
        return assistant_text(found) if output else last_user_text(found)
    seen = False

    def from_end() -> Iterator[Message]:
        nonlocal seen
        for item in reversed(decoded):
            if isinstance(item, dict):
                message = _message(item)
                if message:
                    seen = True
                    yield message

    text = _assistant_from_end(from_end()) if output else _last_user_from_end(from_end())
    return text if seen else None


def _content_value(value: str) -> tuple[str, tuple[ToolCall, ...]]:
    """A flattened ``content`` value: OpenLLMetry writes list content as a JSON list of parts."""
    if value.startswith("[{"):
        try:
            decoded = json.loads(value)
        except (ValueError, RecursionError):
            return value, ()
        if isinstance(decoded, list):
            return _parts(decoded)
    return value, ()


# Flattened layouts: OpenInference nests a message's fields under "message." and its parts under "message_content." /
# calls under "tool_call.function."; OpenLLMetry puts them right under the index.
_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("message.", "message_content.", "tool_call.function."),  # OpenInference
    ("", "", ""),  # OpenLLMetry
)


class _Names(NamedTuple):
    """The attribute names of one flattened message that every read of it looks up (the others only when a part or
    a call is there)."""

    base: str
    part: str
    call: str
    role: str
    content: str
    part_type: str  # of content part 0
    part_text: str
    call_name: str  # of tool call 0
    call_id: str
    legacy: str
    legacy_other: str


@functools.lru_cache(maxsize=4096)
def _names(prefix: str, index: int, layout: int) -> _Names:
    # Cached: the names (and their hashes) are built once, not per span; a span's lookups are then dict probes.
    middle, part, call = _LAYOUTS[layout]
    base = f"{prefix}.{index}.{middle}"
    return _Names(base, part, call, base + "role", base + "content", f"{base}contents.0.{part}type",
                  f"{base}contents.0.{part}text", f"{base}tool_calls.0.{call}name",
                  f"{base}tool_calls.0." + ("tool_call.id" if call else "id"), base + "function_call.name",
                  base + "function_call_name")


def _indexed_message(attributes: Mapping[str, str], names: _Names) -> Message | None:
    """The message whose fields start with ``names.base``, or None when it has none (the end of the list)."""
    base, part, call = names.base, names.part, names.call
    role = attributes.get(names.role)
    content = attributes.get(names.content)
    texts: list[str] = []
    calls: list[ToolCall] = []
    if content:
        text, parsed_calls = _content_value(content)
        texts.append(text)
        calls.extend(parsed_calls)
    if names.part_type in attributes or names.part_text in attributes:
        index = 0
        while True:  # content parts, in order (OpenInference)
            head = f"{base}contents.{index}.{part}"
            kind, part_text = attributes.get(head + "type"), attributes.get(head + "text")
            if kind is None and part_text is None:
                break
            if part_text and kind in (None, "text"):
                texts.append(part_text)
            index += 1
    if names.call_name in attributes or names.call_id in attributes:
        index = 0
        while True:  # tool calls, in order; an id alone still counts as a call being there
            head = f"{base}tool_calls.{index}."
            name = attributes.get(head + call + "name")
            if name is None and attributes.get(head + "tool_call.id" if call else head + "id") is None:
                break
            if name:
                calls.append(ToolCall(name, attributes.get(head + call + "arguments", "")))
            index += 1
    legacy = attributes.get(names.legacy) or attributes.get(names.legacy_other)
    if legacy:  # OpenLLMetry's function_call.*, OpenInference's function_call_name / _arguments_json
        calls.append(ToolCall(legacy, attributes.get(base + "function_call.arguments")
                              or attributes.get(base + "function_call_arguments_json", "")))
    if role is None and content is None and not texts and not calls:
        return None
    return Message(_role(role), "\n".join(t for t in texts if t), tuple(calls))


def indexed_messages(attributes: Mapping[str, str], prefix: str) -> list[Message]:
    """Messages flattened into attributes under ``prefix`` (``"llm.input_messages"``, ``"llm.output_messages"``,
    ``"gen_ai.prompt"``, ``"gen_ai.completion"``), in index order from 0 (the conventions number them without
    gaps: reading stops at the first index with no field); [] when there are none.

    Reads ``{prefix}.N.role``, ``.content`` (OpenLLMetry's JSON list of parts too), ``.contents.M.*.type|text``
    (text parts in order), ``.tool_calls.M.*name|arguments`` and ``.function_call.name|arguments``, with
    OpenInference's ``message.`` / ``message_content.`` / ``tool_call.function.`` segments or without. Costs a few
    dict lookups per message, never a pass over unrelated attributes."""
    for layout in range(len(_LAYOUTS)):
        message = _indexed_message(attributes, _names(prefix, 0, layout))
        if message is None:
            continue
        result = [message]
        index = 1
        while True:
            message = _indexed_message(attributes, _names(prefix, index, layout))
            if message is None:
                return result
            result.append(message)
            index += 1
    return []


def indexed_turn_text(attributes: Mapping[str, str], prefix: str, *, output: bool) -> str:
    """:func:`last_user_text` (or, when ``output``, :func:`assistant_text`) of :func:`indexed_messages`, '' when
    there is no message. Same result, but only the messages the choice needs are built, from the last one back: the
    others cost two lookups each (a message with a role or content exists), not a message object."""
    for layout in range(len(_LAYOUTS)):
        if not _exists(attributes, _names(prefix, 0, layout)):
            continue
        count = 1
        while _exists(attributes, _names(prefix, count, layout)):
            count += 1
        messages = _indexed_from_end(attributes, prefix, layout, count)
        return _assistant_from_end(messages) if output else _last_user_from_end(messages)
    return ""


def _exists(attributes: Mapping[str, str], names: _Names) -> bool:
    """Whether :func:`_indexed_message` finds a message there: at once when it has a role or content (most do)."""
    return names.role in attributes or names.content in attributes or _indexed_message(attributes, names) is not None


def _indexed_from_end(attributes: Mapping[str, str], prefix: str, layout: int, count: int) -> Iterator[Message]:
    """Messages ``count - 1`` down to 0 of a flattened family (each of them exists)."""
    for index in range(count - 1, -1, -1):
        message = _indexed_message(attributes, _names(prefix, index, layout))
        if message is not None:
            yield message


def tool_calls_summary(calls: Iterable[ToolCall]) -> str:
    """One line per call, ``tool call: name(arguments)``: what an assistant message without text did."""
    return "\n".join(f"tool call: {c.name}({c.arguments})" for c in calls)


def _last_user_from_end(messages: Iterator[Message]) -> str:
    fallback = ""
    for message in messages:
        if not message.text:
            continue
        if message.role == "user":
            return message.text
        if not fallback and message.role != "assistant":
            fallback = message.text
    return fallback


def _assistant_from_end(messages: Iterator[Message]) -> str:
    for message in messages:
        if message.role in ("assistant", ""):
            if message.text:
                return message.text
            if message.tool_calls:
                return tool_calls_summary(message.tool_calls)
    return ""


def last_user_text(messages: Iterable[Message]) -> str:
    """The input of a turn: the text of the last user message with text; failing that, of the last message that is
    not the assistant's (a system prompt or tool result); '' when no message has text."""
    return _last_user_from_end(reversed(list(messages)))


def assistant_text(messages: Iterable[Message]) -> str:
    """The output of a turn: the last assistant message's text, else a summary of its tool calls; messages without a
    role count as the assistant's (output lists often omit it). '' when there is no assistant message."""
    return _assistant_from_end(reversed(list(messages)))
