"""Unit tests of :mod:`threadline.ingest.otlp`: protobuf and OTLP JSON decoding into RawSpans, decode errors, and
the encoding of ExportTraceServiceResponse."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource as SdkResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline.ingest.normalize import InvalidSpan, normalize
from threadline.ingest.otlp import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    any_value_text,
    attributes_dict,
    decode_request,
    encode_response,
    to_raw_spans,
)
from threadline.ingest.pricing import PriceTable
from threadline.ingest.spans import RawSpan, rows_to_arrow

TRACE = "5b8efff798038103d269b633813fc60c"
ROOT = "eee19b7ec3c1b174"
CHILD = "eee19b7ec3c1b173"
START = 1_544_712_660_000_000_000
END = 1_544_712_661_000_000_000
SHIPPED_PRICES = PriceTable.load()
PROPS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def s(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def build_request() -> ExportTraceServiceRequest:
    """A request with one resource, one scope, a root span and a child with events, built with the proto classes."""
    root = Span(trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(ROOT), name="agent turn",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=START, end_time_unix_nano=END,
                attributes=[kv("session.id", s("chat-1")), kv("user.id", s("u-7"))],
                status=Status(code=Status.STATUS_CODE_OK))
    child = Span(trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(CHILD), parent_span_id=bytes.fromhex(ROOT),
                 name="chat gpt-4o", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=START + 10,
                 end_time_unix_nano=END - 10,
                 attributes=[kv("gen_ai.request.model", s("gpt-4o")),
                             kv("gen_ai.usage.input_tokens", AnyValue(int_value=12)),
                             kv("temperature", AnyValue(double_value=0.5)),
                             kv("stream", AnyValue(bool_value=True))],
                 status=Status(code=Status.STATUS_CODE_ERROR, message="rate limited"),
                 events=[Span.Event(time_unix_nano=START + 20, name="gen_ai.user.message",
                                    attributes=[kv("content", s("hi"))])])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[kv("service.name", s("my-agent")), kv("pid", AnyValue(int_value=42))]),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="openinference.openai", version="1.0"),
                                spans=[root, child])])])


def check_decoded(spans: list[RawSpan]) -> None:
    assert len(spans) == 2
    root, child = spans
    assert (root.trace_id, root.span_id, root.parent_span_id) == (TRACE, ROOT, "")
    assert (child.trace_id, child.span_id, child.parent_span_id) == (TRACE, CHILD, ROOT)
    assert (root.name, root.kind, root.status_code, root.status_message) == ("agent turn", "SERVER", "OK", "")
    assert (child.name, child.kind, child.status_code, child.status_message) == (
        "chat gpt-4o", "CLIENT", "ERROR", "rate limited")
    assert (root.start_ns, root.end_ns) == (START, END)
    assert (child.start_ns, child.end_ns) == (START + 10, END - 10)
    assert root.attributes == {"session.id": "chat-1", "user.id": "u-7"}
    assert child.attributes == {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "12",
                                "temperature": "0.5", "stream": "true"}
    for span in spans:
        assert span.resource_attributes == {"service.name": "my-agent", "pid": "42"}
        assert span.scope_name == "openinference.openai"
        assert span.explicit == {}
    assert root.events == []
    assert len(child.events) == 1
    event = child.events[0]
    assert (event.time_ns, event.name, event.attributes) == (START + 20, "gen_ai.user.message", {"content": "hi"})


def ids_to_hex(node: Any) -> Any:
    """MessageToDict writes bytes ids as base64; OTLP JSON wants hex."""
    if isinstance(node, dict):
        return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else ids_to_hex(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [ids_to_hex(v) for v in node]
    return node


def decode_json(document: Any) -> list[RawSpan]:
    return to_raw_spans(decode_request(json.dumps(document).encode(), JSON))


def one_span_document(span: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    base = {"traceId": TRACE, "spanId": ROOT, "name": "s", "startTimeUnixNano": str(START),
            "endTimeUnixNano": str(END)}
    return {"resourceSpans": [{"resource": resource or {}, "scopeSpans": [{"scope": {"name": "sc"},
                                                                             "spans": [{**base, **span}]}]}]}


# --- protobuf -----------------------------------------------------------------------------------------------------

def test_decode_protobuf() -> None:
    body = build_request().SerializeToString()
    check_decoded(to_raw_spans(decode_request(body, PROTOBUF)))


def test_decode_protobuf_from_the_otel_sdk_encoder() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create({"service.name": "sdk-app", "session.id": "res-sess"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.scope")
    with tracer.start_as_current_span("parent") as parent:
        parent.set_attribute("tags", ["a", "b"])
        with tracer.start_as_current_span("child") as child:
            child.set_attribute("gen_ai.usage.input_tokens", 5)
            child.add_event("gen_ai.choice", {"content": "done"})
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    spans = {span.name: span for span in to_raw_spans(decode_request(body, PROTOBUF))}
    parent_context = parent.get_span_context()
    assert spans["parent"].trace_id == format(parent_context.trace_id, "032x")
    assert spans["parent"].span_id == format(parent_context.span_id, "016x")
    assert spans["parent"].parent_span_id == ""
    assert spans["child"].parent_span_id == spans["parent"].span_id
    assert spans["parent"].attributes["tags"] == '["a", "b"]'
    assert spans["child"].attributes["gen_ai.usage.input_tokens"] == "5"
    assert spans["child"].events[0].attributes == {"content": "done"}
    assert spans["child"].resource_attributes["session.id"] == "res-sess"
    assert spans["child"].scope_name == "my.scope"
    assert spans["child"].start_ns <= spans["child"].end_ns


def test_empty_protobuf_body_is_an_empty_request() -> None:
    assert to_raw_spans(decode_request(b"", PROTOBUF)) == []


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"not a protobuf", b"\x0a\x05abc", b"\x0a\xff\xff\xff\xff\x0f"])
def test_garbage_protobuf_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="not a protobuf"):
        decode_request(body, PROTOBUF)


def test_several_resources_keep_their_own_attributes() -> None:
    request = build_request()
    other = ResourceSpans(resource=Resource(attributes=[kv("service.name", s("other"))]),
                          scope_spans=[ScopeSpans(spans=[Span(trace_id=bytes.fromhex(TRACE), span_id=b"\x01" * 8,
                                                              name="x")])])
    request.resource_spans.append(other)
    spans = to_raw_spans(decode_request(request.SerializeToString(), PROTOBUF))
    assert [sp.resource_attributes["service.name"] for sp in spans] == ["my-agent", "my-agent", "other"]
    assert spans[2].scope_name == ""


def test_out_of_range_kind_and_status_fall_back() -> None:
    span = Span(trace_id=bytes.fromhex(TRACE), span_id=bytes.fromhex(ROOT), name="x", kind=99,  # type: ignore[arg-type]
                status=Status(code=7))  # type: ignore[arg-type]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])
    (raw,) = to_raw_spans(decode_request(request.SerializeToString(), PROTOBUF))
    assert (raw.kind, raw.status_code) == ("UNSPECIFIED", "UNSET")


@given(st.binary(max_size=200))
@PROPS
def test_arbitrary_bytes_decode_or_raise_decode_error(body: bytes) -> None:
    try:
        request = decode_request(body, PROTOBUF)
    except OtlpDecodeError:
        return
    for raw in to_raw_spans(request):
        assert isinstance(raw.trace_id, str) and isinstance(raw.span_id, str)


any_values = st.recursive(
    st.one_of(st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=20)),
              st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
              st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=True, allow_infinity=True)),
              st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
              st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
              st.just(AnyValue())),
    lambda children: st.one_of(
        st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(children, max_size=3)),
        st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[kv(k, v) for k, v in kvs])),
                  st.lists(st.tuples(st.text(max_size=5), children), max_size=3))),
    max_leaves=6)
attribute_lists = st.lists(st.builds(kv, st.one_of(st.sampled_from(
    ["session.id", "user.id", "gen_ai.usage.input_tokens", "gen_ai.usage.cost", "gen_ai.request.model", "metadata",
     "tag.tags", "session.previous_id", "llm.token_count.total"]), st.text(max_size=10)), any_values), max_size=6)
times = st.one_of(st.integers(0, 2**64 - 1), st.integers(START - 10**9, START + 10**9))
proto_spans = st.builds(
    lambda tid, sid, pid, name, kind, code, start, end, attrs, events: Span(
        trace_id=tid, span_id=sid, parent_span_id=pid, name=name, kind=kind, status=Status(code=code),
        start_time_unix_nano=start, end_time_unix_nano=end, attributes=attrs,
        events=[Span.Event(time_unix_nano=t, name=n, attributes=a) for t, n, a in events]),
    st.one_of(st.just(bytes.fromhex(TRACE)), st.binary(max_size=17)),
    st.one_of(st.just(bytes.fromhex(ROOT)), st.binary(max_size=9)),
    st.one_of(st.just(b""), st.binary(max_size=9)),
    st.text(max_size=10), st.integers(0, 5), st.integers(0, 2), times, times, attribute_lists,
    st.lists(st.tuples(times, st.sampled_from(["gen_ai.user.message", "gen_ai.choice", "x"]), attribute_lists),
             max_size=2))


@given(st.lists(proto_spans, min_size=1, max_size=3), attribute_lists)
@PROPS
def test_any_decoded_protobuf_span_normalises_or_is_rejected_per_span(spans: list[Span],
                                                                      resource: list[KeyValue]) -> None:
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=resource), scope_spans=[ScopeSpans(spans=spans)])])
    rows = []
    for raw in to_raw_spans(decode_request(request.SerializeToString(), PROTOBUF)):
        try:
            rows.append(normalize(raw, "p", SHIPPED_PRICES, 0))
        except InvalidSpan:
            continue
    rows_to_arrow(rows)  # whatever was accepted can be inserted


# --- attribute values ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(AnyValue(string_value="héllo"), "héllo", id="string"),
    pytest.param(AnyValue(string_value=""), "", id="empty-string"),
    pytest.param(AnyValue(int_value=42), "42", id="int"),
    pytest.param(AnyValue(int_value=-(2**63)), str(-(2**63)), id="int-min"),
    pytest.param(AnyValue(double_value=0.25), "0.25", id="double"),
    pytest.param(AnyValue(bool_value=True), "true", id="bool-true"),
    pytest.param(AnyValue(bool_value=False), "false", id="bool-false"),
    pytest.param(AnyValue(bytes_value=b"\x00\x01\xff"), "AAH/", id="bytes"),
    pytest.param(AnyValue(), "", id="unset"),
    pytest.param(AnyValue(array_value=ArrayValue(values=[s("a"), AnyValue(int_value=1), AnyValue(double_value=1.5),
                                                         AnyValue(bool_value=True)])),
                 '["a", 1, 1.5, true]', id="array"),
    pytest.param(AnyValue(array_value=ArrayValue()), "[]", id="empty-array"),
    pytest.param(AnyValue(kvlist_value=KeyValueList(values=[
        kv("k", s("v")), kv("n", AnyValue(int_value=2)), kv("flag", AnyValue(bool_value=False)),
        kv("inner", AnyValue(array_value=ArrayValue(values=[s("x")])))])),
        '{"k": "v", "n": 2, "flag": false, "inner": ["x"]}', id="kvlist"),
])
def test_any_value_text(value: AnyValue, expected: str) -> None:
    assert any_value_text(value) == expected


def test_array_and_kvlist_text_is_json() -> None:
    value = AnyValue(kvlist_value=KeyValueList(values=[
        kv("list", AnyValue(array_value=ArrayValue(values=[AnyValue(bool_value=True), AnyValue(bytes_value=b"hi")])))]))
    assert json.loads(any_value_text(value)) == {"list": [True, "aGk="]}


def test_attributes_dict_last_duplicate_wins() -> None:
    assert attributes_dict([kv("a", s("1")), kv("a", s("2"))]) == {"a": "2"}


# --- OTLP JSON ----------------------------------------------------------------------------------------------------

def test_decode_json_from_the_protobuf_json_mapping_with_hex_ids() -> None:
    document = ids_to_hex(json_format.MessageToDict(build_request()))
    check_decoded(decode_json(document))


def test_json_and_protobuf_decode_to_the_same_spans() -> None:
    request = build_request()
    from_json = decode_json(ids_to_hex(json_format.MessageToDict(request)))
    assert from_json == to_raw_spans(decode_request(request.SerializeToString(), PROTOBUF))


def test_decode_handwritten_otlp_json() -> None:
    """The example of the OTLP specification's shape: camelCase, hex ids, integer enums, every AnyValue type."""
    document = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{
            "scope": {"name": "my.library", "version": "1.0.0"},
            "spans": [{
                "traceId": TRACE, "spanId": CHILD, "parentSpanId": ROOT, "name": "I'm a server span",
                "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
                "kind": 2,
                "status": {"code": 2, "message": "boom"},
                "attributes": [
                    {"key": "str", "value": {"stringValue": "text"}},
                    {"key": "int", "value": {"intValue": "9007199254740993"}},
                    {"key": "int_number", "value": {"intValue": 7}},
                    {"key": "double", "value": {"doubleValue": 1.25}},
                    {"key": "bool", "value": {"boolValue": True}},
                    {"key": "array", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "3"},
                                                                         {"boolValue": False}]}}},
                    {"key": "kvlist", "value": {"kvlistValue": {"values": [
                        {"key": "x", "value": {"doubleValue": 2.5}},
                        {"key": "y", "value": {"arrayValue": {"values": []}}}]}}},
                    {"key": "bytes", "value": {"bytesValue": base64.b64encode(b"\x01\x02").decode()}},
                    {"key": "empty", "value": {}},
                ],
                "events": [{"timeUnixNano": "1544712660500000000", "name": "gen_ai.choice",
                            "attributes": [{"key": "content", "value": {"stringValue": "ok"}}]}],
                "links": [{"traceId": TRACE, "spanId": ROOT}],
                "droppedAttributesCount": 0,
            }],
        }],
    }]}
    (raw,) = decode_json(document)
    assert (raw.trace_id, raw.span_id, raw.parent_span_id) == (TRACE, CHILD, ROOT)
    assert raw.name == "I'm a server span"
    assert (raw.start_ns, raw.end_ns) == (1544712660000000000, 1544712661000000000)
    assert (raw.kind, raw.status_code, raw.status_message) == ("SERVER", "ERROR", "boom")
    assert raw.scope_name == "my.library"
    assert raw.resource_attributes == {"service.name": "svc"}
    assert raw.attributes == {
        "str": "text",
        "int": "9007199254740993",
        "int_number": "7",
        "double": "1.25",
        "bool": "true",
        "array": '["a", 3, false]',
        "kvlist": '{"x": 2.5, "y": []}',
        "bytes": "AQI=",
        "empty": "",
    }
    assert [(e.time_ns, e.name, e.attributes) for e in raw.events] == [
        (1544712660500000000, "gen_ai.choice", {"content": "ok"})]


