"""An agent instrumented with the unmodified AgentOps SDK, run as a subprocess by tests/clients/test_agentops.py.

``agentops.init`` sets a process-wide OpenTelemetry tracer provider and patches the ``openai`` package, so it runs in
a process of its own, never inside the test process. Configuration is what a user sets to point AgentOps at
Threadline: ``AGENTOPS_API_KEY`` (a Threadline API key; agentops 0.4.18 refuses a non-UUID key passed as
``init(api_key=...)`` but reads the variable as it is), ``endpoint`` and ``exporter_endpoint`` (and ``app_url``, so
the session links it prints open Threadline's dashboard).

Four AgentOps traces, each an ``@agent`` whose ``@operation`` calls a ``@tool`` and the OpenAI chat API
(instrumented by AgentOps) on the local fake OpenAI-compatible server of tests/clients/fake_openai.py:
trace 1 ends with ``end_trace(end_state="Success")``, trace 2 leaves its ``with start_trace(...)`` block through an
exception (end state ``StatusCode.ERROR``); traces 3 and 4 are two turns of one chat: ``start_trace`` with a dict of
tags, which the SDK writes as span attributes (``session.id``, ``user.id``). Prints one JSON line: the trace ids.

Usage: ``python agentops_app.py --endpoint http://127.0.0.1:PORT``
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fake_openai import fake_openai

QUESTIONS = ("Where is my order 42?", "Refund order 7, please.", "Hi, I need help with order 9.",
             "Can it arrive before Friday?")
# What the fake model answers (fake_openai.py): "Answer: <last user text>", with 7 prompt tokens per message (a system
# and a user message here) and one completion token per word.
ANSWERS = tuple(f"Answer: {question}" for question in QUESTIONS)
USAGE = tuple((14, len(answer.split())) for answer in ANSWERS)  # (prompt, completion) tokens, per trace
MODEL = "gpt-4o-mini"
SYSTEM = "You are a concise order assistant."
TAGS = (["support", "orders"], ["support", "refunds"])
CHAT_ID, USER = "agentops-chat-1", "user-ao-1"  # traces 3 and 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    endpoint = parser.parse_args().endpoint

    with fake_openai() as fake:
        run(endpoint, fake.base_url)


def run(endpoint: str, openai_url: str) -> None:
    """The four traces (module docstring), against Threadline at ``endpoint`` and the fake at ``openai_url``."""
    import agentops
    import openai
    from agentops.sdk.decorators import agent, operation, tool

    agentops.init(endpoint=endpoint, exporter_endpoint=f"{endpoint}/v1/traces", app_url=endpoint,
                  auto_start_session=False)
    llm = openai.OpenAI(base_url=openai_url, api_key="sk-fake", max_retries=0)

    @tool(name="lookup_order")
    def lookup_order(order_id: int) -> dict[str, Any]:
        return {"order_id": order_id, "status": "packed"}

    @agent(name="order-agent")
    class OrderAgent:
        @operation
        def answer(self, question: str) -> str:
            lookup_order(42)
            reply = llm.chat.completions.create(model=MODEL, messages=[
                {"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
            return reply.choices[0].message.content or ""

    first = agentops.start_trace("support-chat", tags=TAGS[0])
    assert first is not None
    print(OrderAgent().answer(QUESTIONS[0]))
    agentops.end_trace(first, end_state="Success")

    second = agentops.start_trace("refund-chat", tags=TAGS[1])
    assert second is not None
    try:
        with second:
            print(OrderAgent().answer(QUESTIONS[1]))
            raise RuntimeError("refund refused")
    except RuntimeError:
        pass
    turns = []
    for question in QUESTIONS[2:]:
        turn = agentops.start_trace("chat-turn", tags={"session.id": CHAT_ID, "user.id": USER})
        assert turn is not None
        print(OrderAgent().answer(question))
        agentops.end_trace(turn, end_state="Success")
        turns.append(turn)
    ids = [f"{t.span.get_span_context().trace_id:032x}" for t in (first, second, *turns)]
    print(json.dumps({"trace_ids": ids}))


if __name__ == "__main__":
    main()
