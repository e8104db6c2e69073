"""The durability contract (DESIGN.md): a 2xx from ``POST /v1/traces`` means the spans are committed; ``kill -9`` at
any moment loses nothing acknowledged and double counts nothing; replays change no count or sum.

Each request ``i`` carries trace ``i`` (a root and three LLM children; the session id on the root for even ``i``,
only on one child for odd ``i``) plus one late LLM child of trace ``i - LATE``, so most traces are split over two
requests and a request touches rollups that an earlier batch created: a commit cut short after its spans insert
shows up as a trace whose rollup disagrees with its spans (unless the server recovers on start).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, free_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

pytestmark = pytest.mark.slow

SEC = 1_000_000_000
SESSIONS = 7
LATE = 4  # request i carries a late child of trace i - LATE (committed in an earlier batch)
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


@dataclass(frozen=True)
class SpanSpec:
    trace_id: str
    span_id: str
    parent_span_id: str
    session_id: str
    input_tokens: int
    output_tokens: int


@dataclass
class Req:
    index: int
    spans: list[SpanSpec]
    body: bytes = b""


def build_requests(count: int, base_ns: int) -> list[Req]:
    tag = uuid.uuid4().hex[:24]

    def trace_id(i: int) -> str:
        return f"{tag}{i:08x}"

    def span_id(i: int, j: int) -> str:
        return f"{i:08x}{j:08x}"

    requests: list[Req] = []
    for i in range(count):
        session = f"dur-{i % SESSIONS}"
        specs = [SpanSpec(trace_id(i), span_id(i, 1), "", session if i % 2 == 0 else "", 0, 0)]
        for j in (2, 3, 4):
            specs.append(SpanSpec(trace_id(i), span_id(i, j), span_id(i, 1),
                                  session if i % 2 == 1 and j == 3 else "", 10 * j + i % 5, j + i % 3))
        if i >= LATE:
            specs.append(SpanSpec(trace_id(i - LATE), span_id(i - LATE, 9), span_id(i - LATE, 1), "", 7, 3))
        otlp: list[Span] = []
        for spec in specs:
            index = int(spec.trace_id[-8:], 16)
            start = base_ns + index * SEC + int(spec.span_id[-8:], 16) * SEC // 20
            attributes = [_kv("user.id", f"user-{index % 3}")]
            if spec.session_id:
                attributes.append(_kv("session.id" if not spec.parent_span_id else "gen_ai.conversation.id",
                                      spec.session_id))
            if spec.parent_span_id:
                attributes += [_kv("gen_ai.operation.name", "chat"), _kv("gen_ai.request.model", "gpt-4o-mini"),
                               _kv("gen_ai.usage.input_tokens", spec.input_tokens),
                               _kv("gen_ai.usage.output_tokens", spec.output_tokens)]
            else:
                attributes += [_kv("input.value", f"question {index}"), _kv("output.value", f"answer {index}")]
            otlp.append(Span(trace_id=bytes.fromhex(spec.trace_id), span_id=bytes.fromhex(spec.span_id),
                             parent_span_id=bytes.fromhex(spec.parent_span_id), name="turn" if not
                             spec.parent_span_id else "chat gpt-4o-mini", kind=Span.SPAN_KIND_INTERNAL,
                             start_time_unix_nano=start, end_time_unix_nano=start + SEC // 40,
                             attributes=attributes))
        message = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            resource=Resource(attributes=[_kv("service.name", "durability")]),
            scope_spans=[ScopeSpans(scope=InstrumentationScope(name="e2e"), spans=otlp)])])
        requests.append(Req(i, specs, message.SerializeToString()))
    return requests


@dataclass
class Observed:
    """What the API shows: the spans and rollup of each observed trace, each session's rollup and turns."""

    traces: dict[str, dict[str, dict[str, Any]] | None] = field(default_factory=dict)  # None: 404
    trace_rollups: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # GET /v1/sessions/{id}, with "traces"

    def snapshot(self) -> dict[str, Any]:
        keys = ("trace_count", "span_count", "llm_call_count", "input_tokens", "output_tokens", "total_tokens",
                "total_cost_usd", "models", "user_id", "first_input", "last_output", "first_seen", "last_seen")
        rollup_keys = ("session_id", "span_count", "input_tokens", "output_tokens", "total_tokens", "cost_usd")
        return {
            "sessions": {s: {k: v[k] for k in keys} | {"traces": [
                {k: t[k] for k in ("trace_id", "turn", *rollup_keys)} for t in v["traces"]]}
                for s, v in self.sessions.items()},
            "traces": {t: {k: v[k] for k in rollup_keys} for t, v in self.trace_rollups.items()},
            "spans": {t: sorted(v) if v is not None else None for t, v in self.traces.items()},
        }


