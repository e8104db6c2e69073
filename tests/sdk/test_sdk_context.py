"""Sessions follow the code: nested sessions, threads, asyncio tasks, generators; any tracer's spans get them."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import threadline_sdk as tl
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sdk_helpers import Recorder, attrs, json_attr, parent_id, recording, session_of, span_id


@pytest.fixture
def rec() -> Iterator[Recorder]:
    with recording() as recorder:
        yield recorder


def test_every_span_in_the_block_gets_the_session_whoever_starts_it(rec: Recorder) -> None:
    third_party = rec.provider.get_tracer("some.instrumentation")

    @tl.observe
    def ours() -> None:
        with third_party.start_as_current_span("nested third party"):
            pass

    with tl.session("chat-1", user_id="u1", metadata={"plan": "pro", "n": 3}, tags=["a", "b", "a"],
                    previous_id="chat-0") as s:
        assert tl.current_session() is not None and tl.current_session().session_id == "chat-1"  # type: ignore[union-attr]
        with third_party.start_as_current_span("third party"):
            ours()
    assert s.id == "chat-1"
    assert tl.current_session() is None
    with third_party.start_as_current_span("outside"):
        pass
    for name in ("third party", "ours", "nested third party"):
        span = rec.one(name)
        a = attrs(span)
        assert a["session.id"] == "chat-1"
        assert a["user.id"] == "u1"
        assert a["session.previous_id"] == "chat-0"
        assert json_attr(span, "metadata") == {"plan": "pro", "n": 3}
        assert json_attr(span, "tag.tags") == ["a", "b"]
    assert "session.id" not in attrs(rec.one("outside"))


def test_explicit_attributes_win_and_span_metadata_merges(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")
    own = {"session.id": "other", "metadata": '{"channel": "app"}'}
    with tl.session("chat-1", user_id="u1", metadata={"plan": "pro", "channel": "web"}), \
            tracer.start_as_current_span("explicit", attributes=own):
        pass
    span = rec.one("explicit")
    assert attrs(span)["session.id"] == "other"
    assert attrs(span)["user.id"] == "u1"
    assert json_attr(span, "metadata") == {"plan": "pro", "channel": "app"}


def test_nested_sessions_inner_wins_and_inherits(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")
    with tl.session("outer", user_id="u1", metadata={"a": "1", "b": "1"}, tags=["t1"]):
        with tracer.start_as_current_span("in outer 1"):
            pass
        with tl.session("inner", metadata={"b": "2"}, tags=["t2"]):
            with tracer.start_as_current_span("in inner"):
                pass
            with tl.session("isolated", inherit=False), tracer.start_as_current_span("in isolated"):
                pass
        with tracer.start_as_current_span("in outer 2"):
            pass
    assert session_of(rec.one("in outer 1")) == session_of(rec.one("in outer 2")) == "outer"
    inner = rec.one("in inner")
    assert session_of(inner) == "inner"
    assert attrs(inner)["user.id"] == "u1"
    assert json_attr(inner, "metadata") == {"a": "1", "b": "2"}
    assert json_attr(inner, "tag.tags") == ["t1", "t2"]
    isolated = attrs(rec.one("in isolated"))
    assert isolated["session.id"] == "isolated"
    assert "user.id" not in isolated and "metadata" not in isolated


def test_a_scope_can_be_entered_once_per_turn(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")
    chat = tl.session("chat-1")
    for turn in range(3):
        with chat, tracer.start_as_current_span(f"turn {turn}"):
            pass
    assert [session_of(rec.one(f"turn {t}")) for t in range(3)] == ["chat-1"] * 3
    assert tl.current_session() is None


def test_threads_carry_the_session_when_the_context_is_copied(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    def work(name: str) -> None:
        with tracer.start_as_current_span(name):
            pass

    with tl.session("chat-threads"):
        plain = threading.Thread(target=work, args=("plain thread",))
        plain.start()
        plain.join()
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(work, "copied context"))
        copied.start()
        copied.join()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(tl.bind(work), [f"pool {i}" for i in range(8)]))
    assert session_of(rec.one("plain thread")) is None  # a new thread starts with an empty context
    assert session_of(rec.one("copied context")) == "chat-threads"
    assert all(session_of(rec.one(f"pool {i}")) == "chat-threads" for i in range(8))


def test_bind_keeps_the_parent_span(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")
    with tl.session("chat-1"), tracer.start_as_current_span("parent"), ThreadPoolExecutor(2) as pool:
        pool.submit(tl.bind(lambda: tracer.start_span("child").end())).result()
    assert parent_id(rec.one("child")) == span_id(rec.one("parent"))
    assert session_of(rec.one("child")) == "chat-1"


def test_asyncio_tasks_each_keep_their_own_session(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    @tl.observe(name="step")
    async def step(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))  # interleave
        with tracer.start_as_current_span(f"inner {n}"):
            await asyncio.sleep(0)
        return n

    async def conversation(n: int) -> int:
        async with tl.session(f"chat-{n}", user_id=f"u{n}"):
            return await step(n)

    async def main() -> None:
        assert await asyncio.gather(*(conversation(n) for n in range(3))) == [0, 1, 2]
        with tl.session("spawner"):
            task = asyncio.create_task(step(7))  # the task copies the context now
        await task

    asyncio.run(main())
    for n in range(3):
        assert session_of(rec.one(f"inner {n}")) == f"chat-{n}"
        assert attrs(rec.one(f"inner {n}"))["user.id"] == f"u{n}"
    assert session_of(rec.one("inner 7")) == "spawner"
    assert {session_of(s) for s in rec.named("step")} == {"chat-0", "chat-1", "chat-2", "spawner"}


def test_observed_generator_keeps_the_context_it_was_created_in(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    @tl.observe(name="stream")
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            with tracer.start_as_current_span(f"chunk {i}"):
                pass
            yield f"t{i} "

    with tl.session("chat-stream"), tracer.start_as_current_span("request"):
        tokens = stream(3)  # created here, consumed after the block (as a streaming response is)
    assert "".join(tokens) == "t0 t1 t2 "
    request, span = rec.one("request"), rec.one("stream")
    assert session_of(span) == "chat-stream"
    assert parent_id(span) == span_id(request)
    for i in range(3):
        assert session_of(rec.one(f"chunk {i}")) == "chat-stream"
        assert parent_id(rec.one(f"chunk {i}")) == span_id(span)
    assert attrs(span)["output.value"] == "t0 t1 t2 "


def test_plain_generator_consumed_inside_the_block(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    def numbers() -> Iterator[int]:
        for i in range(2):
            with tracer.start_as_current_span(f"gen {i}"):
                yield i

    with tl.session("chat-gen"):
        assert list(numbers()) == [0, 1]
    assert [session_of(rec.one(f"gen {i}")) for i in range(2)] == ["chat-gen", "chat-gen"]


def test_session_entered_inside_a_generator(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    def agent_steps() -> Iterator[int]:
        with tl.session("inside-gen"):
            for i in range(2):
                with tracer.start_as_current_span(f"step {i}"):
                    pass
                yield i

    def scenario() -> None:
        steps = agent_steps()
        assert next(steps) == 0
        assert tl.current_session() is not None  # plain generators share the consumer's context (Python semantics)
        assert list(steps) == [1]
        assert tl.current_session() is None  # exited in the context it was entered in: restored
        unfinished = agent_steps()
        next(unfinished)
        contextvars.copy_context().run(unfinished.close)  # exited in another context: no error

    contextvars.copy_context().run(scenario)
    assert session_of(rec.one("step 1")) == "inside-gen"

    observed = tl.observe(name="observed steps")(agent_steps)()
    assert next(observed) == 0
    assert tl.current_session() is None  # an observed generator steps in its own context: nothing leaks
    assert list(observed) == [1]
    assert session_of(rec.one("observed steps")) is None
    assert {session_of(s) for s in rec.named("step 0")} == {"inside-gen"}


def test_observed_async_generator_keeps_its_context(rec: Recorder) -> None:
    tracer = rec.provider.get_tracer("x")

    @tl.observe(name="astream", as_type="generation")
    async def astream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            with tracer.start_as_current_span(f"achunk {i}"):
                pass
            yield str(i)

    async def main() -> list[str]:
        with tl.session("chat-astream"):
            stream = astream(3)
        return [chunk async for chunk in stream]

    assert asyncio.run(main()) == ["0", "1", "2"]
    span = rec.one("astream")
    assert session_of(span) == "chat-astream"
    assert attrs(span)["openinference.span.kind"] == "LLM"
    assert attrs(span)["output.value"] == "012"
    assert all(parent_id(rec.one(f"achunk {i}")) == span_id(span) for i in range(3))
    assert all(session_of(rec.one(f"achunk {i}")) == "chat-astream" for i in range(3))


def test_processor_works_alone_without_init() -> None:
    tl.shutdown()
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(tl.SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("plain")
    with tl.session("standalone", user_id="u9"), tracer.start_as_current_span("plain span"):
        pass
    (span,) = exporter.get_finished_spans()
    assert attrs(span)["session.id"] == "standalone" and attrs(span)["user.id"] == "u9"
    provider.shutdown()


def test_observe_without_init_is_harmless() -> None:
    tl.shutdown()

    @tl.observe
    def add(a: int, b: int) -> int:
        return a + b

    with tl.session("no-init"):
        assert add(1, 2) == 3
    assert isinstance(otel_trace.get_current_span(), otel_trace.NonRecordingSpan)


def test_abandoned_async_stream_still_ends_its_span(rec: Recorder) -> None:
    @tl.observe(name="abandoned")
    async def tokens() -> AsyncIterator[str]:
        for i in range(10):
            yield str(i)

    async def main() -> None:
        async for chunk in tokens():
            if chunk == "2":
                break

    asyncio.run(main())
    gc.collect()
    assert attrs(rec.one("abandoned"))["output.value"] == "012"
