"""Unit tests of :mod:`threadline.ingest.native`: pydantic validation of native batches, id generation, times, and
where trace-level fields land."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from threadline.ingest.native import IngestedTrace, IngestResponse, NativeBatch, NativeTrace, to_raw_spans
from threadline.ingest.normalize import InvalidSpan, normalize
from threadline.ingest.pricing import Price, PriceTable
from threadline.ingest.spans import RawSpan, SpanRow, rows_to_arrow

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = "00f067aa0ba902b7"
CHILD = "53995c3f42cd8ad8"
T0 = "2026-01-01T10:00:00Z"
T0_NS = int(datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp()) * 1_000_000_000
PRICES = PriceTable({"priced-model": Price(input=1.0, output=2.0)})


def span(**fields: Any) -> dict[str, Any]:
    return {"name": "step", "start_time": T0, **fields}


def trace(*spans: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "turn", "spans": list(spans) or [span()], **fields}


def parse(*traces: dict[str, Any]) -> list[NativeTrace]:
    return NativeBatch.model_validate(list(traces)).root


def convert(*traces: dict[str, Any]) -> tuple[list[RawSpan], list[IngestedTrace]]:
    return to_raw_spans(parse(*traces))


def rows(*traces: dict[str, Any]) -> list[SpanRow]:
    raw_spans, _ = convert(*traces)
    return [normalize(raw, "proj", PRICES, 0) for raw in raw_spans]


def errors(document: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        NativeBatch.model_validate(document)
    return [dict(e) for e in info.value.errors()]


def error_locations(document: Any) -> set[tuple[Any, ...]]:
    return {tuple(e["loc"]) for e in errors(document)}


# --- validation ---------------------------------------------------------------------------------------------------

def test_a_minimal_batch_is_valid() -> None:
    (parsed,) = parse(trace())
    assert parsed.name == "turn" and parsed.trace_id is None and parsed.session_id is None
    assert parsed.spans[0].name == "step" and parsed.spans[0].end_time is None


@pytest.mark.parametrize("trace_id", [TRACE.upper(), TRACE[:-1], TRACE + "0", "g" * 32, "", f"0x{TRACE[2:]}"])
def test_bad_trace_id(trace_id: str) -> None:
    assert (0, "trace_id") in error_locations([trace(trace_id=trace_id)])


@pytest.mark.parametrize("field", ["span_id", "parent_span_id"])
@pytest.mark.parametrize("value", [ROOT.upper(), ROOT[:-1], ROOT + "0", "z" * 16, "", TRACE])
def test_bad_span_ids(field: str, value: str) -> None:
    assert (0, "spans", 0, field) in error_locations([trace(span(**{field: value}))])


def test_missing_names() -> None:
    no_trace_name = trace()
    del no_trace_name["name"]
    no_span_name = span()
    del no_span_name["name"]
    assert (0, "name") in error_locations([no_trace_name])
    assert (0, "spans", 0, "name") in error_locations([trace(no_span_name)])


@pytest.mark.parametrize("where", ["trace", "span"])
def test_empty_name(where: str) -> None:
    document = trace(name="") if where == "trace" else trace(span(name=""))
    location = (0, "name") if where == "trace" else (0, "spans", 0, "name")
    assert location in error_locations([document])


def test_missing_start_time() -> None:
    no_start = span()
    del no_start["start_time"]
    assert (0, "spans", 0, "start_time") in error_locations([trace(no_start)])


@pytest.mark.parametrize(("where", "field", "value"), [
    ("span", "input_tokens", -1), ("span", "output_tokens", -5), ("span", "cost_usd", -0.01),
    ("trace", "total_tokens", -1), ("trace", "total_cost_usd", -1.0),
    ("span", "input_tokens", 2**64), ("trace", "total_tokens", 2**70),
    ("span", "cost_usd", float("inf")), ("span", "cost_usd", float("nan")), ("trace", "total_cost_usd", float("inf")),
    ("span", "input_tokens", 1.5), ("span", "output_tokens", "many"),
])
def test_bad_numbers(where: str, field: str, value: Any) -> None:
    document = trace(**{field: value}) if where == "trace" else trace(span(**{field: value}))
    location = (0, field) if where == "trace" else (0, "spans", 0, field)
    assert location in error_locations([document])


def test_json_infinity_cost_is_rejected() -> None:
    body = '[{"name": "t", "spans": [{"name": "s", "start_time": 1700000000, "cost_usd": Infinity}]}]'
    with pytest.raises(ValidationError):
        NativeBatch.model_validate_json(body)


@pytest.mark.parametrize("where", ["trace", "span"])
def test_extra_fields_are_forbidden(where: str) -> None:
    document = trace(colour="blue") if where == "trace" else trace(span(colour="blue"))
    found = errors([document])
    location = (0, "colour") if where == "trace" else (0, "spans", 0, "colour")
    assert any(tuple(e["loc"]) == location and e["type"] == "extra_forbidden" for e in found)


@pytest.mark.parametrize("name", ["session", "sessionId", "total_cost", "tokens"])
def test_misspelt_trace_fields_are_not_silently_ignored(name: str) -> None:
    assert (0, name) in error_locations([trace(**{name: "x"})])


def test_empty_spans_list() -> None:
    assert (0, "spans") in error_locations([trace(spans=[])])


def test_missing_spans() -> None:
    document = trace()
    del document["spans"]
    assert (0, "spans") in error_locations([document])


@pytest.mark.parametrize("document", [{}, {"name": "t", "spans": []}, "traces", None, 5])
def test_the_body_must_be_a_list(document: Any) -> None:
    with pytest.raises(ValidationError):
        NativeBatch.model_validate(document)


def test_an_empty_batch_is_valid_and_empty() -> None:
    assert convert() == ([], [])


@pytest.mark.parametrize("field", ["session_id", "user_id"])
def test_id_length_limits(field: str) -> None:
    assert parse(trace(**{field: "x" * 256}))[0].model_dump()[field] == "x" * 256
    assert (0, field) in error_locations([trace(**{field: "x" * 257})])
    assert (0, field) in error_locations([trace(**{field: ""})])


def test_bad_span_type_and_status() -> None:
    assert (0, "spans", 0, "type") in error_locations([trace(span(type="banana"))])
    assert (0, "spans", 0, "status") in error_locations([trace(span(status="fine"))])


def test_errors_point_at_the_right_trace_and_span() -> None:
    document = [trace(), trace(span(), span(input_tokens=-1))]
    assert (1, "spans", 1, "input_tokens") in error_locations(document)


# --- ids ----------------------------------------------------------------------------------------------------------

def test_ids_are_generated_when_absent() -> None:
    raw_spans, ids = convert(trace(span(), span()), trace(span()))
    assert len(ids) == 2 and [len(i.span_ids) for i in ids] == [2, 1]
    for raw in raw_spans:
        assert re.fullmatch(r"[0-9a-f]{32}", raw.trace_id) and re.fullmatch(r"[0-9a-f]{16}", raw.span_id)
    assert raw_spans[0].trace_id == raw_spans[1].trace_id != raw_spans[2].trace_id
    assert len({raw.span_id for raw in raw_spans}) == 3
    assert [raw.span_id for raw in raw_spans] == ids[0].span_ids + ids[1].span_ids
    assert [ids[0].trace_id] * 2 + [ids[1].trace_id] == [raw.trace_id for raw in raw_spans]


def test_generated_ids_differ_between_requests() -> None:
    document = trace(span())
    first, second = convert(document)[1][0], convert(copy.deepcopy(document))[1][0]
    assert first.trace_id != second.trace_id and first.span_ids != second.span_ids


def test_given_ids_are_preserved() -> None:
    raw_spans, ids = convert(trace(span(span_id=ROOT), span(span_id=CHILD, parent_span_id=ROOT), trace_id=TRACE))
    assert ids == [IngestedTrace(trace_id=TRACE, span_ids=[ROOT, CHILD])]
    assert [(r.trace_id, r.span_id, r.parent_span_id) for r in raw_spans] == [(TRACE, ROOT, ""), (TRACE, CHILD, ROOT)]


def test_a_missing_span_id_is_generated_next_to_given_ones() -> None:
    raw_spans, ids = convert(trace(span(span_id=ROOT), span(parent_span_id=ROOT), trace_id=TRACE))
    assert ids[0].span_ids[0] == ROOT and ids[0].span_ids[1] != ROOT
    assert raw_spans[1].span_id == ids[0].span_ids[1] and raw_spans[1].parent_span_id == ROOT


def test_converted_spans_pass_validation() -> None:
    assert len(rows(trace(span(), span(span_id=CHILD)), trace(span()))) == 3


def test_ingest_response_shape() -> None:
    _, ids = convert(trace())
    response = IngestResponse(traces=ids, accepted_spans=1)
    assert response.model_dump()["traces"][0]["span_ids"] == ids[0].span_ids


# --- times --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected_ns"), [
    ("2026-01-01T10:00:00Z", T0_NS),
    ("2026-01-01T10:00:00+00:00", T0_NS),
    ("2026-01-01T10:00:00", T0_NS),  # naive: UTC, not the server's local time
    ("2026-01-01 10:00:00", T0_NS),
    ("2026-01-01T12:00:00+02:00", T0_NS),
    ("2026-01-01T05:00:00-05:00", T0_NS),
    ("2026-01-01T10:00:00.123456Z", T0_NS + 123_456_000),
    ("2026-01-01T10:00:00.999999", T0_NS + 999_999_000),
    (T0_NS // 1_000_000_000, T0_NS),  # epoch seconds
    (T0_NS / 1_000_000_000 + 0.25, T0_NS + 250_000_000),  # fractional epoch seconds
    (str(T0_NS // 1_000_000_000), T0_NS),
])
def test_start_times(value: Any, expected_ns: int) -> None:
    (raw,), _ = convert(trace(span(start_time=value)))
    assert raw.start_ns == expected_ns
    assert raw.end_ns == expected_ns  # end defaults to start


def test_naive_datetime_objects_are_utc() -> None:
    (raw,), _ = convert(trace(span(start_time=datetime(2026, 1, 1, 10), end_time=datetime(2026, 1, 1, 10, 0, 2))))
    assert (raw.start_ns, raw.end_ns) == (T0_NS, T0_NS + 2_000_000_000)


def test_end_time_is_kept() -> None:
    (raw,), _ = convert(trace(span(end_time="2026-01-01T10:00:01.5Z")))
    assert raw.end_ns - raw.start_ns == 1_500_000_000


def test_end_before_start_is_rejected_by_normalize() -> None:
    with pytest.raises(InvalidSpan, match="before start"):
        rows(trace(span(end_time="2026-01-01T09:59:59Z")))


def test_times_before_1970_are_rejected_by_normalize() -> None:
    with pytest.raises(InvalidSpan, match="start and end times"):
        rows(trace(span(start_time="1969-12-31T23:59:59.5Z", end_time="1970-01-01T00:00:01Z")))


def test_times_after_2262_are_rejected_by_normalize() -> None:
    with pytest.raises(InvalidSpan, match="out of range"):
        rows(trace(span(end_time="2300-01-01T00:00:00Z")))


def test_bad_time_is_a_validation_error() -> None:
    assert (0, "spans", 0, "start_time") in error_locations([trace(span(start_time="yesterday"))])


# --- trace-level fields -------------------------------------------------------------------------------------------

TRACE_FIELDS: dict[str, Any] = {"session_id": "chat-1", "user_id": "u-1", "metadata": {"plan": "pro", "n": 2},
                                "tags": ["vip", "beta"], "total_cost_usd": 0.5, "total_tokens": 900}


def test_trace_fields_land_on_the_first_parentless_span_only() -> None:
    document = trace(span(span_id=CHILD, parent_span_id=ROOT, name="child first"),
                     span(span_id=ROOT, name="root"),
                     span(span_id="1111111111111111", name="second parentless"),
                     name="turn 3", trace_id=TRACE, **TRACE_FIELDS)
    raw_spans, _ = convert(document)
    carrying = [raw.name for raw in raw_spans if "trace_name" in raw.explicit]
    assert carrying == ["root"]
    root = raw_spans[1].explicit
    assert root["trace_name"] == "turn 3"
    assert root["metadata"] == {"plan": "pro", "n": "2"}
    assert root["tags"] == ["vip", "beta"]
    assert (root["reported_cost_usd"], root["reported_tokens"]) == (0.5, 900)

    by_name = {row["name"]: row for row in rows(document)}
    assert by_name["root"]["trace_name"] == "turn 3"
    assert by_name["root"]["metadata"] == [("plan", "pro"), ("n", "2")]
    assert by_name["root"]["tags"] == ["vip", "beta"]
    assert (by_name["root"]["reported_cost_usd"], by_name["root"]["reported_tokens"]) == (0.5, 900)
    for name in ("child first", "second parentless"):
        row = by_name[name]
        assert (row["trace_name"], row["metadata"], row["tags"]) == ("", [], [])
        assert (row["reported_cost_usd"], row["reported_tokens"]) == (0.0, 0)
    for row in by_name.values():
        assert (row["session_id"], row["user_id"]) == ("chat-1", "u-1")


def test_trace_fields_fall_to_the_first_span_when_every_span_has_a_parent() -> None:
    document = trace(span(parent_span_id=ROOT, name="a"), span(parent_span_id=ROOT, name="b"), name="t",
                     total_tokens=5)
    raw_spans, _ = convert(document)
    assert [raw.explicit.get("trace_name") for raw in raw_spans] == ["t", None]
    assert raw_spans[0].explicit["reported_tokens"] == 5


def test_session_and_user_on_every_span_of_every_trace() -> None:
    batch = [trace(span(), span(), session_id="s-1", user_id="u-1"), trace(span(), session_id="s-2")]
    assert [(r["session_id"], r["user_id"]) for r in rows(*batch)] == [("s-1", "u-1"), ("s-1", "u-1"), ("s-2", "")]


def test_without_a_session_id_attributes_still_count() -> None:
    (row,) = rows(trace(span(attributes={"session.id": "from-attr", "user.id": "u-attr"})))
    assert (row["session_id"], row["user_id"]) == ("from-attr", "u-attr")


def test_the_trace_session_id_beats_span_attributes() -> None:
    (row,) = rows(trace(span(attributes={"session.id": "from-attr"}), session_id="from-trace"))
    assert row["session_id"] == "from-trace"


def test_trace_without_optional_fields() -> None:
    (raw,), _ = convert(trace())
    assert raw.explicit["trace_name"] == "turn"
    assert raw.explicit["metadata"] == {}
    assert raw.explicit["tags"] is None
    assert raw.explicit["session_id"] is None and raw.explicit["reported_tokens"] is None


# --- span fields --------------------------------------------------------------------------------------------------

def test_span_fields_reach_the_row() -> None:
    (row,) = rows(trace(span(type="llm", model="priced-model", input={"messages": [{"role": "user", "content": "hi"}]},
                             output="hello", input_tokens=1000, output_tokens=500, status="error",
                             status_message="timeout", attributes={"temperature": 0.2, "stream": True, "s": "x"})))
    assert (row["span_type"], row["model"], row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (
        "llm", "priced-model", 1000, 500, 1500)
    assert row["cost_usd"] == pytest.approx(0.002)
    assert row["input"] == '{"messages": [{"role": "user", "content": "hi"}]}'
    assert row["output"] == "hello"
    assert (row["status_code"], row["status_message"]) == ("ERROR", "timeout")
    assert dict(row["attributes"]) == {"temperature": "0.2", "stream": "true", "s": "x"}
    assert row["kind"] == "INTERNAL"
    rows_to_arrow([row])


def test_explicit_cost_beats_the_price_table() -> None:
    (row,) = rows(trace(span(model="priced-model", input_tokens=1000, cost_usd=0.0)))
    assert row["cost_usd"] == 0.0


@pytest.mark.parametrize(("status", "expected"), [("ok", "OK"), ("OK", "OK"), ("error", "ERROR"), ("unset", "UNSET")])
def test_status(status: str, expected: str) -> None:
    (raw,), _ = convert(trace(span(status=status)))
    assert raw.status_code == expected


def test_default_status_is_unset() -> None:
    (raw,), _ = convert(trace())
    assert (raw.status_code, raw.status_message) == ("UNSET", "")


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "span"),
    ({"model": "gpt-4o"}, "llm"),
    ({"input_tokens": 10}, "llm"),
    ({"output_tokens": 10}, "llm"),
    ({"type": "tool", "model": "gpt-4o"}, "tool"),
    ({"type": "generation"}, "llm"),
    ({"type": "embedding", "input_tokens": 3}, "embedding"),
    ({"type": "span", "model": "gpt-4o"}, "span"),
])
def test_span_type(fields: dict[str, Any], expected: str) -> None:
    (row,) = rows(trace(span(**fields)))
    assert row["span_type"] == expected


def test_span_type_attribute_is_used_when_type_is_absent() -> None:
    (row,) = rows(trace(span(attributes={"openinference.span.kind": "RETRIEVER"})))
    assert row["span_type"] == "retriever"


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), ("plain", "plain"), ({"a": 1}, '{"a": 1}'), ([1, "x"], '[1, "x"]'), (3, "3"), (True, "true"),
])
def test_input_and_output_as_text(value: Any, text: str) -> None:
    (raw,), _ = convert(trace(span(input=value, output=value)))
    assert raw.explicit["input"] == raw.explicit["output"] == text


def test_non_json_values_are_stringified() -> None:
    (raw,), _ = convert(trace(span(attributes={"when": datetime(2026, 1, 1, tzinfo=UTC)})))
    assert raw.attributes["when"] == '"2026-01-01 00:00:00+00:00"'
