"""Unit tests of :mod:`threadline.ingest.normalize`: every extraction key, precedence, validation, cost, span type,
metadata/tags parsing, and property tests over random attribute dicts."""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.ingest import keys
from threadline.ingest.normalize import (
    END_STATES,
    MAX_ID_LENGTH,
    InvalidSpan,
    first,
    normalize,
    span_or_resource,
    validate_ids,
)
from threadline.ingest.pricing import Price, PriceTable
from threadline.ingest.spans import SPAN_SCHEMA, RawSpan, SpanEvent, SpanRow, rows_to_arrow

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
PARENT = "00f067aa0ba902b7"
START = 1_700_000_000_000_000_000
END = START + 1_500_000
INGESTED_US = 1_700_000_001_000_000
PRICES = PriceTable({"priced-model": Price(input=1.0, output=2.0), "other-model": Price(input=10.0, output=20.0)})
UINT64_MAX = 2**64 - 1
PROPS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def make_raw(attributes: dict[str, str] | None = None, resource: dict[str, str] | None = None,
             explicit: dict[str, Any] | None = None, events: list[SpanEvent] | None = None,
             **fields: Any) -> RawSpan:
    base: dict[str, Any] = {"trace_id": TRACE, "span_id": SPAN, "parent_span_id": "", "name": "op",
                            "start_ns": START, "end_ns": END}
    base.update(fields)
    return RawSpan(**base, attributes=dict(attributes or {}), resource_attributes=dict(resource or {}),
                   explicit=dict(explicit or {}), events=list(events or []))


def run(raw: RawSpan, prices: PriceTable = PRICES) -> SpanRow:
    return normalize(raw, "proj", prices, INGESTED_US)


def placed(where: str, key: str, value: str) -> dict[str, Any]:
    """make_raw() keyword arguments putting ``key: value`` in ``where`` (attributes, resource or explicit)."""
    return {where: {key: value}}


def names(candidates: tuple[keys.Key, ...]) -> list[str]:
    return [k.name for k in candidates]


# --- every key of every list is extracted -----------------------------------------------------------------------

# list name -> (row column, attribute value, expected column value; second value and expectation for precedence)
FIELDS: dict[str, tuple[str, str, Any, str, Any]] = {
    "SESSION_ID": ("session_id", "sess-1", "sess-1", "sess-2", "sess-2"),
    "USER_ID": ("user_id", "user-1", "user-1", "user-2", "user-2"),
    "PREVIOUS_SESSION_ID": ("session_previous_id", "prev-1", "prev-1", "prev-2", "prev-2"),
    "END_STATE": ("end_state", "Failure", "failure", "success", "success"),
    "INPUT_TOKENS": ("input_tokens", "42", 42, "7", 7),
    "OUTPUT_TOKENS": ("output_tokens", "17", 17, "3", 3),
    "TOTAL_TOKENS": ("total_tokens", "99", 99, "11", 11),
    "MODEL": ("model", "model-a", "model-a", "model-b", "model-b"),
    "INPUT": ("input", "hello?", "hello?", "bonjour?", "bonjour?"),
    "OUTPUT": ("output", "hi!", "hi!", "salut!", "salut!"),
    "COST": ("cost_usd", "0.25", 0.25, "0.5", 0.5),
    "SPAN_TYPE": ("span_type", "TOOL", "tool", "agent", "agent"),
    "TRACE_TOTAL_COST": ("reported_cost_usd", "1.5", 1.5, "2.5", 2.5),
    "TRACE_TOTAL_TOKENS": ("reported_tokens", "1234", 1234, "5", 5),
}
RESOURCE_LISTS = ("SESSION_ID", "USER_ID", "PREVIOUS_SESSION_ID", "END_STATE")
EVERY_KEY = [pytest.param(list_name, key.name, id=f"{list_name}:{key.name}")
             for list_name in FIELDS for key in getattr(keys, list_name)]
KEY_PAIRS = [pytest.param(list_name, a.name, b.name, id=f"{list_name}:{a.name}>{b.name}")
             for list_name in FIELDS for a, b in itertools.combinations(getattr(keys, list_name), 2)]
RESOURCE_KEYS = [pytest.param(list_name, key.name, id=f"{list_name}:{key.name}")
                 for list_name in RESOURCE_LISTS for key in getattr(keys, list_name)]


