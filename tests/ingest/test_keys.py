"""The extraction key lists of :mod:`threadline.ingest.keys` as data: shape, sources, and the precedence DESIGN.md
("Session id extraction") fixes."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.ingest import keys
from threadline.ingest.native import SpanType

KEY_LISTS: dict[str, tuple[keys.Key, ...]] = {
    name: value for name, value in vars(keys).items()
    if isinstance(value, tuple) and value and all(isinstance(k, keys.Key) for k in value)
}
NAME_LISTS: dict[str, tuple[str, ...]] = {
    name: getattr(keys, name) for name in ("INPUT_EVENTS", "OUTPUT_EVENTS", "EVENT_CONTENT")
}
NORMALISED_TYPES = {"llm", "tool", "retriever", "embedding", "agent", "chain", "reranker", "guardrail", "evaluator",
                    "span"}


def names(candidates: tuple[keys.Key, ...]) -> list[str]:
    return [k.name for k in candidates]


def test_every_expected_list_is_present() -> None:
    expected = {"SESSION_ID", "USER_ID", "PREVIOUS_SESSION_ID", "END_STATE", "INPUT_TOKENS", "OUTPUT_TOKENS",
                "TOTAL_TOKENS", "MODEL", "INPUT", "OUTPUT", "COST", "TRACE_TOTAL_COST", "TRACE_TOTAL_TOKENS",
                "SPAN_TYPE", "METADATA", "TAGS"}
    assert expected <= KEY_LISTS.keys()


@pytest.mark.parametrize("list_name", sorted(KEY_LISTS))
def test_each_key_has_a_name_and_a_source(list_name: str) -> None:
    for key in KEY_LISTS[list_name]:
        assert isinstance(key.name, str) and key.name, list_name
        assert key.name == key.name.strip(), key
        assert " " not in key.name, key
        assert isinstance(key.source, str) and key.source.strip(), f"{list_name}: {key.name} has no source"


@pytest.mark.parametrize("list_name", sorted(KEY_LISTS))
def test_no_duplicate_key_within_a_list(list_name: str) -> None:
    found = names(KEY_LISTS[list_name])
    assert len(found) == len(set(found)), found


@pytest.mark.parametrize("list_name", sorted(KEY_LISTS))
def test_lists_are_immutable_tuples(list_name: str) -> None:
    assert isinstance(KEY_LISTS[list_name], tuple)


def test_key_is_frozen_and_comparable() -> None:
    key = keys.Key("a.b", "somewhere")
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.name = "other"  # type: ignore[misc]
    assert key == keys.Key("a.b", "somewhere")
    assert hash(key) == hash(keys.Key("a.b", "somewhere"))


def test_session_id_precedence_is_the_design_order() -> None:
    assert names(keys.SESSION_ID) == [
        "session.id",
        "gen_ai.conversation.id",
        "langfuse.session.id",
        "session_id",
        "traceloop.association.properties.session_id",
        "ai.telemetry.metadata.sessionId",
    ]


def test_user_id_precedence_is_the_design_order() -> None:
    assert names(keys.USER_ID) == [
        "user.id",
        "enduser.id",
        "langfuse.user.id",
        "gen_ai.user.id",
        "traceloop.association.properties.user_id",
        "ai.telemetry.metadata.userId",
    ]


def test_previous_session_id_is_the_otel_session_convention() -> None:
    assert names(keys.PREVIOUS_SESSION_ID) == ["session.previous_id"]


def test_token_keys_of_the_design_are_present() -> None:
    assert names(keys.INPUT_TOKENS)[0] == "gen_ai.usage.input_tokens"
    assert names(keys.OUTPUT_TOKENS)[0] == "gen_ai.usage.output_tokens"
    assert {"llm.token_count.prompt", "gen_ai.usage.prompt_tokens"} <= set(names(keys.INPUT_TOKENS))
    assert {"llm.token_count.completion", "gen_ai.usage.completion_tokens"} <= set(names(keys.OUTPUT_TOKENS))
    assert "llm.token_count.total" in names(keys.TOTAL_TOKENS)


def test_model_precedence_prefers_the_response_model() -> None:
    assert names(keys.MODEL)[:3] == ["gen_ai.response.model", "gen_ai.request.model", "llm.model_name"]
    assert names(keys.MODEL).index("ai.response.model") < names(keys.MODEL).index("ai.model.id")


def test_input_output_keys_of_the_design_are_present() -> None:
    assert names(keys.INPUT)[:2] == ["input.value", "gen_ai.prompt"]
    assert names(keys.OUTPUT)[:2] == ["output.value", "gen_ai.completion"]


def test_cost_keys_of_the_design() -> None:
    assert names(keys.COST) == ["gen_ai.usage.cost", "llm.cost.total"]


def test_metadata_and_tags_keys() -> None:
    assert names(keys.METADATA) == ["metadata"]
    assert names(keys.TAGS)[0] == "tag.tags"
    assert "langfuse.trace.tags" in names(keys.TAGS)


def test_threadline_span_type_key_comes_first() -> None:
    assert names(keys.SPAN_TYPE)[0] == "threadline.span.type"
    assert "openinference.span.kind" in names(keys.SPAN_TYPE)
    assert "gen_ai.operation.name" in names(keys.SPAN_TYPE)


@pytest.mark.parametrize(("first", "second"), [
    ("SESSION_ID", "USER_ID"), ("SESSION_ID", "PREVIOUS_SESSION_ID"), ("INPUT_TOKENS", "OUTPUT_TOKENS"),
    ("INPUT_TOKENS", "TOTAL_TOKENS"), ("OUTPUT_TOKENS", "TOTAL_TOKENS"), ("INPUT", "OUTPUT"),
])
def test_lists_that_must_not_share_a_key(first: str, second: str) -> None:
    assert not set(names(KEY_LISTS[first])) & set(names(KEY_LISTS[second]))


@pytest.mark.parametrize("list_name", sorted(NAME_LISTS))
def test_event_name_lists_are_non_empty_unique_strings(list_name: str) -> None:
    values = NAME_LISTS[list_name]
    assert values and all(isinstance(v, str) and v for v in values)
    assert len(values) == len(set(values))


def test_input_and_output_events_are_disjoint() -> None:
    assert not set(keys.INPUT_EVENTS) & set(keys.OUTPUT_EVENTS)
    assert "gen_ai.user.message" in keys.INPUT_EVENTS
    assert "gen_ai.choice" in keys.OUTPUT_EVENTS
    assert "content" in keys.EVENT_CONTENT


def test_span_type_values_map_to_normalised_types() -> None:
    assert set(keys.SPAN_TYPE_VALUES.values()) <= NORMALISED_TYPES
    for raw, normalised in keys.SPAN_TYPE_VALUES.items():
        assert raw == raw.lower(), raw  # normalize() lowercases before the lookup
        assert keys.SPAN_TYPE_VALUES[normalised] == normalised  # normalised types map to themselves


def test_every_native_span_type_is_known() -> None:
    for value in typing.get_args(SpanType):
        assert value in keys.SPAN_TYPE_VALUES, value


@pytest.mark.parametrize(("value", "expected"), [
    ("llm", "llm"), ("chat", "llm"), ("generation", "llm"), ("execute_tool", "tool"), ("tool", "tool"),
    ("retriever", "retriever"), ("embeddings", "embedding"), ("invoke_agent", "agent"), ("workflow", "chain"),
    ("task", "chain"),
])
def test_span_type_values_of_the_conventions(value: str, expected: str) -> None:
    assert keys.SPAN_TYPE_VALUES[value] == expected


_ALL_NAMES = sorted({k.name for candidates in KEY_LISTS.values() for k in candidates})


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from([*_ALL_NAMES, "other", "session"]), st.sampled_from(["", "a", "b"]),
                       max_size=25))
def test_picker_is_first_of_each_list(attributes: dict[str, str]) -> None:
    lists = tuple(KEY_LISTS.values())
    assert keys.Picker(lists).pick(attributes) == [keys.first(attributes, candidates) for candidates in lists]
    # A name in several lists counts in each.
    shared = (keys.Key("x", "t"), keys.Key("y", "t"))
    assert keys.Picker((shared, shared[::-1])).pick({"x": "1", "y": "2"}) == ["1", "2"]
