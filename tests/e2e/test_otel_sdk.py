"""The official OpenTelemetry Python SDK and OTLP/HTTP exporter against a live ``threadline serve`` subprocess.

Three multi-turn sessions go through real ``OTLPSpanExporter`` instances (protobuf, with and without gzip; simple and
batch span processors), each resolving its session id a different way (DESIGN.md, "Session id extraction"):

* ``genai``: ``session.id`` and ``user.id`` on each turn's root span, OTel GenAI attributes on the LLM children,
  which a ``SimpleSpanProcessor`` exports one request each, children before their root;
* ``resource``: ``session.id`` only on the Resource of its own TracerProvider, OpenInference attributes, gzip;
* ``conversation``: the id only on one LLM grandchild (``gen_ai.conversation.id``), exported before the rest.

Expected totals are computed here from the span attributes and the shipped price table (longest prefix).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, free_port
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Span

pytestmark = pytest.mark.slow

SEC = 1_000_000_000
PRICES: dict[str, dict[str, float]] = {
    k.lower(): v for k, v in json.loads(
        resources.files("threadline").joinpath("data/prices.json").read_text()).items() if not k.startswith("_")}


def cost_of(model: str, input_tokens: int, output_tokens: int) -> float:
    """Cost by the shipped table: the longest key that prefixes the model name (provider/ dropped)."""
    name = model.lower().rsplit("/", 1)[-1]
    matches = [k for k in PRICES if name.startswith(k)]
    assert matches, f"test uses a model without a price: {model}"
    price = PRICES[max(matches, key=len)]
    return (input_tokens * price["input"] + output_tokens * price["output"]) / 1_000_000


class RecordingExporter(OTLPSpanExporter):
    """The real OTLP/HTTP exporter, remembering the result of every export."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results: list[SpanExportResult] = []
        self.exported: list[str] = []  # span names in export order

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result)
        self.exported.extend(s.name for s in spans)
        return result


@dataclass
class ExpectedTrace:
    trace_id: str
    start_ns: int
    input: str
    output: str
    span_ids: dict[str, str | None] = field(default_factory=dict)  # span id -> parent span id
    llm_spans: list[tuple[str, str, int, int, int]] = field(default_factory=list)  # id, model, in, out, total
    tool_calls: int = 0


@dataclass
class ExpectedSession:
    session_id: str
    user_id: str
    traces: list[ExpectedTrace] = field(default_factory=list)

    @property
    def input_tokens(self) -> int:
        return sum(s[2] for t in self.traces for s in t.llm_spans)

    @property
    def output_tokens(self) -> int:
        return sum(s[3] for t in self.traces for s in t.llm_spans)

    @property
    def total_tokens(self) -> int:
        return sum(s[4] for t in self.traces for s in t.llm_spans)

    @property
    def cost(self) -> float:
        return sum(cost_of(s[1], s[2], s[3]) for t in self.traces for s in t.llm_spans)

    @property
    def models(self) -> list[str]:
        return sorted({s[1] for t in self.traces for s in t.llm_spans})

    @property
    def span_count(self) -> int:
        return sum(len(t.span_ids) for t in self.traces)


def _hex_trace(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def _hex_span(span: Span) -> str:
    return format(span.get_span_context().span_id, "016x")


def _start(tracer: otel_trace.Tracer, expected: ExpectedTrace, name: str, start_ns: int,
           parent: Span | None = None, attributes: dict[str, Any] | None = None) -> Span:
    context = otel_trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=context, start_time=start_ns, attributes=attributes or {})
    expected.span_ids[_hex_span(span)] = _hex_span(parent) if parent is not None else None
    return span


def _root(tracer: otel_trace.Tracer, start_ns: int, name: str, text_in: str, text_out: str,
          attributes: dict[str, Any]) -> tuple[Span, ExpectedTrace]:
    span = tracer.start_span(name, start_time=start_ns,
                             attributes={"input.value": text_in, "output.value": text_out, **attributes})
    expected = ExpectedTrace(_hex_trace(span), start_ns, text_in, text_out)
    expected.span_ids[_hex_span(span)] = None
    return span, expected