def test_the_covered_lists_are_the_ones_of_the_brief() -> None:
    assert {"SESSION_ID", "USER_ID", "INPUT_TOKENS", "OUTPUT_TOKENS", "TOTAL_TOKENS", "MODEL", "INPUT", "OUTPUT",
            "COST", "END_STATE", "PREVIOUS_SESSION_ID", "SPAN_TYPE"} <= FIELDS.keys()


@pytest.mark.parametrize(("list_name", "key"), EVERY_KEY)
def test_every_key_is_extracted_from_span_attributes(list_name: str, key: str) -> None:
    column, value, expected, _, _ = FIELDS[list_name]
    row = run(make_raw({key: value}))
    assert row[column] == expected


@pytest.mark.parametrize(("list_name", "earlier", "later"), KEY_PAIRS)
def test_first_key_in_list_order_wins(list_name: str, earlier: str, later: str) -> None:
    column, value, expected, other, _ = FIELDS[list_name]
    # the later key is inserted first: list order decides, not dict order
    row = run(make_raw({later: other, earlier: value}))
    assert row[column] == expected


@pytest.mark.parametrize(("list_name", "earlier", "later"), KEY_PAIRS)
def test_an_empty_value_does_not_count_as_present(list_name: str, earlier: str, later: str) -> None:
    column, _, _, other, other_expected = FIELDS[list_name]
    row = run(make_raw({earlier: "", later: other}))
    assert row[column] == other_expected


@pytest.mark.parametrize(("list_name", "key"), RESOURCE_KEYS)
def test_resource_attributes_are_the_fallback(list_name: str, key: str) -> None:
    column, value, expected, _, _ = FIELDS[list_name]
    row = run(make_raw(resource={key: value}))
    assert row[column] == expected


@pytest.mark.parametrize("list_name", RESOURCE_LISTS)
def test_any_span_attribute_beats_any_resource_attribute(list_name: str) -> None:
    column, value, expected, other, _ = FIELDS[list_name]
    candidates = names(getattr(keys, list_name))
    # the lowest-precedence span key still beats the highest-precedence resource key
    row = run(make_raw({candidates[-1]: value}, resource={candidates[0]: other}))
    assert row[column] == expected


def test_empty_span_value_falls_through_to_the_resource() -> None:
    row = run(make_raw({"session.id": ""}, resource={"session.id": "from-resource"}))
    assert row["session_id"] == "from-resource"


def test_agentops_style_resource_session_reaches_every_span() -> None:
    resource = {"session.id": "agentops-1", "service.name": "agent"}
    rows = [run(make_raw({"gen_ai.request.model": "m"}, resource=resource, span_id=f"{i:016x}")) for i in (1, 2)]
    assert [r["session_id"] for r in rows] == ["agentops-1", "agentops-1"]
    assert rows[0]["service_name"] == "agent"


def test_nothing_present_gives_empty_fields() -> None:
    row = run(make_raw())
    assert row["session_id"] == row["user_id"] == row["session_previous_id"] == ""
    assert row["model"] == row["input"] == row["output"] == row["end_state"] == row["trace_name"] == ""
    assert row["input_tokens"] == row["output_tokens"] == row["total_tokens"] == row["reported_tokens"] == 0
    assert row["cost_usd"] == row["reported_cost_usd"] == 0.0
    assert row["span_type"] == "span"
    assert row["metadata"] == [] and row["tags"] == []


def test_first_and_span_or_resource_helpers() -> None:
    candidates = (keys.Key("a", "test"), keys.Key("b", "test"))
    assert first({"b": "2", "a": "1"}, candidates) == "1"
    assert first({"a": "", "b": "2"}, candidates) == "2"
    assert first({"c": "3"}, candidates) == ""
    assert span_or_resource(make_raw({"b": "span"}, resource={"a": "res"}), candidates) == "span"
    assert span_or_resource(make_raw({"c": "x"}, resource={"b": "res"}), candidates) == "res"


# --- explicit (native) fields beat attributes --------------------------------------------------------------------

