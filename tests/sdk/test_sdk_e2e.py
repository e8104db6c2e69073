"""The SDK end to end against live ``threadline serve`` subprocesses: sessions through ``init``/``observe``/``session``
plus a third-party tracer, read back with ``Client`` and ``AsyncClient``; end states; API keys; the server down and
back; the examples."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import threadline_sdk as tl
from conftest import ServeProcess, free_port
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sdk_helpers import wait_for

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One ``threadline serve`` for the tests of this module (in local development mode: no keys)."""
    base = tmp_path_factory.mktemp("sdk-serve")
    proc = ServeProcess(base / "data", free_port(), base / "serve.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """An application's own tracer provider; ``init`` attaches to it. Undone afterwards."""
    tl.shutdown()
    created = TracerProvider(resource=Resource.create({"service.name": "sdk-e2e"}))
    yield created
    tl.shutdown()
    created.shutdown()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_five_turn_chat_and_a_third_party_turn_share_one_session(server: ServeProcess,
                                                                 provider: TracerProvider) -> None:
    tl.init(server.url, tracer_provider=provider, schedule_delay_ms=50)
    vendor = provider.get_tracer("vendor.instrumentation")  # e.g. an instrumentor that knows nothing of sessions

    @tl.observe(as_type="generation", model="gpt-4o-mini")
    def llm(question: str) -> str:
        turn = int(question.split()[-1])
        tl.update_current(input_tokens=100 + turn, output_tokens=20 + turn)
        return f"answer {turn}"

    @tl.observe(as_type="tool")
    def lookup_order(order_id: str) -> dict[str, str]:
        return {"order_id": order_id, "status": "shipped"}

    @tl.observe(name="chat_turn")
    def chat_turn(question: str) -> str:
        turn = int(question.split()[-1])
        if turn % 2:
            lookup_order(f"A-{turn}")
        return llm(question)

    session_id = new_id("team/chat 5")  # a '/' and a space: ids are percent-encoded in paths
    questions = [f"question {t}" for t in range(5)]
    with tl.session(session_id, user_id="u-42", metadata={"plan": "pro"}, tags=["e2e", "sdk"]) as chat:
        for turn, question in enumerate(questions):
            assert chat_turn(question) == f"answer {turn}"
        with vendor.start_as_current_span("vendor turn", attributes={"input.value": "vendor question"}) as root:
            with vendor.start_as_current_span("vendor llm", attributes={
                    "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 50,
                    "gen_ai.usage.output_tokens": 5}):
                pass
            root.set_attribute("output.value", "vendor answer")
    assert tl.flush(20)

    client = tl.Client(server.url)
    found = wait_for(lambda: (s := client.sessions.get(session_id)).trace_count == 6 and s)
    assert found.session_id == session_id and found.user_id == "u-42"
    assert found.llm_call_count == 6 and found.tool_call_count == 2
    assert found.span_count == 5 + 5 + 2 + 2
    assert found.input_tokens == sum(100 + t for t in range(5)) + 50
    assert found.output_tokens == sum(20 + t for t in range(5)) + 5
    assert found.total_cost_usd > 0 and found.models == ["gpt-4o-mini"]
    assert found.metadata["plan"] == "pro" and set(found.tags) >= {"e2e", "sdk"}
    assert found.first_input == "question 0" and found.last_output == "vendor answer"
    assert found.end_state == "active"

    traces = list(client.sessions.traces(session_id, page_size=4))  # two pages
    assert [t.turn for t in traces] == [1, 2, 3, 4, 5, 6]
    assert [t.name for t in traces] == ["chat_turn"] * 5 + ["vendor turn"]
    vendor_trace = client.traces.get(traces[-1].trace_id)
    spans = {s.name: s for s in vendor_trace.spans}
    assert spans["vendor llm"].attributes["session.id"] == session_id  # set by the SessionSpanProcessor
    assert spans["vendor llm"].attributes["user.id"] == "u-42"
    tool_turn = client.traces.get(traces[1].trace_id)
    assert sorted(s.span_type for s in tool_turn.spans) == ["chain", "llm", "tool"]

    chat.end("success")  # after the turns: joins the last trace, adds no turn
    assert tl.flush(20)
    ended = wait_for(lambda: (s := client.sessions.get(session_id)).end_state == "success" and s)
    assert ended.trace_count == 6
    assert [s.session_id for s in client.sessions.list() if s.session_id == session_id] == [session_id]
    client.close()


def test_read_client_pages_filters_writes_and_scores(server: ServeProcess) -> None:
    prefix = new_id("client")
    with tl.Client(server.url) as client:
        created = [client.sessions.create(f"{prefix}-{i}", name=f"n{i}", user_id="u-c", metadata={"i": str(i)},
                                          tags=["created"]) for i in range(5)]
        assert created[0].name == "n0" and created[0].trace_count == 0
        with pytest.raises(tl.ConflictError):
            client.sessions.create(f"{prefix}-0")
        with pytest.raises(tl.NotFoundError) as missing:
            client.sessions.get(f"{prefix}-missing")
        assert missing.value.status_code == 404 and prefix in missing.value.detail

        total = client.sessions.page(limit=1).pagination.total
        listed = [s.session_id for s in client.sessions.list(page_size=2)]
        assert len(listed) == len(set(listed)) == total
        assert {c.session_id for c in created} <= set(listed)
        assert len(list(client.sessions.list(page_size=2, max_items=3))) == 3

        updated = client.sessions.update(f"{prefix}-1", name="renamed", bookmarked=True, end_state="failure",
                                         tags=["edited"])
        assert (updated.name, updated.bookmarked, updated.end_state, updated.tags) == (
            "renamed", True, "failure", ["edited"])
        cleared = client.sessions.update(f"{prefix}-1", end_state=None)
        assert cleared.name == "renamed" and cleared.end_state != "failure"

        score = client.sessions.score(f"{prefix}-2", "quality", 0.5, comment="meh", source="code")
        assert (score.target, score.data_type, score.value, score.source) == ("session", "numeric", 0.5, "code")
        client.sessions.score(f"{prefix}-2", "resolved", True)
        client.sessions.score(f"{prefix}-2", "topic", "billing")
        scores = client.sessions.scores(f"{prefix}-2")
        assert [(s.name, s.data_type) for s in scores] == [
            ("quality", "numeric"), ("resolved", "boolean"), ("topic", "categorical")]
        assert client.sessions.get(f"{prefix}-2").quality_score == 0.5

        job = client.sessions.delete(f"{prefix}-3", wait=True)
        assert job.status == "done"
        with pytest.raises(tl.NotFoundError):
            client.sessions.get(f"{prefix}-3")


def test_stats_and_trace_scores(server: ServeProcess, provider: TracerProvider) -> None:
    tl.init(server.url, tracer_provider=provider, schedule_delay_ms=50)
    session_id = new_id("stats")
    with tl.session(session_id):
        for turn in range(2):
            with tl.trace(f"turn {turn}", input=f"q{turn}") as t, t.generation("llm", model="gpt-4o") as g:
                g.update(output="a", input_tokens=1000, output_tokens=200)
    assert tl.flush(20)
    with tl.Client(server.url) as client:
        stats = wait_for(lambda: (s := client.sessions.stats(session_id)).trace_count == 2 and s)
        assert stats.llm_call_count == 2 and stats.input_tokens == 2000 and stats.output_tokens == 400
        assert [m.model for m in stats.models] == ["gpt-4o"] and stats.models[0].call_count == 2
        assert stats.first_input == "q0"
        trace_id = t.trace_id
        score = client.traces.score(trace_id, "helpful", False, comment="wrong answer")
        assert (score.target, score.target_id, score.value) == ("trace", trace_id, False)
        assert [s.name for s in client.traces.scores(trace_id)] == ["helpful"]


def test_async_client(server: ServeProcess) -> None:
    prefix = new_id("async")

    async def main() -> None:
        async with tl.AsyncClient(server.url) as client:
            for i in range(3):
                await client.sessions.create(f"{prefix}-{i}", user_id="u-a")
            listed = [s.session_id async for s in client.sessions.list(page_size=2)]
            assert {f"{prefix}-{i}" for i in range(3)} <= set(listed)
            detail = await client.sessions.get(f"{prefix}-0")
            assert detail.traces == [] and detail.user_id == "u-a"
            assert [t async for t in client.sessions.traces(f"{prefix}-0")] == []
            updated = await client.sessions.update(f"{prefix}-0", metadata={"k": "v"})
            assert updated.metadata["k"] == "v"
            await client.sessions.score(f"{prefix}-0", "quality", 1.0)
            assert len(await client.sessions.scores(f"{prefix}-0")) == 1
            job = await client.sessions.delete(f"{prefix}-1", wait=True)
            assert job.finished
            with pytest.raises(tl.NotFoundError):
                await client.sessions.get(f"{prefix}-1")

    asyncio.run(main())


def test_api_keys_for_export_and_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       provider: TracerProvider, caplog: pytest.LogCaptureFixture) -> None:
    admin = "admin-" + uuid.uuid4().hex
    monkeypatch.setenv("THREADLINE_ADMIN_KEY", admin)
    proc = ServeProcess(tmp_path / "data", free_port(), tmp_path / "serve.log")
    proc.start()
    try:
        headers = {"Authorization": f"Bearer {admin}"}
        httpx.post(f"{proc.url}/v1/admin/projects", json={"project_id": "shop"}, headers=headers).raise_for_status()
        created = httpx.post(f"{proc.url}/v1/admin/keys", json={"project_id": "shop", "name": "sdk"}, headers=headers)
        created.raise_for_status()
        key = created.json()["secret"]
        assert key.startswith("tl_")

        monkeypatch.setenv("THREADLINE_ENDPOINT", proc.url)
        monkeypatch.setenv("THREADLINE_API_KEY", key)
        tl.init(tracer_provider=provider, schedule_delay_ms=50)  # endpoint and key from the environment
        with tl.session("keyed"), tl.trace("turn"):
            pass
        assert tl.flush(20)
        with tl.Client() as client:
            assert wait_for(lambda: client.sessions.get("keyed")).project_id == "shop"
        with tl.Client(proc.url, api_key="tl_wrong_key") as wrong, pytest.raises(tl.AuthenticationError):
            wrong.sessions.get("keyed")

        tl.shutdown()
        tl.init(proc.url, api_key="tl_wrong_key", tracer_provider=provider, schedule_delay_ms=50)
        with caplog.at_level(logging.ERROR, logger="threadline_sdk"), tl.session("refused"), tl.trace("turn"):
            pass
        tl.flush(20)
        active = tl.get_active()
        assert active is not None and active.exporter is not None
        assert active.exporter.dropped == 1 and active.exporter.buffered == 0  # refused, not retried forever
        assert "HTTP 401" in caplog.text
    finally:
        proc.stop()


