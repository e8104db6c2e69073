"""A tool-using agent traced with threadline-sdk: agent, LLM and tool spans, an async run, and the manual API.

The "LLM" is a scripted local fake that decides which tool to call. Run a server, then this:

    threadline serve &
    python examples/agent.py
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import threadline_sdk as tl

WEATHER = {"paris": "12°C, light rain", "tokyo": "18°C, clear"}


@tl.observe(as_type="tool")
def get_weather(city: str) -> str:
    return WEATHER.get(city.lower(), "unknown")


@tl.observe(as_type="tool")
def calculator(expression: str) -> float:
    left, op, right = expression.split()
    a, b = float(left), float(right)
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]


TOOLS: dict[str, Any] = {"get_weather": get_weather, "calculator": calculator}


@tl.observe(as_type="generation", model="gpt-4o")
async def plan(task: str, observations: list[str]) -> dict[str, Any]:
    """A scripted planner: returns a tool call until every step is done, then the answer."""
    await asyncio.sleep(0.01)
    steps = [("get_weather", {"city": c}) for c in WEATHER if c in task.lower()]
    if "add" in task.lower():
        steps.append(("calculator", {"expression": "12 + 18"}))
    tl.update_current(input_tokens=200 + 50 * len(observations), output_tokens=30)
    if len(observations) < len(steps):
        name, arguments = steps[len(observations)]
        return {"tool": name, "arguments": arguments}
    return {"answer": "; ".join(observations)}


@tl.observe(as_type="agent", name="weather_agent")
async def run_agent(task: str) -> str:
    observations: list[str] = []
    for _ in range(5):
        decision = await plan(task, observations)
        if "answer" in decision:
            return str(decision["answer"])
        try:
            result = TOOLS[decision["tool"]](**decision["arguments"])
        except Exception as exc:  # a failing tool is recorded on its span (status ERROR); the agent goes on
            result = f"error: {exc}"
        observations.append(f"{decision['tool']}({json.dumps(decision['arguments'])}) = {result}")
    raise RuntimeError("agent did not finish in 5 steps")


async def main_async() -> list[str]:
    tl.init(service_name="example-agent")
    session_id = f"example-agent-{uuid.uuid4().hex[:8]}"
    async with tl.session(session_id, user_id="user-7", metadata={"agent": "weather"}, tags=["example", "agent"]):
        for task in ["What is the weather in Paris and Tokyo?", "Add the temperatures of Paris and Tokyo"]:
            print(f"{task} -> {await run_agent(task)}")

    # The same kind of turn with the manual API (no decorators), as a framework callback would do.
    with tl.trace("manual turn", session_id=session_id, input="Divide by zero?") as turn:
        with turn.span("calculator", as_type="tool", input={"expression": "1 / 0"}) as tool:
            try:
                tool.update(output=1 / 0)
            except ZeroDivisionError as exc:
                tool.set_error(exc)  # status ERROR and an exception event; the app handles the error itself
        with turn.generation("answer", model="gpt-4o-mini", input="explain the error") as llm:
            llm.update(output="Division by zero is undefined.", input_tokens=40, output_tokens=8)
        turn.update(output="Division by zero is undefined.")
    tl.session(session_id).end("success")
    print(f"session: {session_id}")

    tl.flush()
    async with tl.AsyncClient() as client:
        for _ in range(50):
            try:
                stats = await client.sessions.stats(session_id)
                if stats.trace_count == 3:
                    break
            except tl.NotFoundError:
                pass
            await asyncio.sleep(0.1)
        print(f"{session_id}: {stats.trace_count} turns, {stats.llm_call_count} LLM calls, "
              f"{stats.tool_call_count} tool calls, {stats.error_count} errors, end state {stats.end_state}")
    return [session_id]


def main() -> list[str]:
    started = time.monotonic()
    ids = asyncio.run(main_async())
    print(f"done in {time.monotonic() - started:.1f}s")
    return ids


if __name__ == "__main__":
    main()
