"""The unmodified Vercel AI SDK (`ai` 5.x, ``generateText`` with ``experimental_telemetry``) exported by the
OpenTelemetry JS SDK (``@opentelemetry/sdk-trace-node`` 2.x) to a live ``threadline serve`` subprocess, through each
OTLP exporter an application may pick: ``exporter-trace-otlp-proto`` (HTTP, protobuf), ``exporter-trace-otlp-http``
(HTTP, JSON) and ``exporter-trace-otlp-grpc``.

tests/clients/js/run_vercel_ai.mjs runs two turns of one chat (the first with a tool call) against ``ai/test``'s
MockLanguageModelV2, authenticated with a project's API key; this module asserts what Threadline made of them through
the REST API: one session of two turns, span counts and types, tokens (outer call spans repeat their provider calls'
usage and must not count), user, model, and the conversation text of the session, each turn and the tool span.

Needs Node.js and the locked npm packages (``npm ci --prefix tests/clients/js``, which .ci/run does); skips with the
reason otherwise. One server for the module; each protocol is its own session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "run_vercel_ai.mjs"
NODE = shutil.which("node")
PROJECT = "vercel-ai"
USER = "user-js-1"
FUNCTION_ID = "weather-chat"
MODEL = "mock-weather-model"
QUESTION_1, ANSWER_1 = "What is the weather in Paris?", "It is 18 degrees and sunny in Paris."
QUESTION_2, ANSWER_2 = "Do I need an umbrella?", "No umbrella needed: the sky over Paris is clear."
TOOL_ARGS = '{"city":"Paris"}'
TOOL_RESULT = '{"city":"Paris","temperatureC":18,"conditions":"sunny"}'
# The mock model's usage per provider call (run_vercel_ai.mjs): turn 1 calls it twice (tool call, answer), turn 2 once.
USAGE = [(21, 7), (45, 11), (70, 13)]

if NODE is None:
    pytest.skip("node is not installed: the Vercel AI SDK tests need Node.js 20+", allow_module_level=True)
if not (JS_DIR / "node_modules" / "ai").is_dir():
    pytest.skip("tests/clients/js/node_modules is missing: run `npm ci --prefix tests/clients/js` (.ci/run does)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("vercel_ai"), PROJECT, grpc_port=free_port()) as live:
        yield live


def run_chat(server: Threadline, protocol: str, session_id: str) -> dict[str, Any]:
    """Run run_vercel_ai.mjs with ``protocol``; returns its JSON line (the two answers, the model call count)."""
    endpoint = f"http://127.0.0.1:{server.grpc_port}" if protocol == "grpc" else server.proc.url
    assert NODE is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "THREADLINE_"))}
    done = subprocess.run(
        [NODE, str(SCRIPT), "--endpoint", endpoint, "--protocol", protocol, "--api-key", server.api_key,
         "--session-id", session_id, "--user-id", USER, "--function-id", FUNCTION_ID],
        cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=120)
    # A refused export (401, UNAVAILABLE...) rejects the script's forceFlush: the process exits non-zero.
    assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result



@pytest.mark.parametrize("protocol", ["proto", "json", "grpc"])
def test_two_turns_with_a_tool_call_land_in_one_session_with_their_conversation(server: Threadline,
                                                                                protocol: str) -> None:
    session_id = f"vercel-{protocol}-{uuid.uuid4().hex[:8]}"
    result = run_chat(server, protocol, session_id)
    assert result == {"turns": [ANSWER_1, ANSWER_2], "calls": 3}

    session = server.read_session(session_id, 2)
    input_tokens, output_tokens = sum(u[0] for u in USAGE), sum(u[1] for u in USAGE)
    assert session["project_id"] == PROJECT
    assert session["trace_count"] == 2
    assert session["span_count"] == 6  # turn 1: generateText, 2 doGenerate, toolCall; turn 2: generateText, doGenerate
    assert (session["llm_call_count"], session["tool_call_count"], session["error_count"]) == (3, 1, 0)
    assert (session["input_tokens"], session["output_tokens"]) == (input_tokens, output_tokens)
    assert session["total_tokens"] == input_tokens + output_tokens
    assert session["user_id"] == USER
    assert session["models"] == [MODEL]
    assert session["first_input"] == QUESTION_1
    assert session["last_output"] == ANSWER_2

    turns = session["traces"]
    assert [t["turn"] for t in turns] == [1, 2]
    assert [(t["input"], t["output"]) for t in turns] == [(QUESTION_1, ANSWER_1), (QUESTION_2, ANSWER_2)]
    assert [t["name"] for t in turns] == [FUNCTION_ID, FUNCTION_ID]
    assert [(t["span_count"], t["llm_call_count"], t["tool_call_count"]) for t in turns] == [(4, 2, 1), (2, 1, 0)]
    assert [(t["input_tokens"], t["output_tokens"]) for t in turns] == [
        (USAGE[0][0] + USAGE[1][0], USAGE[0][1] + USAGE[1][1]), USAGE[2]]
    assert all(t["user_id"] == USER and t["models"] == [MODEL] for t in turns)
    assert [t["metadata"] for t in turns] == [{"channel": "web"}] * 2  # experimental_telemetry.metadata, ids aside

    listed = server.http.get(f"/v1/sessions/{session_id}/traces").json()
    assert [(t["trace_id"], t["input"], t["output"]) for t in listed["data"]] == [
        (t["trace_id"], t["input"], t["output"]) for t in turns]

    first = server.http.get(f"/v1/traces/{turns[0]['trace_id']}").json()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for span in first["spans"]:
        by_type.setdefault(span["span_type"], []).append(span)
    assert sorted((k, len(v)) for k, v in by_type.items()) == [("chain", 1), ("llm", 2), ("tool", 1)]
    (tool,) = by_type["tool"]
    assert (tool["name"], tool["input"], tool["output"]) == ("ai.toolCall", TOOL_ARGS, TOOL_RESULT)
    assert tool["attributes"]["ai.toolCall.name"] == "getWeather"
    llm = sorted(by_type["llm"], key=lambda s: s["start_time"])
    assert [(s["input"], s["output"]) for s in llm] == [
        (QUESTION_1, f"tool call: getWeather({TOOL_ARGS})"), (QUESTION_1, ANSWER_1)]
    assert [(s["input_tokens"], s["output_tokens"], s["model"]) for s in llm] == [(*u, MODEL) for u in USAGE[:2]]
    (chain,) = by_type["chain"]
    assert (chain["name"], chain["parent_span_id"], chain["input"], chain["output"]) == (
        "ai.generateText", None, QUESTION_1, ANSWER_1)
