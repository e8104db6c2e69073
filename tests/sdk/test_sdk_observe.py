"""``observe``, the manual ``trace``/``span`` API and ``SessionScope.end``, on an in-memory OpenTelemetry setup."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
import threadline_sdk as tl
from opentelemetry.trace import StatusCode
from pydantic import BaseModel
from sdk_helpers import Recorder, attrs, hex_trace_id, json_attr, parent_id, recording, session_of, span_id


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with recording() as recorder:
        yield recorder


@pytest.mark.parametrize(("as_type", "kind"), [("span", "CHAIN"), ("generation", "LLM"), ("tool", "TOOL"),
                                                 ("retriever", "RETRIEVER"), ("agent", "AGENT")])
def test_as_type_sets_the_openinference_kind(rec: Recorder, as_type: Any, kind: str) -> None:
    @tl.observe(name="typed", as_type=as_type)
    def typed() -> None:
        return None

    typed()
    assert attrs(rec.one("typed"))["openinference.span.kind"] == kind


def test_sync_function_input_output_and_nesting(rec: Recorder) -> None:
    class Agent:
        @tl.observe(as_type="agent")
        def run(self, question: str) -> str:
            return self.search(question, top_k=2)["answer"]

        @tl.observe(as_type="tool")
        def search(self, query: str, top_k: int = 3, **options: Any) -> dict[str, Any]:
            return {"answer": query.upper(), "hits": top_k}

    assert Agent().run("hello") == "HELLO"
    run, search = rec.one("Agent.run"), rec.one("Agent.search")
    assert attrs(run)["input.value"] == "hello" and attrs(run)["input.mime_type"] == "text/plain"
    assert attrs(run)["output.value"] == "HELLO"
    assert json_attr(search, "input.value") == {"query": "hello", "top_k": 2}
    assert attrs(search)["input.mime_type"] == "application/json"
    assert json_attr(search, "output.value") == {"answer": "HELLO", "hits": 2}
    assert attrs(search)["tool.name"] == "Agent.search"
    assert parent_id(search) == span_id(run)
    assert hex_trace_id(search) == hex_trace_id(run)


def test_async_function(rec: Recorder) -> None:
    @tl.observe(as_type="retriever")
    async def retrieve(query: str) -> list[str]:
        await asyncio.sleep(0)
        return [query, query + "!"]

    assert asyncio.run(retrieve("q")) == ["q", "q!"]
    span = rec.one("retrieve")
    assert json_attr(span, "output.value") == ["q", "q!"]
    assert attrs(span)["openinference.span.kind"] == "RETRIEVER"


def test_generator_records_items_and_return_value(rec: Recorder) -> None:
    @tl.observe
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    assert list(numbers(3)) == [0, 1, 2]
    with pytest.raises(TypeError):
        numbers()  # type: ignore[call-arg]  # wrong arguments fail at the call, as without the decorator
    assert json_attr(rec.one("numbers"), "output.value") == [0, 1, 2]

    @tl.observe
    def partial() -> Iterator[str]:
        yield "a"
        yield "b"

    gen = partial()
    assert next(gen) == "a"
    gen.close()
    assert attrs(rec.one("partial"))["output.value"] == "a"
    never = partial()
    del never  # never started: no span, no error
    assert len(rec.named("partial")) == 1


def test_values_are_json_safe_and_capped() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Model(BaseModel):
        name: str
        point: tuple[int, int]

    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with recording(max_payload_chars=200) as rec:
        @tl.observe
        def capture(p: Point, m: Model, raw: bytes, weird: Any, cyclic: Any, big: str) -> dict[str, Any]:
            return {"ok": True, "nan": float("nan")}

        capture(Point(1, 2), Model(name="n", point=(3, 4)), b"\x00\x01", Weird(), cyclic, "x" * 10)
        span = rec.one("capture")
        recorded = json_attr(span, "input.value")
        assert recorded["p"] == {"x": 1, "y": 2}
        assert recorded["m"] == {"name": "n", "point": [3, 4]}
        assert recorded["raw"] == {"bytes_base64": "AAE="}
        assert recorded["weird"] == "<Weird>"
        assert recorded["cyclic"] == ["[cycle]"]
        assert json_attr(span, "output.value") == {"ok": True, "nan": "nan"}

        @tl.observe
        def echo(text: str) -> str:
            return text

        echo("y" * 1000)
        value = attrs(rec.one("echo"))["output.value"]
        assert value.startswith("y" * 200) and value.endswith("...[truncated 800 chars]")


def test_redaction_hook_and_capture_switches() -> None:
    def redact(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "[redacted]" if k in ("password", "api_key") else v for k, v in value.items()}
        return value

    with recording(redact=redact) as rec:
        @tl.observe
        def login(user: str, password: str) -> dict[str, str]:
            return {"user": user, "api_key": "secret"}

        @tl.observe(capture_input=False, capture_output=False)
        def private(secret: str) -> str:
            return secret

        login("ann", "hunter2")
        private("s3cret")
        span = rec.one("login")
        assert json_attr(span, "input.value") == {"user": "ann", "password": "[redacted]"}
        assert json_attr(span, "output.value") == {"user": "ann", "api_key": "[redacted]"}
        assert "input.value" not in attrs(rec.one("private")) and "output.value" not in attrs(rec.one("private"))

    def broken(value: Any) -> Any:
        raise ValueError("bug in the hook")

    with recording(redact=broken, capture_output=False) as rec:
        @tl.observe
        def f(password: str) -> str:
            return password

        assert f("hunter2") == "hunter2"  # the app is unaffected
        assert attrs(rec.one("f"))["input.value"] == "[redaction failed]"  # never the raw value
        assert "output.value" not in attrs(rec.one("f"))


def test_exceptions_are_recorded_and_reraised_unchanged(rec: Recorder) -> None:
    error = KeyError("missing")

    @tl.observe(as_type="tool")
    def fails() -> None:
        raise error

    @tl.observe
    async def afails() -> None:
        raise ValueError("async boom")

    @tl.observe
    def gfails() -> Iterator[int]:
        yield 1
        raise RuntimeError("stream broke")

    with pytest.raises(KeyError) as caught:
        fails()
    assert caught.value is error
    with pytest.raises(ValueError, match="async boom"):
        asyncio.run(afails())
    with pytest.raises(RuntimeError, match="stream broke"):
        list(gfails())
    for name, kind in (("fails", "KeyError"), ("afails", "ValueError"), ("gfails", "RuntimeError")):
        span = rec.one(name)
        assert span.status.status_code is StatusCode.ERROR
        (event,) = [e for e in span.events if e.name == "exception"]
        assert (event.attributes or {})["exception.type"] == kind


def test_generation_model_and_usage(rec: Recorder) -> None:
    @tl.observe(as_type="generation", model="gpt-4o-mini")
    def explicit(prompt: str) -> str:
        tl.update_current(input_tokens=120, output_tokens=40, cost_usd=0.0001)
        return "ok"

    class Usage:
        prompt_tokens = 11
        completion_tokens = 7
        total_tokens = 18

    class Completion:  # the shape of an OpenAI chat completion
        model = "gpt-4o-2024-08-06"
        usage = Usage()

    @tl.observe(as_type="generation", model="gpt-4o")
    def openai_like(prompt: str) -> Completion:
        return Completion()

    @tl.observe(as_type="generation")
    def anthropic_like(prompt: str) -> dict[str, Any]:
        return {"model": "claude-3-5-haiku", "usage": {"input_tokens": 5, "output_tokens": 3}, "content": "hi"}

    explicit("p")
    openai_like("p")
    anthropic_like("p")
    a = attrs(rec.one("explicit"))
    assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.operation.name"] == "chat"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.cost"]) == (120, 40, 1e-4)
    b = attrs(rec.one("openai_like"))
    assert b["gen_ai.request.model"] == "gpt-4o" and b["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (b["gen_ai.usage.input_tokens"], b["gen_ai.usage.output_tokens"], b["llm.token_count.total"]) == (11, 7, 18)
    c = attrs(rec.one("anthropic_like"))
    assert (c["gen_ai.response.model"], c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) == (
        "claude-3-5-haiku", 5, 3)


def test_update_output_explicitly_is_kept(rec: Recorder) -> None:
    @tl.observe
    def f() -> str:
        tl.current_observation().update(output="chosen", metadata={"k": "v"}, attributes={"custom": 1})
        return "returned"

    with tl.session("chat-u", metadata={"plan": "pro", "k": "session"}):
        f()
    a = attrs(rec.one("f"))
    assert a["output.value"] == "chosen" and a["custom"] == 1
    assert json.loads(a["metadata"]) == {"plan": "pro", "k": "v"}  # merged over the session's


def test_manual_trace_and_spans(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")
    with tracer.start_as_current_span("outer request"):
        with tl.trace("turn", session_id="chat-m", user_id="u1", input="hi", tags=["manual"]) as t:
            with t.span("retrieve", as_type="retriever", input={"q": "hi"}) as r:
                r.update(output=["doc"])
                with t.span("nested tool", as_type="tool"):
                    pass
            with t.generation("llm", model="gpt-4o-mini") as g:
                g.update(output="hello", input_tokens=10, output_tokens=5)
            t.update(output="hello")
        with pytest.raises(ZeroDivisionError), tl.trace("failing turn", session_id="chat-m") as failing:
            1 / 0  # noqa: B018
    turn, retrieve, nested, llm = (rec.one(n) for n in ("turn", "retrieve", "nested tool", "llm"))
    assert turn.parent is None  # a new trace even inside another span
    assert hex_trace_id(turn) == t.trace_id != hex_trace_id(rec.one("outer request"))
    assert parent_id(retrieve) == parent_id(llm) == span_id(turn)
    assert parent_id(nested) == span_id(retrieve)
    assert {session_of(s) for s in (turn, retrieve, nested, llm)} == {"chat-m"}
    assert attrs(turn)["user.id"] == "u1" and json_attr(turn, "tag.tags") == ["manual"]
    assert attrs(turn)["input.value"] == "hi" and attrs(turn)["output.value"] == "hello"
    assert attrs(llm)["openinference.span.kind"] == "LLM" and attrs(llm)["gen_ai.usage.input_tokens"] == 10
    assert json_attr(retrieve, "output.value") == ["doc"]
    assert rec.one("failing turn").status.status_code is StatusCode.ERROR
    assert failing.trace_id != t.trace_id
    assert tl.current_session() is None


def test_async_with_span(rec: Recorder) -> None:
    async def main() -> None:
        async with tl.session("chat-a"), tl.span("async span", as_type="agent") as s:
            s.update(output="done")

    asyncio.run(main())
    span = rec.one("async span")
    assert session_of(span) == "chat-a" and attrs(span)["output.value"] == "done"


def test_end_inside_a_turn_marks_that_span(rec: Recorder) -> None:
    with tl.session("chat-e1") as s, tl.trace("last turn"):
        s.end("failure", reason="user gave up")
    a = attrs(rec.one("last turn"))
    assert a["session.end_state"] == "failure" and a["session.end_reason"] == "user gave up"
    assert not rec.named("session.end")


def test_end_after_the_turns_joins_the_last_trace(rec: Recorder) -> None:
    with tl.session("chat-e2") as s:
        for n in range(2):
            with tl.trace(f"turn {n}"):
                pass
        s.end("success")
    marker, last = rec.one("session.end"), rec.one("turn 1")
    assert attrs(marker)["session.end_state"] == "success" and session_of(marker) == "chat-e2"
    assert hex_trace_id(marker) == hex_trace_id(last)  # no extra turn
    assert parent_id(marker) == span_id(last)
    assert marker.start_time == marker.end_time == last.end_time  # no latency added


def test_end_of_an_unknown_session_sends_its_own_trace(rec: Recorder) -> None:
    tl.session("never-seen", user_id="u5").end("indeterminate")
    marker = rec.one("session.end")
    assert marker.parent is None
    assert attrs(marker)["session.id"] == "never-seen" and attrs(marker)["user.id"] == "u5"
    assert attrs(marker)["session.end_state"] == "indeterminate"
    tl.session("never-seen").end("bogus")  # type: ignore[arg-type]  # refused with a warning, no exception
    assert len(rec.named("session.end")) == 1


def test_init_is_idempotent(rec: Recorder) -> None:
    active = tl.get_active()
    assert active is not None
    assert tl.init() is active
    assert tl.init(endpoint="http://elsewhere:1") is active  # warns, keeps the first configuration
    assert len(rec.provider._active_span_processor._span_processors) == 2  # recorder + one SessionSpanProcessor
