"""Add sessions to an existing OpenTelemetry setup (OpenInference, OpenLLMetry, or any instrumentation).

Your app already has a TracerProvider, an OTLP exporter and instrumentors that create LLM spans; you only want the
spans grouped into sessions. Add one span processor, wrap each conversation in ``session()``:

    provider.add_span_processor(threadline_sdk.SessionSpanProcessor())
    with threadline_sdk.session("chat-123", user_id="u1"):
        ...  # every span any instrumentor starts here carries session.id and user.id

(``threadline_sdk.init()`` does the same when it finds your global provider, and also adds its own exporter; pass
``export=False`` if yours already sends to Threadline.)

To stay runnable without real LLM calls, the two "instrumentors" below emit the spans the OpenInference OpenAI
instrumentor and OpenLLMetry (Traceloop) emit, with their attributes; with the real packages installed
(``OpenAIInstrumentor().instrument(tracer_provider=provider)``, ``Traceloop.init(...)``) nothing else changes.

    threadline serve &
    python examples/existing_otel.py
"""

from __future__ import annotations

import json
import os
import time
import uuid

import threadline_sdk as tl
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

ENDPOINT = os.environ.get("THREADLINE_ENDPOINT", "http://127.0.0.1:4318").rstrip("/")
API_KEY = os.environ.get("THREADLINE_API_KEY")


def existing_setup() -> TracerProvider:
    """What the application had before: its own provider and OTLP exporter (here pointed at Threadline)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "example-existing-otel"}))
    headers = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{ENDPOINT}/v1/traces",
                                                                    headers=headers)))
    trace.set_tracer_provider(provider)
    return provider


def openinference_openai_call(question: str) -> str:
    """The span the OpenInference OpenAI instrumentor creates around ``client.chat.completions.create``."""
    tracer = trace.get_tracer("openinference.instrumentation.openai")
    answer = f"(answer to: {question})"
    with tracer.start_as_current_span("ChatCompletion", attributes={
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "input.value": json.dumps({"messages": [{"role": "user", "content": question}]}),
        "input.mime_type": "application/json",
    }) as span:
        time.sleep(0.01)
        span.set_attribute("output.value", answer)
        span.set_attribute("llm.token_count.prompt", 25)
        span.set_attribute("llm.token_count.completion", 12)
        span.set_attribute("llm.token_count.total", 37)
    return answer


def openllmetry_workflow(question: str) -> str:
    """The spans OpenLLMetry creates for a ``@workflow`` that makes one OpenAI call."""
    tracer = trace.get_tracer("traceloop.sdk")
    with tracer.start_as_current_span("support.workflow", attributes={
        "traceloop.span.kind": "workflow", "traceloop.entity.name": "support",
        "traceloop.entity.input": json.dumps({"question": question}),
    }) as workflow:
        with tracer.start_as_current_span("openai.chat", attributes={
            "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": question,
        }) as llm:
            answer = f"(workflow answer to: {question})"
            llm.set_attribute("gen_ai.completion.0.content", answer)
            llm.set_attribute("gen_ai.usage.prompt_tokens", 30)
            llm.set_attribute("gen_ai.usage.completion_tokens", 10)
        workflow.set_attribute("traceloop.entity.output", json.dumps({"answer": answer}))
    return answer


def main() -> list[str]:
    provider = existing_setup()
    provider.add_span_processor(tl.SessionSpanProcessor())  # the one line that adds sessions

    session_id = f"example-otel-{uuid.uuid4().hex[:8]}"
    app_tracer = trace.get_tracer("my.app")
    with tl.session(session_id, user_id="user-1", metadata={"tier": "free"}, tags=["example", "otel"]):
        for question in ["What is OpenInference?", "And OpenLLMetry?"]:
            with app_tracer.start_as_current_span("chat_turn", attributes={"input.value": question}) as turn:
                turn.set_attribute("output.value", openinference_openai_call(question))
        openllmetry_workflow("Which one should I use?")  # a turn started by another instrumentation
    print(f"session: {session_id}")
    provider.force_flush()

    with tl.Client(ENDPOINT, API_KEY) as client:
        for _ in range(50):
            try:
                found = client.sessions.get(session_id)
                if found.trace_count == 3:
                    break
            except tl.NotFoundError:
                pass
            time.sleep(0.1)
        print(f"{session_id}: {found.trace_count} turns, {found.llm_call_count} LLM calls, "
              f"{found.total_tokens} tokens, user {found.user_id}, models {found.models}")
    provider.shutdown()
    return [session_id]


if __name__ == "__main__":
    main()
