"""The unmodified Langfuse Python SDK (``langfuse`` 3+, OpenTelemetry based) pointed at a live ``threadline serve``
subprocess the way a migrating user points it: ``LANGFUSE_HOST=<Threadline URL> LANGFUSE_PUBLIC_KEY=<project>
LANGFUSE_SECRET_KEY=<Threadline API key>``, then ``Langfuse()``. The SDK exports OTLP/HTTP protobuf to
``/api/public/otel/v1/traces`` with HTTP Basic credentials; nothing else is changed.

Two turns of one chat: turn 1 with context managers (a span, a generation with model, usage_details and
cost_details, a tool observation), turn 2 with ``@observe`` and ``update_current_generation``; trace-level session,
user, tags, metadata and name through ``propagate_attributes``. Asserts through the REST API: one session of two turns,
span counts and types, tokens, cost, user, model, tags, metadata, the conversation text of the session and each
turn, plus ``auth_check()``, ``get_trace_url()`` links and a refused wrong public key.

No network: the SDK's only calls are to the server (checked: it exports spans and, for ``auth_check``, reads
``/api/public/projects``); its tracer provider is its own, so no other test's global provider is touched.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langfuse import Langfuse, observe, propagate_attributes
from opentelemetry.sdk.trace import TracerProvider
from threadline_live import Threadline, threadline

pytestmark = pytest.mark.slow

PROJECT = "langfuse-migrant"
USER = "user-lf-1"
MODEL = "gpt-4o-mini"
TAGS = ["support", "vip"]
SYSTEM = "You are a helpful order assistant."
QUESTION_1, ANSWER_1 = "Where is my order 42?", "Order 42 ships tomorrow from Lyon."
QUESTION_2, ANSWER_2 = "Can I change the delivery address?", "Yes: the address can change until it ships."
TOOL_INPUT, TOOL_OUTPUT = {"order_id": 42}, {"status": "packed", "ships": "tomorrow"}
USAGE = [{"input": 52, "output": 12}, {"input": 80, "output": 14, "total": 94}]
COST = [{"input": 0.00052, "output": 0.00024}, {"total": 0.0011}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Threadline]:
    with threadline(tmp_path_factory.mktemp("langfuse"), PROJECT) as live:
        yield live



def run_chat(langfuse: Langfuse, session_id: str) -> None:
    """Two turns of one chat, as an application instrumented with the Langfuse SDK runs them."""
    trace_attributes: dict[str, Any] = {"session_id": session_id, "user_id": USER, "tags": TAGS,
                                        "metadata": {"plan": "pro", "seats": 3}, "trace_name": "support-turn"}

    # Turn 1: context managers.
    with langfuse.start_as_current_observation(as_type="span", name="chat-turn", input=QUESTION_1) as turn, \
            propagate_attributes(**trace_attributes):
        with langfuse.start_as_current_observation(as_type="tool", name="lookup_order", input=TOOL_INPUT) as tool:
            tool.update(output=TOOL_OUTPUT)
        with langfuse.start_as_current_observation(
                as_type="generation", name="answer", model=MODEL,
                input=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION_1}],
                metadata={"temperature": 0.2}) as generation:
            generation.update(output={"role": "assistant", "content": ANSWER_1}, usage_details=USAGE[0],
                              cost_details=COST[0])
        turn.update(output=ANSWER_1)

    # Turn 2: the @observe decorator; the generation is the decorated function's own observation.
    @observe(as_type="generation", name="answer")
    def answer(messages: list[dict[str, str]]) -> dict[str, str]:
        langfuse.update_current_generation(model=MODEL, usage_details=USAGE[1], cost_details=COST[1])
        return {"role": "assistant", "content": ANSWER_2}

    @observe(name="chat-turn")
    def chat_turn(question: str) -> str:
        with propagate_attributes(**trace_attributes):
            reply = answer([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
        return reply["content"]

    assert chat_turn(QUESTION_2) == ANSWER_2


@pytest.fixture(scope="module")
def langfuse_client(server: Threadline) -> Iterator[Langfuse]:
    """The client configured as the migration guide says: the three environment variables, nothing else."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("LANGFUSE_")]:
            env.delenv(name)
        env.setenv("LANGFUSE_HOST", server.proc.url)
        env.setenv("LANGFUSE_PUBLIC_KEY", PROJECT)
        env.setenv("LANGFUSE_SECRET_KEY", server.api_key)
        provider = TracerProvider()  # the SDK's own: never the process-wide provider other client tests may set
        client = Langfuse(tracer_provider=provider, environment="staging", release="r-2026.12")
        yield client
        client.shutdown()