@pytest.mark.parametrize(("kind", "expected"), [
    (0, "UNSPECIFIED"), (1, "INTERNAL"), (2, "SERVER"), (3, "CLIENT"), (4, "PRODUCER"), (5, "CONSUMER"),
    ("SPAN_KIND_CLIENT", "CLIENT"),
])
def test_json_kind(kind: int | str, expected: str) -> None:
    (raw,) = decode_json(one_span_document({"kind": kind}))
    assert raw.kind == expected


@pytest.mark.parametrize(("code", "expected"), [(0, "UNSET"), (1, "OK"), (2, "ERROR"), ("STATUS_CODE_ERROR", "ERROR")])
def test_json_status_code(code: int | str, expected: str) -> None:
    (raw,) = decode_json(one_span_document({"status": {"code": code}}))
    assert raw.status_code == expected


@pytest.mark.parametrize(("span", "kind", "status"), [
    ({"kind": "SPAN_KIND_FROM_THE_FUTURE"}, "UNSPECIFIED", "UNSET"),
    ({"kind": 99, "status": {"code": 9}}, "UNSPECIFIED", "UNSET"),
    ({"status": {"code": "STATUS_CODE_FROM_THE_FUTURE"}}, "UNSPECIFIED", "UNSET"),
])
def test_json_unknown_enum_values_are_tolerated(span: dict[str, Any], kind: str, status: str) -> None:
    (raw,) = decode_json(one_span_document(span))
    assert (raw.kind, raw.status_code) == (kind, status)