def _get(url: str, paths: list[str]) -> list[httpx.Response]:
    def fetch(chunk: list[str]) -> list[httpx.Response]:
        with httpx.Client(base_url=url, timeout=30) as client:
            return [client.get(p) for p in chunk]

    chunks = [paths[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fetch, chunks))
    by_path = {p: r for chunk, rs in zip(chunks, results, strict=True) for p, r in zip(chunk, rs, strict=True)}
    return [by_path[p] for p in paths]


def observe(url: str, trace_ids: list[str]) -> Observed:
    seen = Observed()
    for trace_id, response in zip(trace_ids, _get(url, [f"/v1/traces/{t}" for t in trace_ids]), strict=True):
        if response.status_code == 404:
            seen.traces[trace_id] = None
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["trace_id"] == trace_id  # concurrent reads must not see each other's query parameters
        spans = body.pop("spans")
        ids = [s["span_id"] for s in spans]
        assert len(ids) == len(set(ids)), f"trace {trace_id} lists a span twice"
        seen.traces[trace_id] = {s["span_id"]: s for s in spans}
        seen.trace_rollups[trace_id] = body
    page = httpx.get(f"{url}/v1/sessions", params={"limit": 1000}, timeout=30).json()
    assert page["pagination"]["total"] == len(page["data"])
    listed = {s["session_id"]: s for s in page["data"]}
    for response in _get(url, [f"/v1/sessions/{s}" for s in listed]):
        assert response.status_code == 200, response.text
        detail = response.json()
        summary = {k: v for k, v in detail.items() if k not in ("traces", "updated_at", "end_state")}
        assert summary == {k: v for k, v in listed[detail["session_id"]].items()
                           if k not in ("updated_at", "end_state")}
        seen.sessions[detail["session_id"]] = detail
    return seen