@pytest.mark.parametrize(("explicit", "attributes", "column", "expected"), [
    pytest.param({"session_id": "exp"}, {"session.id": "attr"}, "session_id", "exp", id="session_id"),
    pytest.param({"user_id": "exp"}, {"user.id": "attr"}, "user_id", "exp", id="user_id"),
    pytest.param({"model": "exp"}, {"gen_ai.response.model": "attr"}, "model", "exp", id="model"),
    pytest.param({"input_tokens": 5}, {"gen_ai.usage.input_tokens": "500"}, "input_tokens", 5, id="input_tokens"),
    pytest.param({"output_tokens": 6}, {"gen_ai.usage.output_tokens": "600"}, "output_tokens", 6,
                 id="output_tokens"),
    pytest.param({"input_tokens": 0}, {"gen_ai.usage.input_tokens": "500"}, "input_tokens", 0, id="zero_tokens"),
    pytest.param({"cost_usd": 0.75}, {"gen_ai.usage.cost": "9"}, "cost_usd", 0.75, id="cost_usd"),
    pytest.param({"cost_usd": 0.0}, {"gen_ai.usage.cost": "9"}, "cost_usd", 0.0, id="zero_cost"),
    pytest.param({"span_type": "tool"}, {"threadline.span.type": "agent"}, "span_type", "tool", id="span_type"),
    pytest.param({"input": "exp"}, {"input.value": "attr"}, "input", "exp", id="input"),
    pytest.param({"output": "exp"}, {"output.value": "attr"}, "output", "exp", id="output"),
    pytest.param({"metadata": {"k": "v"}}, {"metadata": '{"a": "b"}'}, "metadata", [("k", "v")], id="metadata"),
    pytest.param({"tags": ["x"]}, {"tag.tags": '["y"]'}, "tags", ["x"], id="tags"),
    pytest.param({"reported_cost_usd": 3.0}, {"threadline.trace.total_cost_usd": "1"}, "reported_cost_usd", 3.0,
                 id="reported_cost"),
    pytest.param({"reported_tokens": 30}, {"threadline.trace.total_tokens": "10"}, "reported_tokens", 30,
                 id="reported_tokens"),
    pytest.param({"trace_name": "turn 1"}, {}, "trace_name", "turn 1", id="trace_name"),
])
def test_explicit_beats_attributes(explicit: dict[str, Any], attributes: dict[str, str], column: str,
                                   expected: Any) -> None:
    assert run(make_raw(attributes, explicit=explicit))[column] == expected


def test_explicit_session_beats_resource_too() -> None:
    row = run(make_raw(resource={"session.id": "res"}, explicit={"session_id": "exp", "user_id": "u"}))
    assert (row["session_id"], row["user_id"]) == ("exp", "u")


def test_explicit_none_values_fall_back_to_attributes() -> None:
    fields = ("session_id", "user_id", "model", "input_tokens", "output_tokens", "cost_usd", "span_type", "metadata",
              "tags", "reported_cost_usd", "reported_tokens")
    explicit: dict[str, Any] = dict.fromkeys(fields)
    explicit.update(input="", output="")
    attributes = {"session.id": "s", "user.id": "u", "gen_ai.request.model": "priced-model",
                  "gen_ai.usage.input_tokens": "1000", "gen_ai.usage.output_tokens": "500", "input.value": "in",
                  "output.value": "out", "metadata": '{"a": "b"}', "tag.tags": '["t"]'}
    row = run(make_raw(attributes, explicit=explicit))
    assert (row["session_id"], row["user_id"], row["model"]) == ("s", "u", "priced-model")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (1000, 500, 1500)
    assert row["cost_usd"] == pytest.approx(0.002)
    assert (row["input"], row["output"], row["span_type"]) == ("in", "out", "llm")
    assert row["metadata"] == [("a", "b")] and row["tags"] == ["t"]


def test_explicit_tokens_feed_the_total_and_the_price() -> None:
    row = run(make_raw(explicit={"model": "priced-model", "input_tokens": 1000, "output_tokens": 500}))
    assert row["total_tokens"] == 1500
    assert row["cost_usd"] == pytest.approx(0.002)


# --- GenAI message events as input/output ------------------------------------------------------------------------

@pytest.mark.parametrize("event_name", keys.INPUT_EVENTS)
@pytest.mark.parametrize("content_key", keys.EVENT_CONTENT)
def test_input_events_become_input(event_name: str, content_key: str) -> None:
    row = run(make_raw(events=[SpanEvent(START + 1, event_name, {content_key: "what is 2+2?"})]))
    assert row["input"] == "what is 2+2?"
    assert row["output"] == ""


@pytest.mark.parametrize("event_name", keys.OUTPUT_EVENTS)
@pytest.mark.parametrize("content_key", keys.EVENT_CONTENT)
def test_output_events_become_output(event_name: str, content_key: str) -> None:
    row = run(make_raw(events=[SpanEvent(START + 1, event_name, {content_key: "4"})]))
    assert row["output"] == "4"
    assert row["input"] == ""


