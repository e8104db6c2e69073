"""A chat app instrumented with the unmodified OpenLLMetry SDK (``traceloop-sdk``), run as a subprocess by
tests/clients/test_openllmetry.py: ``Traceloop.init`` sets a process-wide tracer provider and instruments every
library it finds, so it runs in a process of its own.

What a user sets to send to Threadline: ``Traceloop.init(api_endpoint=<Threadline URL>, headers={"Authorization":
"Bearer <key>"})`` (``disable_batch=True`` exports each span as it ends), and the session and user as association
properties. Two turns of one chat, each a ``@workflow`` calling the OpenAI chat API (instrumented by OpenLLMetry's
``opentelemetry-instrumentation-openai``) on the local fake of tests/clients/fake_openai.py; turn 2 is a tool round
(the model asks for ``get_weather``, a ``@tool``, then answers with its result). Prints one JSON line: the answers
and each call's usage.

Usage: ``python openllmetry_app.py --endpoint http://127.0.0.1:PORT --api-key KEY --session ID --user ID``
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fake_openai import fake_openai

MODEL = "gpt-4o-mini"
SYSTEM = "You are a terse weather assistant."
QUESTIONS = ("Hello, who are you?", "What is the weather in Paris?")
TOOL_RESULT = "18C and sunny"
WORKFLOW = "weather_chat"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--endpoint", "--api-key", "--session", "--user"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()

    import openai
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import tool, workflow

    Traceloop.init(app_name="weather-bot", api_endpoint=args.endpoint,
                   headers={"Authorization": f"Bearer {args.api_key}"}, disable_batch=True, telemetry_enabled=False)

    with fake_openai() as fake:
        llm = openai.OpenAI(base_url=fake.base_url, api_key="sk-fake", max_retries=0)
        history: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]

        @tool(name="get_weather")
        def get_weather(city: str) -> str:
            return TOOL_RESULT

        @workflow(name=WORKFLOW)
        def answer(question: str) -> str:
            Traceloop.set_association_properties({"session_id": args.session, "user_id": args.user})
            history.append({"role": "user", "content": question})
            # The weather tool is offered to weather questions only (the fake calls any tool it is offered).
            offered: dict[str, Any] = {"tools": TOOLS} if "weather" in question.lower() else {}
            reply = llm.chat.completions.create(model=MODEL, messages=history, **offered)  # type: ignore[arg-type]
            message = reply.choices[0].message
            if message.tool_calls:
                history.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    city = json.loads(call.function.arguments)["city"]  # type: ignore[union-attr]
                    history.append({"role": "tool", "tool_call_id": call.id, "content": get_weather(city)})
                reply = llm.chat.completions.create(model=MODEL, messages=history)  # type: ignore[arg-type]
                message = reply.choices[0].message
            history.append({"role": "assistant", "content": message.content})
            return message.content or ""

        answers = [answer(question) for question in QUESTIONS]
        calls = [{"text": c.text, "tool_call": c.tool_call is not None, "prompt_tokens": c.prompt_tokens,
                  "completion_tokens": c.completion_tokens} for c in fake.calls]
    print(json.dumps({"answers": answers, "calls": calls}))


if __name__ == "__main__":
    main()
