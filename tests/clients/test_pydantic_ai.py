"""pydantic-ai / Logfire: the unmodified ``pydantic-ai`` (``TestModel``, a tool call included) with its OpenTelemetry
instrumentation, sent to a live ``threadline serve`` two ways (tests/clients/pydantic_ai_app.py):

* the OpenTelemetry SDK in the test process: the ``Instrumentation`` capability with the application's tracer
  provider and an OTLP/HTTP exporter; the session is pydantic-ai's own ``gen_ai.conversation.id`` (the run's
  ``conversation_id``, inherited by later runs through ``message_history``);
* Logfire in a subprocess: ``OTEL_EXPORTER_OTLP_ENDPOINT``/``OTEL_EXPORTER_OTLP_HEADERS``,
  ``logfire.configure(send_to_logfire=False)``, ``logfire.instrument_pydantic_ai()``, the session as the run's
  ``conversation_id`` and the user through ``logfire.set_baggage``.

Each asserts session grouping, trace/span counts, span types, tokens, model, and the conversation text of the session,
each turn (agent run: last user message of ``pydantic_ai.all_messages`` in, ``final_result`` out) and each span
(``gen_ai.input.messages``/``gen_ai.output.messages``, ``gen_ai.tool.call.arguments``/``result``).
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

import pydantic_ai_app as app
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic_ai.capabilities.instrumentation import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

APP = Path(__file__).with_name("pydantic_ai_app.py")
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
USER = "user-pa-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("pydantic-ai"), "pa-project") as live:
        yield live


def check_session(server: Threadline, session_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """The assertions both setups share; returns the session."""
    assert result["answers"] == list(app.ANSWERS)
    assert result["requests"] == [2, 1]  # turn 1: the tool call, then the answer
    session = server.read_session(session_id, 2)
    tokens_in = sum(u[0] for u in result["usage"])
    tokens_out = sum(u[1] for u in result["usage"])
    assert session["project_id"] == server.project
    # agent run + model request (tool call) + tool + model request; agent run + model request
    assert (session["trace_count"], session["span_count"]) == (2, 6)
    assert (session["llm_call_count"], session["tool_call_count"], session["error_count"]) == (3, 1, 0)
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (
        tokens_in, tokens_out, tokens_in + tokens_out)
    assert session["models"] == ["test"]
    assert (session["first_input"], session["last_output"]) == (app.QUESTIONS[0], app.ANSWERS[1])

    turns = session["traces"]
    assert [(t["input"], t["output"]) for t in turns] == list(zip(app.QUESTIONS, app.ANSWERS, strict=True))
    assert [(t["span_count"], t["llm_call_count"], t["tool_call_count"]) for t in turns] == [(4, 2, 1), (2, 1, 0)]
    assert [(t["input_tokens"], t["output_tokens"]) for t in turns] == [tuple(u) for u in result["usage"]]

    spans = sorted(server.trace(turns[0]["trace_id"])["spans"], key=lambda s: s["start_time"])
    assert [s["span_type"] for s in spans] == ["agent", "llm", "tool", "llm"]
    run, asked, tool, answered = spans
    assert run["parent_span_id"] is None and run["name"] == f"invoke_agent {app.AGENT_NAME}"
    assert (run["input"], run["output"]) == (app.QUESTIONS[0], app.ANSWERS[0])
    arguments = json.loads(tool["input"])
    assert (tool["name"], tool["output"]) == ("execute_tool get_weather", f"18C and sunny in {arguments['city']}")
    assert asked["input"] == answered["input"] == app.QUESTIONS[0]  # the tool's result is not what the user said
    assert asked["output"] == f"tool call: get_weather({json.dumps(arguments)})"
    assert answered["output"] == app.ANSWERS[0]
    return session


def test_opentelemetry_sdk(server: Threadline) -> None:
    session_id = f"pa-otel-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"Authorization": f"Bearer {server.api_key}"})))
    try:
        agent = app.make_agent([Instrumentation(settings=InstrumentationSettings(tracer_provider=provider))])
        result = app.run_chat(agent, conversation_id=session_id)
    finally:
        provider.shutdown()
    session = check_session(server, session_id, result)
    assert session["user_id"] is None  # pydantic-ai names no user; Logfire's baggage does (below)


def test_logfire(server: Threadline, tmp_path_factory: pytest.TempPathFactory) -> None:
    session_id = f"pa-logfire-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOGFIRE_", "OTEL_", "THREADLINE_")) and k.lower() not in PROXY_VARIABLES}
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{server.api_key}",
        # No network even where there is some: anything but 127.0.0.1 goes to a proxy that refuses connections.
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
    })
    done = subprocess.run([sys.executable, str(APP), "--session", session_id, "--user", USER], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path_factory.mktemp("logfire-app"))
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    session = check_session(server, session_id, result)
    assert session["user_id"] == USER