def test_two_turns_land_in_one_session(server: Threadline, langfuse_client: Langfuse) -> None:
    session_id = f"lf-chat-{uuid.uuid4().hex[:8]}"
    run_chat(langfuse_client, session_id)
    langfuse_client.flush()

    session = server.read_session(session_id, 2)
    tokens_in = sum(u["input"] for u in USAGE)
    tokens_out = sum(u["output"] for u in USAGE)
    assert session["project_id"] == PROJECT
    assert session["trace_count"] == 2
    assert session["span_count"] == 5  # turn 1: span, tool, generation; turn 2: span, generation
    assert (session["llm_call_count"], session["tool_call_count"], session["error_count"]) == (2, 1, 0)
    assert (session["input_tokens"], session["output_tokens"]) == (tokens_in, tokens_out)
    assert session["total_tokens"] == 52 + 12 + 94  # turn 2 reports its own total
    assert session["total_cost_usd"] == pytest.approx(0.00052 + 0.00024 + 0.0011)
    assert session["user_id"] == USER
    assert session["models"] == [MODEL]
    assert session["tags"] == sorted(TAGS)
    assert session["metadata"] == {"plan": "pro", "seats": "3", "environment": "staging", "release": "r-2026.12"}
    assert session["first_input"] == QUESTION_1
    assert session["last_output"] == ANSWER_2

    turns = session["traces"]
    assert [t["turn"] for t in turns] == [1, 2]
    assert [(t["input"], t["output"]) for t in turns] == [(QUESTION_1, ANSWER_1), (QUESTION_2, ANSWER_2)]
    assert [t["name"] for t in turns] == ["support-turn", "support-turn"]
    assert [(t["span_count"], t["llm_call_count"], t["tool_call_count"]) for t in turns] == [(3, 1, 1), (2, 1, 0)]
    assert [(t["input_tokens"], t["output_tokens"]) for t in turns] == [(52, 12), (80, 14)]
    listed = server.http.get(f"/v1/sessions/{session_id}/traces").json()
    assert [(t["input"], t["output"]) for t in listed["data"]] == [(QUESTION_1, ANSWER_1), (QUESTION_2, ANSWER_2)]

    first = server.http.get(f"/v1/traces/{turns[0]['trace_id']}").json()
    by_name = {span["name"]: span for span in first["spans"]}
    assert sorted(by_name) == ["answer", "chat-turn", "lookup_order"]
    generation, tool, root = by_name["answer"], by_name["lookup_order"], by_name["chat-turn"]
    assert (generation["span_type"], generation["model"]) == ("llm", MODEL)
    assert (generation["input"], generation["output"]) == (QUESTION_1, ANSWER_1)  # message list -> conversation
    assert (generation["input_tokens"], generation["output_tokens"]) == (52, 12)
    assert generation["cost_usd"] == pytest.approx(0.00076)
    assert (tool["span_type"], tool["input"], tool["output"]) == (
        "tool", '{"order_id": 42}', '{"status": "packed", "ships": "tomorrow"}')  # objects stay JSON
    assert (root["span_type"], root["parent_span_id"]) == ("span", None)


def test_auth_check_trace_links_and_a_wrong_public_key(server: Threadline, langfuse_client: Langfuse) -> None:
    assert langfuse_client.auth_check()  # GET /api/public/projects
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    url = langfuse_client.get_trace_url(trace_id=trace_id)
    assert url == f"{server.proc.url}/project/{PROJECT}/traces/{trace_id}"
    link = httpx.get(url)
    assert link.status_code == 307 and link.headers["location"] == f"/traces/{trace_id}"  # the dashboard's page
    # What the SDK sends with another project's public key: refused, saying which project the key belongs to.
    wrong = base64.b64encode(f"another-project:{server.api_key}".encode()).decode()
    refused = httpx.post(f"{server.proc.url}/api/public/otel/v1/traces", content=b"",
                         headers={"Authorization": f"Basic {wrong}", "Content-Type": "application/x-protobuf"})
    assert refused.status_code == 401
    assert PROJECT in refused.json()["detail"]