def send_genai(url: str, base_ns: int, sid: str) -> tuple[ExpectedSession, list[RecordingExporter], ExpectedTrace]:
    """Session id and user on each root; OTel GenAI children; one request per span (children first). Also one
    trace with no session id anywhere."""
    exporter = RecordingExporter(endpoint=f"{url}/v1/traces", timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "genai-chat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e.genai")
    session = ExpectedSession(sid, "alice")
    models = [("gpt-4o-mini", "gpt-4o-mini-2024-07-18"), ("gpt-4.1", "gpt-4.1-mini-2025-04-14")]
    for turn in range(3):
        t0 = base_ns + turn * 10 * SEC
        root, exp = _root(tracer, t0, "chat turn", f"genai question {turn}", f"genai answer {turn}",
                          {"session.id": sid, "user.id": "alice"})
        for i, (request_model, response_model) in enumerate(models):
            tokens_in, tokens_out = 100 * (turn + 1) + 7 * i, 20 + 3 * turn + i
            child = _start(tracer, exp, f"chat {request_model}", t0 + (i + 1) * SEC // 4, root, {
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": request_model,
                "gen_ai.response.model": response_model, "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out})
            child.end(end_time=t0 + (i + 1) * SEC // 4 + SEC // 5)
            exp.llm_spans.append((_hex_span(child), response_model, tokens_in, tokens_out, tokens_in + tokens_out))
        if turn == 1:
            tool = _start(tracer, exp, "execute_tool get_weather", t0 + SEC, root,
                          {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"})
            tool.end(end_time=t0 + SEC + SEC // 10)
            exp.tool_calls += 1
        root.end(end_time=t0 + 2 * SEC)
        session.traces.append(exp)
    # A trace without any session id belongs to no session.
    lone, lone_exp = _root(tracer, base_ns + 5 * SEC, "background job", "cron", "done", {"user.id": "alice"})
    child = _start(tracer, lone_exp, "chat gpt-4o", base_ns + 5 * SEC + 1, lone,
                   {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5,
                    "gen_ai.usage.output_tokens": 5})
    child.end(end_time=base_ns + 5 * SEC + 2)
    lone_exp.llm_spans.append((_hex_span(child), "gpt-4o", 5, 5, 10))
    lone.end(end_time=base_ns + 5 * SEC + 3)
    assert provider.force_flush(30_000)
    provider.shutdown()
    return session, [exporter], lone_exp


def send_resource(url: str, base_ns: int, sid: str) -> tuple[ExpectedSession, list[RecordingExporter]]:
    """Session id only on the Resource; OpenInference attributes; batch processor, gzip."""
    exporter = RecordingExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip, timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "oi-agent", "session.id": sid}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=5, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("e2e.openinference")
    session = ExpectedSession(sid, "bob")
    for turn in range(4):
        t0 = base_ns + SEC + turn * 10 * SEC
        root, exp = _root(tracer, t0, "agent", f"oi question {turn}", f"oi answer {turn}",
                          {"openinference.span.kind": "CHAIN", "user.id": "bob"})
        prompt, completion = 300 + 11 * turn, 40 + turn
        model = "claude-3-5-sonnet-20241022" if turn % 2 == 0 else "anthropic/claude-3-5-haiku-20241022"
        llm = _start(tracer, exp, "ChatAnthropic", t0 + SEC // 10, root, {
            "openinference.span.kind": "LLM", "llm.model_name": model, "llm.token_count.prompt": prompt,
            "llm.token_count.completion": completion, "llm.token_count.total": prompt + completion,
            "input.value": f"system prompt + oi question {turn}", "output.value": f"raw completion {turn}"})
        llm.end(end_time=t0 + SEC)
        exp.llm_spans.append((_hex_span(llm), model, prompt, completion, prompt + completion))
        retriever = _start(tracer, exp, "retrieve", t0 + SEC // 20, root, {"openinference.span.kind": "RETRIEVER"})
        retriever.end(end_time=t0 + SEC // 10)
        root.end(end_time=t0 + 3 * SEC // 2)
        session.traces.append(exp)
    assert provider.force_flush(30_000)
    provider.shutdown()
    return session, [exporter]


def send_conversation(url: str, base_ns: int, sid: str) -> tuple[ExpectedSession, list[RecordingExporter]]:
    """The id only on one LLM grandchild (``gen_ai.conversation.id``); simple processor, gzip."""
    exporter = RecordingExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip, timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "genai-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("e2e.conversation")
    session = ExpectedSession(sid, "carol")
    for turn in range(2):
        t0 = base_ns + 2 * SEC + turn * 10 * SEC
        root, exp = _root(tracer, t0, "invoke_agent planner", f"conv question {turn}", f"conv answer {turn}",
                          {"gen_ai.operation.name": "invoke_agent", "user.id": "carol"})
        step = _start(tracer, exp, "plan step", t0 + SEC // 10, root)
        first = _start(tracer, exp, "chat o3-mini", t0 + SEC // 5, step, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "o3-mini", "gen_ai.conversation.id": sid,
            "gen_ai.usage.input_tokens": 1000 + turn, "gen_ai.usage.output_tokens": 500})
        first.end(end_time=t0 + SEC // 2)
        exp.llm_spans.append((_hex_span(first), "o3-mini", 1000 + turn, 500, 1500 + turn))
        second = _start(tracer, exp, "chat gpt-4o", t0 + 3 * SEC // 5, step, {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 60 + turn})
        second.end(end_time=t0 + 4 * SEC // 5)
        exp.llm_spans.append((_hex_span(second), "gpt-4o", 50, 60 + turn, 110 + turn))
        step.end(end_time=t0 + 9 * SEC // 10)
        root.end(end_time=t0 + SEC)
        session.traces.append(exp)
    assert provider.force_flush(30_000)
    provider.shutdown()
    return session, [exporter]


@dataclass
class Sent:
    url: str
    sessions: dict[str, ExpectedSession]
    lone: ExpectedTrace
    exporters: list[RecordingExporter]


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    root: Path = tmp_path_factory.mktemp("otel_sdk")
    server = ServeProcess(root / "data", free_port(), root / "serve.log")
    server.start()
    try:
        tag = uuid.uuid4().hex[:8]
        base = time.time_ns() - 300 * SEC
        genai, exporters, lone = send_genai(server.url, base, f"genai-{tag}")
        resource, more = send_resource(server.url, base, f"resource-{tag}")
        exporters += more
        conversation, more = send_conversation(server.url, base, f"conversation-{tag}")
        exporters += more
        sessions = {"genai": genai, "resource": resource, "conversation": conversation}
        yield Sent(server.url, sessions, lone, exporters)
    finally:
        server.stop()


@pytest.fixture
def http(sent: Sent) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sent.url, timeout=30) as client:
        yield client


def test_every_export_succeeded_children_first(sent: Sent) -> None:
    for exporter in sent.exporters:
        assert exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results)
    genai = sent.exporters[0].exported
    # SimpleSpanProcessor exported each child in its own request before its root.
    assert genai.index("chat gpt-4o-mini") < genai.index("chat turn")
    assert len(sent.exporters[0].results) == len(genai)  # one request per span
    conversation = sent.exporters[2].exported
    assert conversation[0] == "chat o3-mini" and conversation.index("invoke_agent planner") > 2


def _check_summary(got: dict[str, Any], want: ExpectedSession) -> None:
    assert got["session_id"] == want.session_id
    assert got["user_id"] == want.user_id
    assert got["trace_count"] == len(want.traces)
    assert got["span_count"] == want.span_count
    assert got["llm_call_count"] == sum(len(t.llm_spans) for t in want.traces)
    assert got["tool_call_count"] == sum(t.tool_calls for t in want.traces)
    assert got["error_count"] == 0
    assert (got["input_tokens"], got["output_tokens"], got["total_tokens"]) == (
        want.input_tokens, want.output_tokens, want.total_tokens)
    assert got["total_cost_usd"] == pytest.approx(want.cost, rel=1e-9, abs=1e-9)
    assert got["models"] == want.models
    assert got["first_input"] == want.traces[0].input
    assert got["last_output"] == want.traces[-1].output


def test_sessions_list(sent: Sent, http: httpx.Client) -> None:
    page = http.get("/v1/sessions", params={"limit": 100})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["pagination"]["total"] == 3  # the trace without an id is in no session
    by_id = {s["session_id"]: s for s in body["data"]}
    assert set(by_id) == {s.session_id for s in sent.sessions.values()}
    for want in sent.sessions.values():
        _check_summary(by_id[want.session_id], want)
    # Most recent activity first: the resource session's 4th turn ends last.
    assert body["data"][0]["session_id"] == sent.sessions["resource"].session_id


@pytest.mark.parametrize("kind", ["genai", "resource", "conversation"])
def test_session_detail(sent: Sent, http: httpx.Client, kind: str) -> None:
    want = sent.sessions[kind]
    response = http.get(f"/v1/sessions/{want.session_id}")
    assert response.status_code == 200, response.text
    got = response.json()
    _check_summary(got, want)
    assert [t["trace_id"] for t in got["traces"]] == [t.trace_id for t in want.traces]
    assert [t["turn"] for t in got["traces"]] == list(range(1, len(want.traces) + 1))
    for trace, exp in zip(got["traces"], want.traces, strict=True):
        assert trace["session_id"] == want.session_id
        assert trace["span_count"] == len(exp.span_ids)
        assert trace["user_id"] == want.user_id
        assert (trace["input"], trace["output"]) == (exp.input, exp.output)
        assert trace["total_tokens"] == sum(s[4] for s in exp.llm_spans)
        assert trace["cost_usd"] == pytest.approx(sum(cost_of(s[1], s[2], s[3]) for s in exp.llm_spans),
                                                  rel=1e-9, abs=1e-9)
        assert trace["models"] == sorted({s[1] for s in exp.llm_spans})


@pytest.mark.parametrize("kind", ["genai", "resource", "conversation"])
def test_trace_spans(sent: Sent, http: httpx.Client, kind: str) -> None:
    want = sent.sessions[kind]
    for exp in want.traces:
        response = http.get(f"/v1/traces/{exp.trace_id}")
        assert response.status_code == 200, response.text
        got = response.json()
        assert got["trace_id"] == exp.trace_id and got["session_id"] == want.session_id
        assert {s["span_id"]: s["parent_span_id"] for s in got["spans"]} == exp.span_ids
        assert got["span_count"] == len(exp.span_ids)
        llm = {s["span_id"]: s for s in got["spans"] if s["span_type"] == "llm"}
        assert set(llm) == {s[0] for s in exp.llm_spans}
        for span_id, model, tokens_in, tokens_out, total in exp.llm_spans:
            span = llm[span_id]
            assert (span["model"], span["input_tokens"], span["output_tokens"], span["total_tokens"]) == (
                model, tokens_in, tokens_out, total)
            assert span["cost_usd"] == pytest.approx(cost_of(model, tokens_in, tokens_out), rel=1e-9, abs=1e-9)
        if kind == "resource":
            assert all(s["resource_attributes"]["session.id"] == want.session_id for s in got["spans"])
            assert all("session.id" not in s["attributes"] for s in got["spans"])
        if kind == "conversation":
            carriers = [s for s in got["spans"] if s["attributes"].get("gen_ai.conversation.id")]
            assert len(carriers) == 1 and carriers[0]["parent_span_id"] is not None


def test_trace_without_session(sent: Sent, http: httpx.Client) -> None:
    response = http.get(f"/v1/traces/{sent.lone.trace_id.upper()}")
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["session_id"] is None
    assert got["span_count"] == 2 and got["total_tokens"] == 10
    assert got["cost_usd"] == pytest.approx(cost_of("gpt-4o", 5, 5), rel=1e-9)
    assert http.get(f"/v1/traces/{uuid.uuid4().hex}").status_code == 404