def test_message_events_are_read_as_a_conversation() -> None:
    # the last user message in, the assistant's choice out (its message JSON read as a message)
    events = [
        SpanEvent(START + 1, "gen_ai.system.message", {"content": "be brief"}),
        SpanEvent(START + 2, "gen_ai.user.message", {"content": "hi"}),
        SpanEvent(START + 3, "exception", {"exception.message": "ignored"}),
        SpanEvent(START + 4, "gen_ai.user.message", {"role": "user"}),  # no content: skipped
        SpanEvent(START + 5, "gen_ai.choice", {"message": '{"role": "assistant", "content": "hello"}'}),
    ]
    row = run(make_raw(events=events))
    assert row["input"] == "hi"
    assert row["output"] == "hello"
    assert row["events_name"] == ["gen_ai.system.message", "gen_ai.user.message", "exception",
                                  "gen_ai.user.message", "gen_ai.choice"]
    assert row["events_time"] == [START + i for i in range(1, 6)]
    assert row["events_attributes"][2] == [("exception.message", "ignored")]


def test_event_content_keys_follow_their_order() -> None:
    event = SpanEvent(START, "gen_ai.user.message", {"message": "second", "content": "first"})
    assert run(make_raw(events=[event]))["input"] == "first"


def test_attributes_beat_message_events() -> None:
    events = [SpanEvent(START, "gen_ai.user.message", {"content": "event in"}),
              SpanEvent(START, "gen_ai.choice", {"content": "event out"})]
    row = run(make_raw({"input.value": "attr in", "output.value": "attr out"}, events=events))
    assert (row["input"], row["output"]) == ("attr in", "attr out")


# --- id and time validation ---------------------------------------------------------------------------------------

BAD_TRACE_IDS = ["", "abc", TRACE[:-1], TRACE + "0", "g" * 32, "0" * 32, TRACE.upper(), f" {TRACE[1:]}",
                 TRACE[:16] + "-" + TRACE[17:], "0x" + TRACE[2:]]
BAD_SPAN_IDS = ["", "abc", SPAN[:-1], SPAN + "0", "z" * 16, "0" * 16, SPAN.upper(), f"{SPAN[:15]} ", TRACE]


@pytest.mark.parametrize("trace_id", BAD_TRACE_IDS)
def test_bad_trace_id_is_rejected_with_its_value(trace_id: str) -> None:
    with pytest.raises(InvalidSpan) as info:
        run(make_raw(trace_id=trace_id, name="llm-call"))
    message = str(info.value)
    assert "trace_id" in message and repr(trace_id) in message and "'llm-call'" in message
    assert "32 hex" in message


@pytest.mark.parametrize("span_id", BAD_SPAN_IDS)
def test_bad_span_id_is_rejected_with_its_value(span_id: str) -> None:
    with pytest.raises(InvalidSpan) as info:
        run(make_raw(span_id=span_id, name="tool-call"))
    message = str(info.value)
    assert "span_id" in message and repr(span_id) in message and "'tool-call'" in message
    assert "16 hex" in message


@pytest.mark.parametrize("parent", ["abc", "0" * 16, PARENT.upper(), PARENT + "00", "x" * 16])
def test_bad_parent_span_id_is_rejected(parent: str) -> None:
    with pytest.raises(InvalidSpan, match="parent_span_id") as info:
        run(make_raw(parent_span_id=parent))
    assert SPAN in str(info.value) and repr(parent) in str(info.value)


def test_valid_parent_is_kept() -> None:
    assert run(make_raw(parent_span_id=PARENT))["parent_span_id"] == PARENT


def test_uppercase_ids_are_rejected_because_decoders_produce_lowercase() -> None:
    # RawSpan's contract is lowercase hex; OTLP decoding lowercases and native ingest validates lowercase
    with pytest.raises(InvalidSpan):
        validate_ids(make_raw(trace_id=TRACE.upper()))
    validate_ids(make_raw())


@pytest.mark.parametrize(("start", "end"), [(0, END), (START, 0), (0, 0), (-5, END), (START, -1)])
def test_missing_times_are_rejected(start: int, end: int) -> None:
    with pytest.raises(InvalidSpan, match="start and end times are required") as info:
        run(make_raw(start_ns=start, end_ns=end))
    assert SPAN in str(info.value)


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(InvalidSpan, match="end time is before start time") as info:
        run(make_raw(start_ns=END, end_ns=START))
    assert SPAN in str(info.value)


