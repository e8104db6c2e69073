"""A two-turn pydantic-ai chat (``TestModel``, no network) used by tests/clients/test_pydantic_ai.py, in two setups:

* :func:`run_chat` in the test process, instrumented with pydantic-ai's own OpenTelemetry instrumentation
  (``capabilities=[Instrumentation(InstrumentationSettings(tracer_provider=...))]``) exported by the OpenTelemetry SDK;
* as a script (``python pydantic_ai_app.py --session ID --user ID``), instrumented by Logfire the way a Logfire user
  sends to another OTLP backend: ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_HEADERS`` in the environment,
  ``logfire.configure(send_to_logfire=False)``, ``logfire.instrument_pydantic_ai()``; the session is the run's
  ``conversation_id`` and the user is set with ``logfire.set_baggage`` (Logfire copies baggage onto every span as
  attributes). Logfire sets a process-wide tracer provider, hence its own process. Prints one JSON line: the answers
  and each run's token usage.

Turn 1 calls the ``get_weather`` tool, then answers; turn 2 (its history passed as ``message_history``) answers
directly (``TestModel`` calls tools only in a conversation's first request). The model name is ``test``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

AGENT_NAME = "weather_agent"
SYSTEM = "You are a terse weather assistant."
QUESTIONS = ("What is the weather in Paris?", "Thanks! Will it rain tomorrow?")
ANSWERS = ("It is 18C and sunny in Paris.", "No rain is expected tomorrow.")


def make_agent(capabilities: list[Any] | None = None) -> Agent[None, str]:
    """The agent with its one tool; ``capabilities`` carry the instrumentation in the OpenTelemetry SDK setup."""
    agent = Agent(name=AGENT_NAME, system_prompt=SYSTEM, capabilities=capabilities or [])

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather of a city."""
        return f"18C and sunny in {city}"

    return agent


def run_chat(agent: Agent[None, str], conversation_id: str | None = None) -> dict[str, Any]:
    """The two turns (module docstring); returns the answers and each run's (input, output) token usage."""
    first = agent.run_sync(QUESTIONS[0], model=TestModel(call_tools=["get_weather"], custom_output_text=ANSWERS[0]),
                           conversation_id=conversation_id)
    second = agent.run_sync(QUESTIONS[1], model=TestModel(call_tools=[], custom_output_text=ANSWERS[1]),
                            message_history=first.all_messages())
    runs = (first, second)
    return {"answers": [r.output for r in runs],
            "usage": [[r.usage.input_tokens, r.usage.output_tokens] for r in runs],
            "requests": [r.usage.requests for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session", required=True)
    parser.add_argument("--user", required=True)
    args = parser.parse_args()

    import logfire

    # metrics=False: Threadline takes traces and logs, not OTLP metrics
    logfire.configure(send_to_logfire=False, service_name="weather-bot", console=False, metrics=False)
    logfire.instrument_pydantic_ai()
    # The session is pydantic-ai's conversation id: Logfire's default scrubbing redacts the value of any attribute
    # whose name contains "session" (a session.id baggage entry arrives as "[Scrubbed due to 'session']").
    with logfire.set_baggage(**{"user.id": args.user}):
        result = run_chat(make_agent(), conversation_id=args.session)
    logfire.force_flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