def test_server_down_then_back(tmp_path: Path, provider: TracerProvider) -> None:
    port = free_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}"
    tl.init(url, tracer_provider=provider, schedule_delay_ms=50, export_timeout_s=1, retry_initial_s=0.2,
            retry_max_s=1.0)
    session_id = new_id("outage")

    @tl.observe(as_type="generation", model="gpt-4o-mini")
    def llm(question: str) -> str:
        tl.update_current(input_tokens=10, output_tokens=2)
        return question[::-1]

    started = time.monotonic()
    with tl.session(session_id, user_id="u-o"):
        answers = [llm(f"turn {i}") for i in range(4)]
    assert answers == [f"turn {i}"[::-1] for i in range(4)]  # the application is unaffected
    assert not tl.flush(3)  # cannot deliver: says so, does not raise
    assert time.monotonic() - started < 10
    active = tl.get_active()
    assert active is not None and active.exporter is not None
    assert active.exporter.buffered == 4 and active.exporter.dropped == 0

    proc = ServeProcess(tmp_path / "data", port, tmp_path / "serve.log")
    proc.start()  # the server comes (back) up on the same address
    try:
        with tl.Client(url) as client:
            found = wait_for(lambda: (s := client.sessions.get(session_id)).trace_count == 4 and s, timeout_s=30)
        assert found.llm_call_count == 4 and found.input_tokens == 40 and found.user_id == "u-o"
        wait_for(lambda: active.exporter.buffered == 0, timeout_s=10)  # the answer may trail the commit
        assert active.exporter.delivered == 4 and active.exporter.dropped == 0
    finally:
        proc.stop()


@pytest.mark.parametrize("example", ["chatbot", "agent", "existing_otel"])
def test_examples_run_against_a_local_server(server: ServeProcess, example: str) -> None:
    env = {**os.environ, "THREADLINE_ENDPOINT": server.url}
    env.pop("THREADLINE_API_KEY", None)
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{example}.py")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    ids = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("session: ")]
    assert ids, done.stdout
    with tl.Client(server.url) as client:
        for session_id in ids:
            found: Any = client.sessions.get(session_id)
            assert found.trace_count >= 3
            assert found.llm_call_count >= 3
            assert found.user_id