@pytest.mark.parametrize(("start", "end", "event_time"), [
    (START, 2**63, START), (START, 2**64 - 1, START), (2**63, 2**63, None), (START, END, 2**63),
    (START, END, 2**64 - 1),
])
def test_times_beyond_2262_are_rejected(start: int, end: int, event_time: int | None) -> None:
    events = [] if event_time is None else [SpanEvent(event_time, "e", {})]
    with pytest.raises(InvalidSpan, match="out of range") as info:
        run(make_raw(start_ns=start, end_ns=end, events=events))
    assert SPAN in str(info.value)


def test_the_last_representable_time_is_accepted() -> None:
    row = run(make_raw(start_ns=START, end_ns=2**63 - 1, events=[SpanEvent(0, "unset time", {})]))
    rows_to_arrow([row])


def test_zero_duration_is_fine() -> None:
    row = run(make_raw(start_ns=START, end_ns=START))
    assert row["duration_ns"] == 0


def test_invalid_span_is_a_value_error() -> None:
    assert issubclass(InvalidSpan, ValueError)


@given(st.one_of(st.text(alphabet="0123456789abcdefABCDEF -xg", max_size=40),
                 st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)))
@PROPS
def test_trace_id_accepted_exactly_when_32_lowercase_hex_non_zero(trace_id: str) -> None:
    valid = re.fullmatch(r"[0-9a-f]{32}", trace_id) is not None and set(trace_id) != {"0"}
    try:
        validate_ids(make_raw(trace_id=trace_id))
    except InvalidSpan:
        assert not valid
    else:
        assert valid


# --- id length limit ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "key", "label"), [
    ("attributes", "session.id", "session id"), ("resource", "session.id", "session id"),
    ("explicit", "session_id", "session id"), ("attributes", "user.id", "user id"),
    ("explicit", "user_id", "user id"), ("attributes", "session.previous_id", "previous session id"),
])
def test_ids_longer_than_256_are_rejected_not_truncated(where: str, key: str, label: str) -> None:
    value = "s" * (MAX_ID_LENGTH + 1)
    with pytest.raises(InvalidSpan) as info:
        run(make_raw(**placed(where, key, value)))
    message = str(info.value)
    assert label in message and "257" in message and "256" in message and SPAN in message


@pytest.mark.parametrize(("where", "key", "column"), [
    ("attributes", "session.id", "session_id"), ("resource", "gen_ai.conversation.id", "session_id"),
    ("explicit", "session_id", "session_id"), ("attributes", "enduser.id", "user_id"),
    ("attributes", "session.previous_id", "session_previous_id"),
])
def test_ids_of_exactly_256_are_accepted_whole(where: str, key: str, column: str) -> None:
    value = "x" * (MAX_ID_LENGTH - 1) + "!"
    assert run(make_raw(**placed(where, key, value)))[column] == value


def test_id_length_counts_characters_not_bytes() -> None:
    value = "é" * MAX_ID_LENGTH  # 512 bytes in UTF-8, 256 characters
    assert run(make_raw({"session.id": value}))["session_id"] == value


def test_max_id_length_is_256() -> None:
    assert MAX_ID_LENGTH == 256


# --- cost ---------------------------------------------------------------------------------------------------------

def test_cost_from_the_price_table_when_no_cost_attribute() -> None:
    row = run(make_raw({"gen_ai.request.model": "priced-model", "gen_ai.usage.input_tokens": "1000",
                        "gen_ai.usage.output_tokens": "500"}))
    assert row["cost_usd"] == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1_000_000)


def test_price_table_uses_the_chosen_model() -> None:
    row = run(make_raw({"gen_ai.response.model": "other-model", "gen_ai.request.model": "priced-model",
                        "llm.token_count.prompt": "1000000"}))
    assert row["model"] == "other-model"
    assert row["cost_usd"] == pytest.approx(10.0)


def test_shipped_price_table_prices_a_known_model() -> None:
    row = run(make_raw({"gen_ai.request.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": "1000000",
                        "gen_ai.usage.output_tokens": "1000000"}), prices=PriceTable.load())
    assert row["cost_usd"] == pytest.approx(0.15 + 0.60)


@pytest.mark.parametrize("key", names(keys.COST))
def test_cost_attribute_wins_over_the_price_table(key: str) -> None:
    row = run(make_raw({key: "0.125", "gen_ai.request.model": "priced-model",
                        "gen_ai.usage.input_tokens": "1000000"}))
    assert row["cost_usd"] == 0.125


