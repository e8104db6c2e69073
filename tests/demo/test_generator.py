"""The demo generator sends seeded, realistic sessions over real OTLP/HTTP to a tiny in-test receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from threadline.demo.generator import DemoExportError, DemoSummary, generate_and_send

SESSION_KEYS = ("session.id", "gen_ai.conversation.id")
NOW_NS = 1_750_000_000 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@dataclass
class _Span:
    trace_id: str
    span_id: str
    parent: str
    name: str
    start: int
    end: int
    status: int  # 0 unset, 1 ok, 2 error
    attrs: dict[str, Any]
    resource: dict[str, Any]
    events: list[str]


@dataclass
class _Receiver:
    url: str
    spans: list[_Span] = field(default_factory=list)
    requests: int = 0
    reject: bool = False


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    state = _Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/traces" or state.reject:
                self.send_response(404 if self.path != "/v1/traces" else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            got = []
            for rs in request.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        got.append(_Span(s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name,
                                         s.start_time_unix_nano, s.end_time_unix_nano, s.status.code,
                                         {a.key: _value(a.value) for a in s.attributes}, resource,
                                         [e.name for e in s.events]))
            with lock:
                state.spans.extend(got)
                state.requests += 1
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _sessions(spans: list[_Span]) -> dict[str, set[str]]:
    """session id → trace ids, resolving a trace's session from any of its spans."""
    trace_session: dict[str, str] = {}
    for s in spans:
        for key in SESSION_KEYS:
            if key in s.attrs:
                assert trace_session.setdefault(s.trace_id, s.attrs[key]) == s.attrs[key]
    out: dict[str, set[str]] = defaultdict(set)
    for trace_id, session_id in trace_session.items():
        out[session_id].add(trace_id)
    return out


def test_sends_realistic_sessions_that_match_the_summary(receiver: _Receiver) -> None:
    summary = generate_and_send(receiver.url, sessions=20, seed=7, progress=False, now_ns=NOW_NS)
    spans = receiver.spans
    assert isinstance(summary, DemoSummary)
    assert summary.spans == len(spans) == len({(s.trace_id, s.span_id) for s in spans})
    traces = {s.trace_id for s in spans}
    assert summary.traces == len(traces)
    sessions = _sessions(spans)
    assert summary.sessions == len(sessions) == 20
    assert set().union(*sessions.values()) == traces  # every trace resolves to a session
    assert all(1 <= len(t) <= 30 for t in sessions.values())

    # one root per trace, every parent present, children inside their parent's time range
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    roots = [s for s in spans if not s.parent]
    assert len(roots) == len(traces)
    for s in spans:
        assert NOW_NS - 30 * DAY_NS <= s.start < s.end <= NOW_NS
        if s.parent:
            parent = by_id[(s.trace_id, s.parent)]
            assert parent.start <= s.start and s.end <= parent.end
    for r in roots:
        assert r.name in {"chat_turn", "rag_query", "agent_step"}
        assert r.attrs["openinference.span.kind"] in {"CHAIN", "AGENT"}
        assert r.attrs["input.value"]
        assert isinstance(json.loads(r.attrs["metadata"]), dict)
        assert r.attrs["tag.tags"]
        assert r.status == 2 or r.attrs["output.value"]

    llm = [s for s in spans if s.attrs.get("openinference.span.kind") == "LLM"]
    assert llm and all(s.attrs["gen_ai.request.model"] and s.attrs["input.value"] for s in llm)
    assert all(("llm.token_count.prompt" in s.attrs) != ("gen_ai.usage.input_tokens" in s.attrs) for s in llm)
    assert {"llm.token_count.total", "gen_ai.usage.output_tokens"} <= {k for s in llm for k in s.attrs}
    assert len({s.attrs["gen_ai.request.model"] for s in llm}) >= 3
    assert all(300 <= (s.end - s.start) / 1e6 <= 8000 for s in llm)
    tools = [s for s in spans if s.attrs.get("openinference.span.kind") == "TOOL"]
    assert tools and all(50 <= (s.end - s.start) / 1e6 <= 2000 for s in tools)
    assert any(s.attrs.get("openinference.span.kind") == "RETRIEVER" for s in spans)
    assert len({s.attrs["user.id"] for s in spans if "user.id" in s.attrs}) >= 3
    assert {s.resource["service.name"] for s in spans} == {"support-bot", "rag-qa", "research-agent"}

    errors = [s for s in spans if s.status == 2]
    assert errors and all("exception" in s.events for s in errors if s.parent)
    # session ids are placed several ways: on every span, on the root only, on one LLM span only
    placements = set()
    for trace_id in traces:
        trace_spans = [s for s in spans if s.trace_id == trace_id]
        holders = [s for s in trace_spans if any(k in s.attrs for k in SESSION_KEYS)]
        if len(holders) == len(trace_spans) and len(trace_spans) > 1:
            placements.add("every_span")
        elif len(holders) == 1 and not holders[0].parent and len(trace_spans) > 1:
            placements.add("root_only")
        elif len(holders) == 1 and "gen_ai.conversation.id" in holders[0].attrs:
            placements.add("llm_only")
    assert placements == {"every_span", "root_only", "llm_only"}


def test_same_seed_same_ids_and_contents(receiver: _Receiver) -> None:
    def run(seed: int, now_ns: int) -> tuple[set[str], set[str], set[str]]:
        receiver.spans.clear()
        generate_and_send(receiver.url, sessions=12, seed=seed, progress=False, now_ns=now_ns)
        spans = receiver.spans
        inputs = {f"{s.trace_id}/{s.span_id}:{s.attrs.get('input.value')}" for s in spans}
        return {s.trace_id for s in spans}, set(_sessions(spans)), inputs

    first = run(7, NOW_NS)
    assert run(7, NOW_NS + DAY_NS) == first  # only timestamps follow now_ns
    other = run(8, NOW_NS)
    assert not (other[0] & first[0]) and not (other[1] & first[1])


def test_rejected_batches_raise(receiver: _Receiver) -> None:
    receiver.reject = True
    started = time.monotonic()
    with pytest.raises(DemoExportError, match="not accepted"):
        generate_and_send(receiver.url, sessions=5, progress=False)
    assert time.monotonic() - started < 10


def test_500_sessions_are_fast(receiver: _Receiver) -> None:
    started = time.monotonic()
    summary = generate_and_send(receiver.url, sessions=500, progress=False)
    elapsed = time.monotonic() - started
    assert summary.sessions == 500 and summary.spans == len(receiver.spans)  # nothing dropped by the batch queue
    assert elapsed < 30, f"500 sessions took {elapsed:.1f}s"


def test_unreachable_endpoint_fails_fast() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(DemoExportError, match="cannot connect"):
        generate_and_send(f"http://127.0.0.1:{port}", sessions=5, progress=False)
    assert time.monotonic() - started < 5