def test_json_defaults() -> None:
    (raw,) = decode_json(one_span_document({}))
    assert (raw.kind, raw.status_code, raw.status_message, raw.parent_span_id) == ("UNSPECIFIED", "UNSET", "", "")
    assert raw.attributes == {} and raw.events == [] and raw.resource_attributes == {}


def test_json_uppercase_hex_ids_are_lowercased() -> None:
    (raw,) = decode_json(one_span_document({"traceId": TRACE.upper(), "spanId": ROOT.upper()}))
    assert (raw.trace_id, raw.span_id) == (TRACE, ROOT)


def test_json_empty_parent_is_a_root() -> None:
    (raw,) = decode_json(one_span_document({"parentSpanId": ""}))
    assert raw.parent_span_id == ""


def test_json_snake_case_field_names_are_accepted() -> None:
    document = {"resource_spans": [{"scope_spans": [{"spans": [{
        "trace_id": TRACE, "span_id": ROOT, "parent_span_id": CHILD, "name": "snake",
        "start_time_unix_nano": str(START), "end_time_unix_nano": str(END)}]}]}]}
    (raw,) = decode_json(document)
    assert (raw.trace_id, raw.span_id, raw.parent_span_id, raw.start_ns) == (TRACE, ROOT, CHILD, START)