def test_a_reported_zero_cost_is_kept() -> None:
    row = run(make_raw({"gen_ai.usage.cost": "0", "gen_ai.request.model": "priced-model",
                        "gen_ai.usage.input_tokens": "1000000"}))
    assert row["cost_usd"] == 0.0


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "-inf", ""])
def test_unusable_cost_attribute_falls_back_to_the_price_table(value: str) -> None:
    row = run(make_raw({"gen_ai.usage.cost": value, "gen_ai.request.model": "priced-model",
                        "gen_ai.usage.input_tokens": "1000000"}))
    assert row["cost_usd"] == pytest.approx(1.0)


def test_unknown_model_costs_nothing() -> None:
    row = run(make_raw({"gen_ai.request.model": "mystery", "gen_ai.usage.input_tokens": "1000"}))
    assert row["cost_usd"] == 0.0


def test_no_model_costs_nothing() -> None:
    assert run(make_raw({"gen_ai.usage.input_tokens": "1000"}))["cost_usd"] == 0.0


# --- tokens -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("12", 12), ("12.9", 12), ("1e3", 1000), (" 7 ", 7), ("-3", 0), ("abc", 0), ("", 0), ("nan", 0),
    ("inf", 0), ("-inf", 0), ("1e400", 0), ("0x10", 0), ("true", 0),
])
def test_token_values_are_parsed_leniently(value: str, expected: int) -> None:
    row = run(make_raw({"gen_ai.usage.input_tokens": value}))
    assert row["input_tokens"] == expected


def test_large_integer_token_values_are_exact() -> None:
    row = run(make_raw({"gen_ai.usage.input_tokens": "12345678901234567"}))
    assert row["input_tokens"] == 12345678901234567


def test_absurd_token_values_still_fit_the_column() -> None:
    row = run(make_raw({"gen_ai.usage.input_tokens": "9" * 40, "gen_ai.usage.output_tokens": "9" * 40,
                        "llm.token_count.total": "9" * 40, "threadline.trace.total_tokens": "9" * 40}))
    for column in ("input_tokens", "output_tokens", "total_tokens", "reported_tokens"):
        assert 0 <= row[column] <= UINT64_MAX
    rows_to_arrow([row])


def test_total_is_the_sum_when_not_reported() -> None:
    row = run(make_raw({"gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "5"}))
    assert row["total_tokens"] == 15


def test_reported_total_wins_over_the_sum() -> None:
    row = run(make_raw({"gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "5",
                        "llm.token_count.total": "20"}))
    assert row["total_tokens"] == 20


# --- span type ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("attributes", "expected"), [
    ({"gen_ai.request.model": "m"}, "llm"),
    ({"gen_ai.usage.input_tokens": "3"}, "llm"),
    ({"gen_ai.usage.output_tokens": "3"}, "llm"),
    ({"llm.token_count.total": "3"}, "llm"),
    ({}, "span"),
    ({"gen_ai.usage.input_tokens": "0"}, "span"),
    ({"openinference.span.kind": "LLM"}, "llm"),
    ({"openinference.span.kind": "RETRIEVER"}, "retriever"),
    ({"gen_ai.operation.name": "chat"}, "llm"),
    ({"gen_ai.operation.name": "execute_tool"}, "tool"),
    ({"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "m"}, "embedding"),
    ({"traceloop.span.kind": "workflow"}, "chain"),
    ({"langfuse.observation.type": "generation"}, "llm"),
    ({"openinference.span.kind": "TOOL", "gen_ai.request.model": "m"}, "tool"),
    ({"openinference.span.kind": "Something", "gen_ai.request.model": "m"}, "llm"),
    ({"openinference.span.kind": "Something"}, "something"),
    ({"openinference.span.kind": "X" * 100}, "x" * 32),
])
def test_span_type(attributes: dict[str, str], expected: str) -> None:
    assert run(make_raw(attributes))["span_type"] == expected


@pytest.mark.parametrize(("value", "expected"), sorted(keys.SPAN_TYPE_VALUES.items()))
def test_every_span_type_value_is_normalised(value: str, expected: str) -> None:
    assert run(make_raw({"threadline.span.type": value.upper()}))["span_type"] == expected


def test_explicit_span_type_with_model_and_no_type_infers_llm() -> None:
    row = run(make_raw(explicit={"span_type": None, "model": "m"}))
    assert row["span_type"] == "llm"


# --- metadata and tags --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": "x", "b": 1, "c": {"d": true}, "e": null}', [("a", "x"), ("b", "1"), ("c", '{"d": true}'),
                                                         ("e", "null")]),
    ("{}", []),
    ("{bad json", []),
    ("[1, 2]", []),
    ('"text"', []),
    ("null", []),
    ("42", []),
    ("[" * 5000, []),
    ('{"a": ' * 5000, []),
])
def test_metadata_json(text: str, expected: list[tuple[str, str]]) -> None:
    assert run(make_raw({"metadata": text}))["metadata"] == expected


