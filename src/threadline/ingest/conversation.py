"""A span's conversation text from the common conventions: OpenInference, OpenLLMetry (Traceloop), the OpenTelemetry
GenAI semantic conventions (attributes and message events, 1.37+ included) and pydantic-ai / Logfire. Keys, with
their sources, are in :mod:`threadline.ingest.keys` (``INPUT``/``OUTPUT``, ``INPUT_MESSAGES``/``OUTPUT_MESSAGES``,
``ENCODED_INPUT``/``ENCODED_OUTPUT``, the event lists).

Precedence, for the input (the output likewise):

1. a **text key** (``keys.INPUT``) whose value is plain text, e.g. OpenInference ``input.value`` of a chain span;
2. a **message list** (``keys.INPUT_MESSAGES``: OpenInference ``llm.input_messages.*``, GenAI ``gen_ai.input.messages``,
   OpenLLMetry ``gen_ai.prompt.*``, pydantic-ai ``pydantic_ai.all_messages``...): the last user message's text (the
   output: the assistant reply, or a summary of its tool calls);
3. **GenAI message events** (``gen_ai.user.message``... and ``gen_ai.client.inference.operation.details``), read as a
   message list;
4. (after the clients read by other modules) **JSON blobs**, decoded by :func:`threadline.ingest.content.content_text`:
   a text key's JSON value (``keys.DEFERRED_WHEN_JSON``: OpenInference ``input.value`` of type ``application/json``,
   the raw OpenAI request whose ``messages`` give the text) and ``keys.ENCODED_INPUT`` (OpenLLMetry
   ``traceloop.entity.input``, a decorated call's ``{"args", "kwargs"}``).

So a message list is shown as the conversation, never as a raw blob when a text exists. Cost on the ingest hot path:
a few dict lookups per span without these keys; JSON is parsed only when a span carries such a key.
"""

from __future__ import annotations

from collections.abc import Mapping

from threadline.ingest import keys
from threadline.ingest.content import content_text, decode
from threadline.ingest.messages import (
    Message,
    assistant_text,
    indexed_turn_text,
    json_turn_text,
    last_user_text,
    messages_from_value,
    parse_json_messages,
    parts_text,
)
from threadline.ingest.spans import RawSpan, SpanEvent

_JSON_MIME = "application/json"


# Per message-list key: its name, and for a flattened family (a name ending in ".") the prefix to read and the keys of
# its message 0 one of which every client sets (a cheap presence test before the one pass over the attributes).
_Candidate = tuple[str, str, tuple[str, ...]]


def _candidates(listed: tuple[keys.Key, ...]) -> tuple[_Candidate, ...]:
    return tuple(
        (k.name, k.name[:-1], tuple(f"{k.name}0.{f}" for f in ("role", "content", "message.role", "message.content")))
        if k.name.endswith(".") else (k.name, "", ()) for k in listed)


_INPUT_LISTS = _candidates(keys.INPUT_MESSAGES)
_OUTPUT_LISTS = _candidates(keys.OUTPUT_MESSAGES)


# Per text key: its name and, when its value may be a raw JSON request/response (keys.DEFERRED_WHEN_JSON), the name
# of the attribute typing it ('' when none does); None for keys whose JSON is their real value. Computed once.
_TextKey = tuple[str, str | None]


def _text_keys(listed: tuple[keys.Key, ...]) -> tuple[_TextKey, ...]:
    return tuple((k.name, (mime.name if (mime := keys.DEFERRED_WHEN_JSON[k.name]) else "")
                  if k.name in keys.DEFERRED_WHEN_JSON else None) for k in listed)


_INPUT_TEXT = _text_keys(keys.INPUT)
_OUTPUT_TEXT = _text_keys(keys.OUTPUT)
_ENCODED_INPUT = tuple(k.name for k in keys.ENCODED_INPUT)
_ENCODED_OUTPUT = tuple(k.name for k in keys.ENCODED_OUTPUT)


def _is_json(attributes: Mapping[str, str], mime: str | None, value: str) -> bool:
    """Whether a text key's value is a raw JSON request/response to read after the message lists (``mime``: as in
    :data:`_TextKey`)."""
    if mime is None:
        return False
    return value[0] in "[{" or (bool(mime) and attributes.get(mime) == _JSON_MIME)


def _text_value(attributes: Mapping[str, str], candidates: tuple[_TextKey, ...]) -> str:
    """The first plain-text value of ``candidates`` ('' when each is absent, empty or JSON)."""
    for name, mime in candidates:
        value = attributes.get(name)
        if value and not _is_json(attributes, mime, value):
            return value
    return ""