def test_json_unknown_fields_are_ignored() -> None:
    document = one_span_document({"someFutureField": {"a": 1}})
    document["newTopLevel"] = True
    (raw,) = decode_json(document)
    assert raw.name == "s"


@pytest.mark.parametrize("document", [{}, {"resourceSpans": []}, {"resourceSpans": [{"scopeSpans": []}]}])
def test_json_without_spans(document: dict[str, Any]) -> None:
    assert decode_json(document) == []


@pytest.mark.parametrize(("field", "value"), [
    ("traceId", "not-hex"), ("traceId", "abc"), ("spanId", "zz" * 8), ("parentSpanId", "0x" + "1" * 14),
    ("traceId", base64.b64encode(bytes.fromhex(TRACE)).decode()),
])
def test_json_invalid_hex_id_is_a_decode_error(field: str, value: str) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_request(json.dumps(one_span_document({field: value})).encode(), JSON)
    assert field in str(info.value) and repr(value) in str(info.value)


def test_json_invalid_hex_id_in_a_link_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError, match="traceId"):
        decode_request(json.dumps(one_span_document({"links": [{"traceId": "xyz", "spanId": ROOT}]})).encode(), JSON)


def test_json_hex_id_of_the_wrong_length_reaches_validation() -> None:
    # valid hex but the wrong size: decoding keeps it, normalize() rejects the span (per span, not the request)
    (raw,) = decode_json(one_span_document({"traceId": "abcd"}))
    assert raw.trace_id == "abcd"