@pytest.mark.parametrize(("text", "expected"), [
    ('["a", "b"]', ["a", "b"]),
    ("[]", []),
    ('[1, "x", {"k": "v"}]', ["1", "x", '{"k": "v"}']),
    ("not json", ["not json"]),
    ('"solo"', ["solo"]),
    ("7", ["7"]),
    ("null", []),
    ("[" * 5000, ["[" * 5000]),
])
def test_tags_json(text: str, expected: list[str]) -> None:
    assert run(make_raw({"tag.tags": text}))["tags"] == expected


def test_metadata_is_not_read_from_the_resource() -> None:
    assert run(make_raw(resource={"metadata": '{"a": "b"}'}))["metadata"] == []


# --- the rest of the row ------------------------------------------------------------------------------------------

def test_row_carries_the_span_fields() -> None:
    raw = make_raw({"k": "v"}, resource={"service.name": "svc", "host.name": "h"}, parent_span_id=PARENT,
                   name="chat gpt-4o", kind="CLIENT", status_code="ERROR", status_message="boom",
                   scope_name="openinference.instrumentation.openai")
    row = run(raw)
    assert row["project_id"] == "proj"
    assert (row["trace_id"], row["span_id"], row["parent_span_id"]) == (TRACE, SPAN, PARENT)
    assert (row["name"], row["kind"], row["status_code"], row["status_message"]) == (
        "chat gpt-4o", "CLIENT", "ERROR", "boom")
    assert (row["start_time"], row["end_time"], row["duration_ns"]) == (START, END, END - START)
    assert row["service_name"] == "svc"
    assert row["scope_name"] == "openinference.instrumentation.openai"
    assert row["attributes"] == [("k", "v")]
    assert row["resource_attributes"] == [("service.name", "svc"), ("host.name", "h")]
    assert row["ingested_at"] == INGESTED_US


def test_row_has_exactly_the_columns_of_the_spans_schema() -> None:
    row = run(make_raw({"session.id": "s", "metadata": '{"a": 1}', "tag.tags": '["t"]'},
                       events=[SpanEvent(START, "gen_ai.user.message", {"content": "hi"})]))
    assert set(row) == set(SPAN_SCHEMA.names)
    table = rows_to_arrow([row])
    assert table.num_rows == 1
    assert table.column("session_id").to_pylist() == ["s"]


@pytest.mark.parametrize("value", ["success", "failure", "indeterminate", "SUCCESS"])
def test_end_state_values(value: str) -> None:
    assert run(make_raw({"session.end_state": value}))["end_state"] == value.lower()


@pytest.mark.parametrize("value", ["active", "done", "ok", ""])
def test_unknown_end_state_is_dropped(value: str) -> None:
    assert run(make_raw({"session.end_state": value}))["end_state"] == ""


# --- properties ---------------------------------------------------------------------------------------------------

KNOWN_KEYS = sorted({key.name for value in vars(keys).values()
                     if isinstance(value, tuple) for key in value if isinstance(key, keys.Key)})
ODD_VALUES = ["", "0", "-1", "1.5", "1e400", "inf", "-inf", "nan", "NaN", "9" * 40, "12abc", " 7 ", "0x10", "true",
              "{}", "[]", "null", '{"a": 1}', '["t"]', "[" * 50, "LLM", "tool", "success", "é"]
attr_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=20))
attr_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(ODD_VALUES),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.builds(lambda n, c: c * n, st.integers(MAX_ID_LENGTH - 2, MAX_ID_LENGTH + 2), st.sampled_from("ab")),
)
attr_dicts = st.dictionaries(attr_keys, attr_values, max_size=12)
event_times = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, 2**63 - 1, 2**63, 2**64 - 1]))
events = st.lists(st.builds(
    SpanEvent, event_times, st.sampled_from([*keys.INPUT_EVENTS, *keys.OUTPUT_EVENTS, "other"]),
    st.dictionaries(st.sampled_from([*keys.EVENT_CONTENT, "role"]), st.text(max_size=10), max_size=3)), max_size=3)