def _json_value(attributes: Mapping[str, str], candidates: tuple[_TextKey, ...]) -> str:
    """The first deferred JSON value of ``candidates`` (see ``keys.DEFERRED_WHEN_JSON``), else ''."""
    for name, mime in candidates:
        value = attributes.get(name)
        if value and _is_json(attributes, mime, value):
            return value
    return ""


def _from_lists(attributes: Mapping[str, str], candidates: tuple[_Candidate, ...], *, output: bool) -> str:
    """The text of the first message list in ``candidates`` order that has one (last user message, or assistant
    reply when ``output``); lists are read lazily, so a span pays only for the lists it carries."""
    for name, prefix, probes in candidates:
        if prefix:
            for probe in probes:
                if probe in attributes:
                    text = indexed_turn_text(attributes, prefix, output=output)
                    if text:
                        return text
                    break
        else:
            value = attributes.get(name)
            if value:
                json_text = json_turn_text(value, output=output)
                if json_text:
                    return json_text
    return ""


def _event_messages(event: SpanEvent) -> list[Message]:
    """The messages of one GenAI event: its content (plain text, or JSON holding messages) in the event's role."""
    role = event.attributes.get("role") or keys.EVENT_ROLES.get(event.name, "")
    text = next((event.attributes[k] for k in keys.EVENT_CONTENT if event.attributes.get(k)), "")
    if not text:
        return []
    if text[0] in "[{":
        parsed = parse_json_messages(text)
        if parsed:
            return [m if m.role else Message(role, m.text, m.tool_calls) for m in parsed]
        decoded = decode(text)
        if isinstance(decoded, list):  # the content as a list of parts
            return [Message(role, parts_text(decoded))]
        if isinstance(decoded, dict):  # a choice's message, whose role is optional: {"content", "tool_calls"}
            found = messages_from_value({"message": decoded})
            if found:
                return [m if m.role else Message(role, m.text, m.tool_calls) for m in found]
    return [Message(role, text)]


def _events(raw: RawSpan, *, output: bool) -> str:
    """Input (last user message) or output (assistant reply) of the span's GenAI message events; ''."""
    details_key = keys.OPERATION_DETAILS_OUTPUT if output else keys.OPERATION_DETAILS_INPUT
    messages: list[Message] = []
    history: list[Message] = []  # gen_ai.assistant.message: the assistant's earlier turns, output when nothing else
    for event in raw.events:
        if event.name == keys.OPERATION_DETAILS_EVENT:
            value = event.attributes.get(details_key.name)
            if value:
                messages.extend(parse_json_messages(value) or ())
        elif event.name in (keys.OUTPUT_EVENTS if output else keys.INPUT_EVENTS):
            (history if output and event.name == keys.ASSISTANT_MESSAGE_EVENT else messages).extend(
                _event_messages(event))
    if output:
        return assistant_text(messages) or assistant_text(history)
    return last_user_text(messages)


def input_text(raw: RawSpan) -> str:
    """A span's input by steps 1-3 of the module's precedence; '' when none applies."""
    attributes = raw.attributes
    return (_text_value(attributes, _INPUT_TEXT)
            or _from_lists(attributes, _INPUT_LISTS, output=False)
            or (_events(raw, output=False) if raw.events else ""))


def output_text(raw: RawSpan) -> str:
    """A span's output by steps 1-3 of the module's precedence; '' when none applies."""
    attributes = raw.attributes
    return (_text_value(attributes, _OUTPUT_TEXT)
            or _from_lists(attributes, _OUTPUT_LISTS, output=True)
            or (_events(raw, output=True) if raw.events else ""))


def _decoded(attributes: Mapping[str, str], text_keys: tuple[_TextKey, ...], encoded: tuple[str, ...], *,
             output: bool) -> str:
    value = _json_value(attributes, text_keys)
    if not value:
        value = next((found for name in encoded if (found := attributes.get(name))), "")
    return content_text(value, output=output) if value else ""


def encoded_input(raw: RawSpan) -> str:
    """Step 4 for the input: a JSON text-key value or ``traceloop.entity.input``, decoded; '' when there is none."""
    return _decoded(raw.attributes, _INPUT_TEXT, _ENCODED_INPUT, output=False)


def encoded_output(raw: RawSpan) -> str:
    """Step 4 for the output: a JSON text-key value or ``traceloop.entity.output``, decoded; '' when there is
    none."""
    return _decoded(raw.attributes, _OUTPUT_TEXT, _ENCODED_OUTPUT, output=True)
