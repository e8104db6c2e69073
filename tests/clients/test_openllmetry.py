"""OpenLLMetry: the unmodified ``traceloop-sdk`` (its OpenAI instrumentation, ``@workflow`` and ``@tool``, session
and user as association properties) sending to a live ``threadline serve`` with ``Traceloop.init(api_endpoint=...,
headers=...)``; the app (tests/clients/openllmetry_app.py) runs as a subprocess, since the SDK sets a process-wide
tracer provider and instruments every library it finds.

Asserts session grouping, trace/span counts, span types, tokens, user, model, turn names (the workflow name) and the
conversation text: the session's first input and last output, each turn's input/output (the workflow's recorded
argument and result) and each LLM span's (GenAI ``gen_ai.input.messages``/``gen_ai.output.messages``, which this SDK
version writes, read as a conversation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openllmetry_app as app
import pytest
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

APP = Path(__file__).with_name("openllmetry_app.py")
USER = "user-ol-1"
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("openllmetry"), "ol-project") as live:
        yield live


@pytest.fixture(scope="module")
def chat(server: Threadline, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """Run the app once; return the session id and what it printed (answers, each call's usage)."""
    session_id = f"ol-chat-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACELOOP_", "OTEL_", "THREADLINE_")) and k.lower() not in PROXY_VARIABLES}
    # No network even where there is some: anything but 127.0.0.1 goes to a proxy that refuses connections.
    env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                "NO_PROXY": "127.0.0.1,localhost", "TRACELOOP_TELEMETRY": "false",
                # Threadline takes no OTLP metrics; the SDK would post them to <api_endpoint>/v1/metrics
                "TRACELOOP_METRICS_ENABLED": "false"})
    done = subprocess.run([sys.executable, str(APP), "--endpoint", server.url, "--api-key", server.api_key,
                           "--session", session_id, "--user", USER], env=env, capture_output=True, text=True,
                          timeout=180, cwd=tmp_path_factory.mktemp("openllmetry-app"))
    assert done.returncode == 0, done.stdout + done.stderr
    printed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return session_id, printed


def test_two_workflows_land_in_one_session_with_their_conversation(server: Threadline,
                                                                    chat: tuple[str, dict[str, Any]]) -> None:
    session_id, printed = chat
    calls = printed["calls"]
    answers = printed["answers"]
    assert [c["tool_call"] for c in calls] == [False, True, False]
    assert answers == [f"Answer: {app.QUESTIONS[0]}", f"Answer: {app.TOOL_RESULT}"]
    session = server.read_session(session_id, 2)
    prompt = sum(c["prompt_tokens"] for c in calls)
    completion = sum(c["completion_tokens"] for c in calls)
    assert session["project_id"] == server.project
    assert (session["trace_count"], session["span_count"]) == (2, 6)  # workflow + llm; workflow + llm, tool, llm
    assert (session["llm_call_count"], session["tool_call_count"]) == (3, 1)
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (
        prompt, completion, prompt + completion)
    assert session["user_id"] == USER
    assert session["models"] == [app.MODEL]
    assert (session["first_input"], session["last_output"]) == (app.QUESTIONS[0], answers[1])

    turns = session["traces"]
    assert [(t["input"], t["output"]) for t in turns] == list(zip(app.QUESTIONS, answers, strict=True))
    assert [t["name"] for t in turns] == [app.WORKFLOW, app.WORKFLOW]
    assert [(t["span_count"], t["llm_call_count"], t["tool_call_count"]) for t in turns] == [(2, 1, 0), (4, 2, 1)]
    listed = server.http.get(f"/v1/sessions/{session_id}/traces").json()["data"]
    assert [(t["input"], t["output"]) for t in listed] == list(zip(app.QUESTIONS, answers, strict=True))


def test_the_tool_round_spans(server: Threadline, chat: tuple[str, dict[str, Any]]) -> None:
    session_id, printed = chat
    turn = server.read_session(session_id, 2)["traces"][1]
    spans = sorted(server.trace(turn["trace_id"])["spans"], key=lambda s: s["start_time"])
    assert [s["span_type"] for s in spans] == ["chain", "llm", "tool", "llm"]
    workflow, asked, tool, answered = spans
    assert workflow["parent_span_id"] is None
    assert (workflow["input"], workflow["output"]) == (app.QUESTIONS[1], printed["answers"][1])
    assert (asked["input"], asked["output"]) == (app.QUESTIONS[1], 'tool call: get_weather({"city": "Paris"})')
    assert (tool["name"], tool["input"], tool["output"]) == ("get_weather.tool", "Paris", app.TOOL_RESULT)
    assert (answered["input"], answered["output"]) == (app.QUESTIONS[1], printed["answers"][1])
    usage = printed["calls"][1:]
    assert [(s["input_tokens"], s["output_tokens"]) for s in (asked, answered)] == [
        (c["prompt_tokens"], c["completion_tokens"]) for c in usage]
    assert asked["model"] == answered["model"] == app.MODEL