def expected_first(attributes: dict[str, str], resource: dict[str, str], candidates: tuple[keys.Key, ...]) -> str:
    """Independent statement of the precedence rule: span keys in list order, then resource keys in list order."""
    for source in (attributes, resource):
        for name in [k.name for k in candidates]:
            if name in source and source[name] != "":
                return source[name]
    return ""


@given(attributes=attr_dicts, resource=attr_dicts, span_events=events)
@PROPS
def test_random_attributes_never_break_normalize(attributes: dict[str, str], resource: dict[str, str],
                                                 span_events: list[SpanEvent]) -> None:
    raw = make_raw(attributes, resource=resource, events=span_events)
    session = expected_first(attributes, resource, keys.SESSION_ID)
    if not session and any(resource.get(key.name) for key in keys.TRACE_IS_SESSION):
        session = raw.trace_id  # a client that shows each trace as a session (AgentOps) and names none
    user = expected_first(attributes, resource, keys.USER_ID)
    previous = expected_first(attributes, resource, keys.PREVIOUS_SESSION_ID)
    too_long = max(len(session), len(user), len(previous)) > MAX_ID_LENGTH
    bad_time = any(e.time_ns > 2**63 - 1 for e in span_events)
    try:
        row = run(raw)
    except InvalidSpan as exc:
        assert too_long or bad_time, f"unexpected rejection: {exc}"
        return
    assert not too_long and not bad_time
    assert row["session_id"] == session
    assert row["user_id"] == user
    assert row["session_previous_id"] == previous
    for column in ("input_tokens", "output_tokens", "total_tokens", "reported_tokens"):
        assert type(row[column]) is int and 0 <= row[column] <= UINT64_MAX, (column, row[column])
    assert row["total_tokens"] >= 0
    for column in ("cost_usd", "reported_cost_usd"):
        assert isinstance(row[column], float) and math.isfinite(row[column]) and row[column] >= 0, column
    assert row["end_state"] in {*END_STATES, ""}
    assert row["span_type"] and len(row["span_type"]) <= 32
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in row["metadata"])
    assert all(isinstance(t, str) for t in row["tags"])
    rows_to_arrow([row])  # every row fits the spans table


@given(attributes=attr_dicts, key=st.sampled_from(names(keys.INPUT_TOKENS)), count=st.integers(0, 10**15))
@PROPS
def test_integer_token_counts_round_trip(attributes: dict[str, str], key: str, count: int) -> None:
    candidates = names(keys.INPUT_TOKENS)
    ids = {*names(keys.SESSION_ID), *names(keys.USER_ID), *names(keys.PREVIOUS_SESSION_ID)}
    attributes = {k: v for k, v in attributes.items() if k not in candidates[: candidates.index(key) + 1]
                  and k not in ids}
    attributes[key] = str(count)
    assert run(make_raw(attributes))["input_tokens"] == count


@given(session=st.text(min_size=1, max_size=MAX_ID_LENGTH), noise=attr_dicts,
       key=st.sampled_from(names(keys.SESSION_ID)))
@PROPS
def test_session_id_is_kept_verbatim(session: str, noise: dict[str, str], key: str) -> None:
    attributes = {k: v for k, v in noise.items() if k not in names(keys.SESSION_ID)
                  and k not in names(keys.USER_ID) and k not in names(keys.PREVIOUS_SESSION_ID)}
    attributes[key] = session
    assert run(make_raw(attributes))["session_id"] == session


def test_metadata_round_trips_through_json() -> None:
    metadata = {"plan": "pro", "n": 3, "nested": {"x": [1, 2]}}
    row = run(make_raw({"metadata": json.dumps(metadata)}))
    assert {k: json.loads(v) if k != "plan" else v for k, v in row["metadata"]} == metadata


def test_promoted_input_and_output_are_not_stored_twice_in_attributes() -> None:
    """input.value/output.value become the input/output columns; attributes keep everything else."""
    row = run(make_raw({"input.value": "Where is my order?", "output.value": "It ships tomorrow.",
                        "llm.model_name": "gpt-4o", "note": "", "copy": "kept: not the promoted value"}))
    assert (row["input"], row["output"]) == ("Where is my order?", "It ships tomorrow.")
    assert dict(row["attributes"]) == {"llm.model_name": "gpt-4o", "note": "", "copy": "kept: not the promoted value"}
