"""OpenInference: the unmodified ``openinference-instrumentation-openai`` wrapping the real ``openai`` client (pointed
at a local fake OpenAI server), exported by the OpenTelemetry SDK over OTLP/HTTP to a live ``threadline serve``. What
a user sets: the OTLP exporter's endpoint and ``Authorization`` header; ``using_session`` / ``using_user`` (from
``openinference-instrumentation``) name the session and user.

Three turns of one chat: a plain answer, a streamed answer (usage in the last chunk), and a tool round (the model
asks for ``get_weather``, the app answers with its result) inside one application span. Asserts session grouping,
trace and span counts, tokens, user, model, span types, and that the session's ``first_input``/``last_output`` and
each turn's input/output hold the conversation text, not the request/response JSON OpenInference puts in
``input.value``/``output.value``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI, fake_openai
from openinference.instrumentation import using_session, using_user
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

MODEL = "gpt-4o-mini"
USER = "user-oi-1"
SYSTEM = "You are a terse weather assistant."
QUESTIONS = ["Hello, who are you?", "Is it going to rain today?", "What is the weather in Paris?"]
TOOL_RESULT = "18C and sunny"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("openinference"), "oi-project") as live:
        yield live


@pytest.fixture(scope="module")
def chat(server: Threadline) -> Iterator[tuple[str, FakeOpenAI]]:
    """Run the three turns with the instrumentation on; yield the session id and the fake's answered calls."""
    session_id = f"oi-chat-{uuid.uuid4().hex[:8]}"
    # The application's own provider (never the process-wide one other tests may set); SimpleSpanProcessor exports
    # each span as it ends, and Threadline acknowledges an export once committed.
    provider = TracerProvider(resource=Resource.create({"service.name": "oi-weather-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"Authorization": f"Bearer {server.api_key}"})))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with fake_openai() as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="sk-fake", max_retries=0)
            tracer = provider.get_tracer("oi-weather-bot")
            history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
            with using_session(session_id), using_user(USER):
                history.append({"role": "user", "content": QUESTIONS[0]})
                reply = client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
                history.append({"role": "assistant", "content": reply.choices[0].message.content})

                history.append({"role": "user", "content": QUESTIONS[1]})
                stream = client.chat.completions.create(model=MODEL, messages=history,  # type: ignore[arg-type]
                                                        stream=True, stream_options={"include_usage": True})
                streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                history.append({"role": "assistant", "content": streamed})

                with tracer.start_as_current_span("weather-turn"):
                    history.append({"role": "user", "content": QUESTIONS[2]})
                    asked = client.chat.completions.create(model=MODEL, messages=history,  # type: ignore[arg-type]
                                                           tools=TOOLS)  # type: ignore[arg-type]
                    call = asked.choices[0].message.tool_calls[0]  # type: ignore[index]
                    history.append(asked.choices[0].message.model_dump(exclude_none=True))
                    history.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
                    client.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
            yield session_id, fake
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def test_three_turns_land_in_one_session_with_their_conversation(server: Threadline,
                                                                  chat: tuple[str, FakeOpenAI]) -> None:
    session_id, fake = chat
    answers = [call.text for call in fake.calls]
    assert answers[2] == "" and answers[3] == f"Answer: {TOOL_RESULT}"  # the tool round: a call, then the answer
    session = server.read_session(session_id, 3)
    prompt = sum(c.prompt_tokens for c in fake.calls)
    completion = sum(c.completion_tokens for c in fake.calls)
    assert session["project_id"] == server.project
    assert (session["trace_count"], session["span_count"], session["llm_call_count"]) == (3, 5, 4)
    assert (session["input_tokens"], session["output_tokens"], session["total_tokens"]) == (
        prompt, completion, prompt + completion)
    assert session["user_id"] == USER
    assert session["models"] == [MODEL]
    assert session["first_input"] == QUESTIONS[0]
    assert session["last_output"] == answers[3]

    turns = session["traces"]
    expected = [(QUESTIONS[0], answers[0]), (QUESTIONS[1], answers[1]), (QUESTIONS[2], answers[3])]
    assert [(t["input"], t["output"]) for t in turns] == expected
    assert [t["span_count"] for t in turns] == [1, 1, 3]
    listed = server.http.get(f"/v1/sessions/{session_id}/traces").json()["data"]
    assert [(t["input"], t["output"]) for t in listed] == expected
    for turn in turns:
        assert not turn["input"].startswith("{") and not turn["output"].startswith("{")


def test_spans_keep_types_tokens_and_the_tool_call(server: Threadline, chat: tuple[str, FakeOpenAI]) -> None:
    session_id, fake = chat
    turns = server.read_session(session_id, 3)["traces"]
    streamed = server.trace(turns[1]["trace_id"])["spans"]
    assert [(s["span_type"], s["model"], s["input_tokens"], s["output_tokens"]) for s in streamed] == [
        ("llm", MODEL, fake.calls[1].prompt_tokens, fake.calls[1].completion_tokens)]

    spans = server.trace(turns[2]["trace_id"])["spans"]
    root = next(s for s in spans if s["parent_span_id"] is None)
    llm = sorted((s for s in spans if s["span_type"] == "llm"), key=lambda s: s["start_time"])
    assert root["name"] == "weather-turn" and len(llm) == 2
    arguments = json.dumps(fake.tool_arguments)
    assert (llm[0]["input"], llm[0]["output"]) == (QUESTIONS[2], f"tool call: get_weather({arguments})")
    assert (llm[1]["input"], llm[1]["output"]) == (QUESTIONS[2], f"Answer: {TOOL_RESULT}")
    # the raw request/response stay available as span attributes
    attributes = llm[0]["attributes"]
    assert attributes["input.mime_type"] == "application/json"
    assert json.loads(attributes["input.value"])["model"] == MODEL