@pytest.mark.parametrize("body", [b"", b"not json", b"{", b"\xff\xfe\xfa", b"{\"resourceSpans\": [}"])
def test_invalid_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="not valid JSON"):
        decode_request(body, JSON)


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b'"text"', b"42", b"null", b"true"])
def test_non_object_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError, match="must be an object"):
        decode_request(body, JSON)


@pytest.mark.parametrize("document", [
    {"resourceSpans": 5},
    {"resourceSpans": [5]},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {"a": "b"}}]}]}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "a", "value": {"intValue": "x"}}]}]}]}]},
])
def test_json_of_the_wrong_shape_is_a_decode_error(document: dict[str, Any]) -> None:
    with pytest.raises(OtlpDecodeError, match="not an ExportTraceServiceRequest"):
        decode_request(json.dumps(document).encode(), JSON)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": ' * 100_000, b'{"resourceSpans": ' + b"[" * 5000])
def test_deeply_nested_json_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        decode_request(body, JSON)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "traceId", "spanId", "name", "kind", "attributes",
                         "key", "value", "stringValue", "intValue", "events", "status", "code", "x"]),
        children, max_size=4),
    max_leaves=20)


@given(json_values)
@PROPS
def test_arbitrary_json_decodes_or_raises_decode_error(document: Any) -> None:
    try:
        request = decode_request(json.dumps(document).encode(), JSON)
    except OtlpDecodeError:
        return
    to_raw_spans(request)


# --- responses ----------------------------------------------------------------------------------------------------

def test_response_without_rejections_is_empty_protobuf() -> None:
    body = encode_response(0, "", PROTOBUF)
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    assert not response.HasField("partial_success")
    assert body == b""


def test_response_without_rejections_is_empty_json() -> None:
    body = encode_response(0, "ignored", JSON)
    assert json.loads(body) == {}
    response = json_format.Parse(body, ExportTraceServiceResponse())
    assert not response.HasField("partial_success")


def test_partial_success_protobuf() -> None:
    body = encode_response(3, "3 span(s) rejected: bad ids", PROTOBUF)
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message == "3 span(s) rejected: bad ids"


def test_partial_success_json() -> None:
    body = encode_response(2, "2 span(s) rejected: ümlaut", JSON)
    document = json.loads(body)
    assert document == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 span(s) rejected: ümlaut"}}
    response = json_format.Parse(body, ExportTraceServiceResponse())
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "2 span(s) rejected: ümlaut"


def test_content_type_constants() -> None:
    assert (PROTOBUF, JSON) == ("application/x-protobuf", "application/json")