def check_consistent(seen: Observed) -> None:
    """Every observed trace's rollup matches the spans the API lists for it, and every session's rollup matches
    its turns (which hold every observed trace of that session, with the same rollup)."""
    for trace_id, spans in seen.traces.items():
        if spans is None:
            continue
        rollup = seen.trace_rollups[trace_id]
        llm = [s for s in spans.values() if s["span_type"] == "llm"]
        assert rollup["span_count"] == len(spans), f"trace {trace_id}: rollup {rollup} vs spans {sorted(spans)}"
        assert rollup["llm_call_count"] == len(llm)
        assert rollup["input_tokens"] == sum(s["input_tokens"] for s in llm)
        assert rollup["output_tokens"] == sum(s["output_tokens"] for s in llm)
        assert rollup["total_tokens"] == sum(s["total_tokens"] for s in llm)
        assert rollup["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in llm), rel=1e-9, abs=1e-12)
        carried = {s["attributes"].get("session.id") or s["attributes"].get("gen_ai.conversation.id")
                   for s in spans.values()} - {None}
        assert len(carried) <= 1
        assert rollup["session_id"] == (carried.pop() if carried else None), f"trace {trace_id}"
        if rollup["session_id"]:
            turns = {t["trace_id"]: t for t in seen.sessions[rollup["session_id"]]["traces"]}
            assert trace_id in turns, f"trace {trace_id} is not a turn of {rollup['session_id']}"
            assert turns[trace_id] | {"turn": None} == rollup, f"trace {trace_id}"
    in_sessions = [t["trace_id"] for s in seen.sessions.values() for t in s["traces"]]
    assert len(in_sessions) == len(set(in_sessions)), "a trace is a turn of two sessions"
    for session_id, got in seen.sessions.items():
        turns = got["traces"]
        assert got["trace_count"] == len(turns) > 0, session_id
        assert all(t["session_id"] == session_id for t in turns)
        for name in ("span_count", "llm_call_count", "input_tokens", "output_tokens", "total_tokens"):
            assert got[name] == sum(t[name] for t in turns), (session_id, name)
        assert got["total_cost_usd"] == pytest.approx(sum(t["cost_usd"] for t in turns), rel=1e-9, abs=1e-12)


def check_acknowledged(seen: Observed, requests: list[Req], acked: set[int], attempted: set[int]) -> None:
    """Every span of every acknowledged request is listed; every listed span was sent (in an attempted request)."""
    sent = {(s.trace_id, s.span_id) for i in attempted for s in requests[i].spans}
    for index in sorted(acked):
        for spec in requests[index].spans:
            assert spec.trace_id in seen.traces, f"test bug: trace {spec.trace_id} was not observed"
            spans = seen.traces[spec.trace_id]
            assert spans is not None and spec.span_id in spans, (
                f"acknowledged request {index}: span {spec.span_id} of trace {spec.trace_id} is missing")
    for trace_id, spans in seen.traces.items():
        for span_id in spans or {}:
            assert (trace_id, span_id) in sent, f"span {span_id} of trace {trace_id} was never sent"


def check_all_sent_once(url: str, requests: list[Req], attempted: set[int]) -> None:
    """Once every attempted request was retried until acknowledged: every span sent is listed once, every trace
    complete (root, three children, late child but for the last few), rollups exact."""
    trace_ids = [r.spans[0].trace_id for r in requests]
    seen = observe(url, trace_ids[:max(attempted) + 1])
    check_acknowledged(seen, requests, attempted, attempted)
    check_consistent(seen)
    for i in range(max(attempted) + 1 - LATE):
        spans = seen.traces[trace_ids[i]]
        assert spans is not None and len(spans) == 5
    assert sum(s["trace_count"] for s in seen.sessions.values()) == max(attempted) + 1


def post_all(url: str, requests: list[Req], threads: int) -> dict[int, int]:
    """POST every request (``threads`` workers, each sequential); status by request index."""
    status: dict[int, int] = {}
    lock = threading.Lock()
    queue = iter(requests)

    def work() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    request = next(queue, None)
                if request is None:
                    return
                code = client.post("/v1/traces", content=request.body, headers=PROTOBUF).status_code
                with lock:
                    status[request.index] = code

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return status


def restart(server: ServeProcess) -> float:
    """SIGKILL ``server`` if it still runs, start it again on the same data dir and port; seconds to ready."""
    server.kill()
    began = time.monotonic()
    server.start()
    return time.monotonic() - began


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log")
    proc.start()
    yield proc
    proc.stop()


def test_kill_after_last_ack_loses_nothing_and_replays_change_nothing(server: ServeProcess) -> None:
    requests = build_requests(200, time.time_ns() - 3600 * SEC)
    status = post_all(server.url, requests, threads=4)
    server.kill()  # right after the last 200
    assert sorted(status) == list(range(200)) and set(status.values()) == {200}, status

    assert restart(server) < 30
    trace_ids = [r.spans[0].trace_id for r in requests]
    seen = observe(server.url, trace_ids)
    check_acknowledged(seen, requests, set(range(200)), set(range(200)))
    check_consistent(seen)
    # Exactly: every trace has its root, three children and (but the last few) its late child, once.
    for i, trace_id in enumerate(trace_ids):
        spans = seen.traces[trace_id]
        assert spans is not None and len(spans) == (4 if i >= 200 - LATE else 5)
    assert len(seen.sessions) == SESSIONS
    assert sum(s["trace_count"] for s in seen.sessions.values()) == 200
    assert sum(s["span_count"] for s in seen.sessions.values()) == 200 * 5 - LATE
    want_tokens = sum(s.input_tokens + s.output_tokens for r in requests for s in r.spans)
    assert sum(s["total_tokens"] for s in seen.sessions.values()) == want_tokens
    want_cost = sum(s.input_tokens * 0.15 + s.output_tokens * 0.60 for r in requests for s in r.spans) / 1e6
    assert sum(s["total_cost_usd"] for s in seen.sessions.values()) == pytest.approx(want_cost, rel=1e-9)
    before = seen.snapshot()

    # Replay everything (an at-least-once exporter retrying), in other batch compositions: nothing changes.
    replay = post_all(server.url, requests, threads=3)
    assert set(replay.values()) == {200}
    assert observe(server.url, trace_ids).snapshot() == before
    # ... nor across a further crash and restart.
    restart(server)
    assert observe(server.url, trace_ids).snapshot() == before


def post_until_killed(server: ServeProcess, requests: list[Req], kill_after: int, threads: int = 3,
                      kill_when: Callable[[], bool] | None = None) -> tuple[set[int], set[int]]:
    """Keep posting ``requests`` from ``threads`` workers; SIGKILL the server once ``kill_after`` more requests were
    acknowledged (after a random few ms, or as soon as ``kill_when()`` holds), while others are in flight. Returns
    (acknowledged, attempted)."""
    acked: set[int] = set()
    attempted: set[int] = set()
    lock = threading.Lock()
    queue = iter(requests)
    enough = threading.Event()

    def work() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while True:
                with lock:
                    request = next(queue, None)
                    if request is None:
                        return
                    attempted.add(request.index)
                try:
                    response = client.post("/v1/traces", content=request.body, headers=PROTOBUF)
                except httpx.HTTPError:
                    return
                with lock:
                    if response.status_code == 200:
                        acked.add(request.index)
                        if len(acked) >= kill_after:
                            enough.set()
                    else:
                        return

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    assert enough.wait(60), "the server acknowledged too few requests"
    if kill_when is None:
        time.sleep(random.uniform(0.005, 0.1))  # a commit takes some tens of ms
    else:
        deadline = time.monotonic() + 60
        while not kill_when():
            assert time.monotonic() < deadline, "kill_when() never held"
            time.sleep(0.001)
    server.kill()
    for worker in workers:
        worker.join()
    return acked, attempted


def test_kill_while_requests_are_in_flight(server: ServeProcess) -> None:
    """Kill -9 with requests in flight, five times: after each restart every acknowledged span is listed, and every
    trace and session rollup agrees with the spans that are present (whatever the crash cut short)."""
    requests = build_requests(1000, time.time_ns() - 7200 * SEC)
    trace_ids = [r.spans[0].trace_id for r in requests]
    acked: set[int] = set()
    attempted: set[int] = set()
    position = 0
    in_flight = 0
    for _round in range(5):
        got, tried = post_until_killed(server, requests[position:], kill_after=15)
        acked |= got
        attempted |= tried
        in_flight += len(tried - got)
        assert restart(server) < 30
        # This round's traces, and those before whose late children this round's first requests carried.
        seen = observe(server.url, trace_ids[max(position - LATE, 0):max(attempted) + 1])
        check_acknowledged(seen, requests, got, attempted)
        check_consistent(seen)
        position = max(attempted) + 1
    assert in_flight > 0, "no kill caught a request in flight"

    # The exporters retry what was not acknowledged: then everything sent is present, once, with exact rollups.
    unacked = [requests[i] for i in sorted(attempted - acked)]
    assert set(post_all(server.url, unacked, threads=2).values()) == {200}
    check_all_sent_once(server.url, requests, attempted)
