"""Seeded demo data sent through the real OTLP/HTTP path with the OpenTelemetry SDK.

Three apps (one ``TracerProvider`` each, so each has its own ``service.name``) produce a mix of sessions:
``support-bot`` (multi-turn customer support chats), ``rag-qa`` (knowledge-base Q&A) and ``research-agent``
(tool-using agent runs). Each turn is one trace. Session ids sit where real exporters put them: ``session.id`` on
every span (OpenInference context), ``session.id`` on the root span only, or ``gen_ai.conversation.id`` on a single
LLM span (OTel GenAI conventions). Same seed → same sessions, ids and texts; only timestamps follow ``now_ns``.

A session is first built in memory as a tree of :class:`_Span` with times relative to the session start, then
replayed through the SDK with absolute ``start_time``/``end_time`` so no sleeping is needed.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threadline.demo import corpus as c

MS = 1_000_000
SECOND = 1_000 * MS
WINDOW_NS = 30 * 86_400 * SECOND  # sessions are spread over the last 30 days
MAX_TURN_NS = 60 * SECOND  # upper bound of one turn's duration (4 agent iterations x (8 s LLM + 2 s tool) + 8 s)
TOOL_FAILURE_RATE = 0.05
QUEUE_SIZE, BATCH_SIZE = 2048, 512
_PROVIDERS = {"gpt": "openai", "claude": "anthropic", "gemini": "gcp.gemini"}
_RESPONSE_MODELS = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
                    "gemini-1.5-pro": "gemini-1.5-pro-002"}
_MS_PER_TOKEN = {"gpt-4o-mini": 8.0, "claude-3-5-haiku-20241022": 10.0, "gpt-4o": 14.0,
                 "claude-3-5-sonnet-20241022": 16.0, "gemini-1.5-pro": 15.0}
_OI_LLM_NAMES = {"openai": "ChatCompletion", "anthropic": "Messages", "gcp.gemini": "GenerateContent"}


@dataclass(frozen=True)
class DemoSummary:
    """What was generated and delivered: counts of sessions, traces (one per turn) and spans."""

    sessions: int
    traces: int
    spans: int


class DemoExportError(RuntimeError):
    """The OTLP endpoint rejected or did not answer a batch; generation stopped early."""

    def __init__(self, endpoint: str, exported_spans: int, failed_spans: int) -> None:
        super().__init__(f"exporting demo spans to {endpoint} failed: {failed_spans} spans not accepted "
                         f"({exported_spans} accepted); is the server running and the API key valid?")
        self.exported_spans = exported_spans
        self.failed_spans = failed_spans


@dataclass(frozen=True)
class _App:
    key: str
    service: str
    prefix: str  # session id prefix
    weight: float  # share of sessions
    tokens: str  # "openinference" (llm.token_count.*) or "genai" (gen_ai.usage.*)
    placements: tuple[tuple[str, float], ...]  # ("every_span" | "root_only" | "llm_only", weight)
    models: tuple[tuple[str, float], ...]
    mean_turns: float
    think_s: float  # median pause between turns, seconds


APPS = (
    _App("support", "support-bot", "chat", 0.45, "openinference", (("every_span", 0.75), ("root_only", 0.25)),
         (("gpt-4o-mini", 0.45), ("gpt-4o", 0.25), ("claude-3-5-haiku-20241022", 0.30)), 4.0, 35.0),
    _App("rag", "rag-qa", "qa", 0.30, "openinference",
         (("every_span", 0.5), ("root_only", 0.3), ("llm_only", 0.2)),
         (("gpt-4o", 0.3), ("claude-3-5-sonnet-20241022", 0.3), ("gemini-1.5-pro", 0.25), ("gpt-4o-mini", 0.15)),
         2.5, 60.0),
    _App("agent", "research-agent", "run", 0.25, "genai", (("llm_only", 0.6), ("every_span", 0.4)),
         (("claude-3-5-sonnet-20241022", 0.5), ("gpt-4o", 0.35), ("gemini-1.5-pro", 0.15)), 3.0, 150.0),
)


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _tok(text: str) -> int:
    """Rough token count of ``text`` (≈ 4 characters per token)."""
    return max(1, len(text) // 4)


@dataclass
class _Span:
    name: str
    kind: SpanKind
    start: int  # ns since session start
    end: int
    attrs: dict[str, AttributeValue]
    children: list[_Span] = field(default_factory=list)
    error: Exception | None = None

    def walk(self) -> Iterator[_Span]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class _Plan:
    app: _App
    session_id: str
    user_id: str
    placement: str
    model: str
    topic: int
    turns: int
    gaps: list[int]  # ns pause before turn i (gaps[0] == 0)
    end_offset: int  # ns between the session's last span end and now
    metadata: dict[str, str]
    tags: list[str]
    slots: c.Slots
    previous_id: str | None = None

    @property
    def max_start_offset(self) -> int:
        return self.end_offset + sum(self.gaps) + self.turns * MAX_TURN_NS


def _plan_sessions(rng: random.Random, count: int) -> list[_Plan]:
    """Draw who, what and when for ``count`` sessions; link some support chats to the user's previous chat."""
    users = [(f"user-{k:03d}", rng.choice(("free", "pro", "pro", "enterprise")), rng.choice(("en-US", "en-GB",
             "de-DE", "fr-FR", "ja-JP"))) for k in range(1, 61)]
    user_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(users))]
    plans: list[_Plan] = []
    for _ in range(count):
        app = rng.choices(APPS, [a.weight for a in APPS])[0]
        user, plan, locale = rng.choices(users, user_weights)[0]
        if rng.random() < 0.04:
            turns = rng.randint(12, 30)
        else:
            turns = min(30, 1 + int(rng.expovariate(1.0 / (app.mean_turns - 1.0))))
        gaps = [0] + [int(min(1200.0, max(4.0, rng.lognormvariate(0, 0.8) * app.think_s)) * SECOND)
                      for _ in range(turns - 1)]
        longest = sum(gaps) + turns * MAX_TURN_NS
        if rng.random() < 0.03:  # still active: last turn a few seconds ago
            end_offset = rng.randint(5 * SECOND, 90 * SECOND)
        else:
            end_offset = rng.randint(120 * SECOND, WINDOW_NS - longest)
        n_topics = {"support": len(c.SUPPORT_TOPICS), "rag": len(c.KB_ARTICLES), "agent": len(c.RESEARCH_TASKS)}
        topic = rng.randrange(n_topics[app.key])
        tags = list({"support": c.SUPPORT_TOPICS, "rag": c.KB_ARTICLES, "agent": c.RESEARCH_TASKS}[app.key][topic]
                    .tags if app.key != "rag" else ("docs",))
        if rng.random() < 0.1:
            tags.append("beta")
        metadata = {"channel": rng.choice(("web", "web", "ios", "android", "slack")), "plan": plan,
                    "locale": locale, "app_version": f"2.{rng.randint(10, 14)}.{rng.randint(0, 5)}"}
        if app.key == "rag":
            metadata["kb_version"] = rng.choice(("2024.10", "2024.11"))
        plans.append(_Plan(app, f"{app.prefix}-{rng.getrandbits(48):012x}", user, _pick(rng, app.placements),
                           _pick(rng, app.models), topic, turns, gaps, end_offset, metadata, tags, c.make_slots(rng)))
    for p in plans:  # follow-up chats continue the same user's most recent earlier chat (session.previous_id)
        if p.app.key == "support" and rng.random() < 0.15:
            earlier = [q for q in plans if q.app.key == "support" and q.user_id == p.user_id
                       and q.end_offset > p.max_start_offset]
            if earlier:
                p.previous_id = min(earlier, key=lambda q: q.end_offset).session_id
    return plans


class _Builder:
    """Builds the turns of one session as span trees with session-relative times (ns)."""

    def __init__(self, rng: random.Random, plan: _Plan) -> None:
        self.rng, self.plan, self.slots = rng, plan, plan.slots
        self.history = 0  # tokens of earlier turns, re-sent with every prompt
        self.t = 0

    def fill(self, template: str) -> str:
        return c.fill(template, self.slots)

    def gap(self, lo_ms: float = 1, hi_ms: float = 15) -> int:
        self.t += int(self.rng.uniform(lo_ms, hi_ms) * MS)
        return self.t

    def llm(self, user: str, output: str, extra_tokens: int, system_tokens: int, model: str | None = None) -> _Span:
        model = model or self.plan.model
        provider = _PROVIDERS[model.split("-")[0]]
        response_model = _RESPONSE_MODELS.get(model, model)
        prompt = system_tokens + self.history + _tok(user) + extra_tokens
        completion = _tok(output)
        seconds = self.rng.uniform(0.25, 0.7) + completion * _MS_PER_TOKEN[model] / 1000 * self.rng.uniform(0.7, 1.4)
        start = self.gap()
        self.t += int(min(8.0, max(0.3, seconds)) * SECOND)
        attrs: dict[str, AttributeValue] = {
            "openinference.span.kind": "LLM", "llm.model_name": response_model, "gen_ai.system": provider,
            "gen_ai.request.model": model, "gen_ai.response.model": response_model, "input.value": user,
            "output.value": output, "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 1024}),
        }
        if self.plan.app.tokens == "openinference":
            attrs |= {"llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
                      "llm.token_count.total": prompt + completion}
            name = _OI_LLM_NAMES[provider]
        else:
            attrs |= {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": prompt,
                      "gen_ai.usage.output_tokens": completion}
            name = f"chat {model}"
        return _Span(name, SpanKind.CLIENT, start, self.t, attrs)

    def tool(self, name: str, args: dict[str, str], result: dict[str, str], lo_ms: float = 50,
             hi_ms: float = 2000) -> _Span:
        start = self.gap()
        self.t += int(self.rng.uniform(lo_ms, hi_ms) * MS)
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": "TOOL", "tool.name": name,
                                            "input.value": json.dumps(args), "input.mime_type": "application/json"}
        if self.plan.app.tokens == "genai":
            attrs |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
        span = _Span(f"execute_tool {name}" if self.plan.app.tokens == "genai" else name, SpanKind.INTERNAL,
                     start, self.t, attrs)
        if self.rng.random() < TOOL_FAILURE_RATE:
            exc_type, message = self.rng.choice(c.TOOL_FAILURES)
            span.error = exc_type(self.fill(message))
        else:
            attrs |= {"output.value": json.dumps(result), "output.mime_type": "application/json"}
        return span

    def root(self, name: str, kind: str, user: str) -> _Span:
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": kind, "input.value": user,
                                            "metadata": json.dumps(self.plan.metadata), "tag.tags": self.plan.tags}
        if self.plan.previous_id:
            attrs["session.previous_id"] = self.plan.previous_id
        self.gap(2, 20)
        return _Span(name, SpanKind.SERVER, 0, 0, attrs)

    def finish(self, root: _Span, answer: str | None, user: str) -> _Span:
        self.gap(1, 10)
        root.end = self.t
        if answer is None:  # unhandled failure: the error propagates to the root, no answer
            failed = next(s for s in root.walk() if s.error is not None)
            root.error = RuntimeError(f"{failed.name} failed: {failed.error}")
        else:
            root.attrs["output.value"] = answer
            self.history += _tok(user) + _tok(answer)
        return root

    # --- one builder per app; ``i`` is the turn index, ``n`` the number of turns -----------------------------

    def support_turn(self, i: int, n: int) -> _Span:
        topic = c.SUPPORT_TOPICS[self.plan.topic]
        roll = self.rng.random()
        if i == 0 or roll < 0.12:
            if i > 0:  # topic switch
                self.plan.topic = self.rng.randrange(len(c.SUPPORT_TOPICS))
                topic = c.SUPPORT_TOPICS[self.plan.topic]
            user, tool, answer = self.fill(self.rng.choice(topic.openers)), True, self.rng.choice(topic.answers)
        elif i == n - 1 and n > 2 and roll < 0.7:
            user, tool, answer = self.rng.choice(c.SUPPORT_CLOSINGS), False, self.rng.choice(c.SUPPORT_CLOSING_ANSWERS)
        elif roll < 0.18:
            user, tool, answer = self.rng.choice(c.SUPPORT_ESCALATIONS), True, c.SUPPORT_ESCALATION_ANSWER
        else:
            user, tool, answer = self.fill(self.rng.choice(topic.followups)), roll < 0.55, self.rng.choice(topic.answers)
        root = self.root("chat_turn", "CHAIN", user)
        sys_tokens = c.SUPPORT_SYSTEM_PROMPT_TOKENS
        if tool:
            escalate = answer == c.SUPPORT_ESCALATION_ANSWER
            name = "create_ticket" if escalate else topic.tool
            args = {"summary": user} if escalate else {k: self.fill(v) for k, v in topic.tool_args.items()}
            result = {"ticket_id": "${ticket_id}"} if escalate else topic.tool_result
            call = json.dumps({"tool_calls": [{"name": name, "arguments": args}]})
            root.children.append(self.llm(user, call, 0, sys_tokens))
            root.children.append(span := self.tool(name, args, {k: self.fill(v) for k, v in result.items()}, 50, 900))
            if span.error is not None:
                if self.rng.random() < 0.25:
                    return self.finish(root, None, user)
                answer = self.rng.choice(c.SUPPORT_FAILURE_ANSWERS)
        text = self.fill(answer)
        root.children.append(self.llm(user, text, 60 if tool else 0, sys_tokens))
        return self.finish(root, text, user)

    def rag_turn(self, i: int, n: int) -> _Span:
        roll = self.rng.random()
        if i > 0 and roll < 0.2:
            self.plan.topic = self.rng.randrange(len(c.KB_ARTICLES))
        article = c.KB_ARTICLES[self.plan.topic]
        if i > 0 and roll > 0.95:
            user, answer = self.rng.choice(c.RAG_UNKNOWN_QUESTIONS), c.RAG_UNKNOWN_ANSWER
        elif i > 0 and roll > 0.6:
            user, answer = self.rng.choice(c.RAG_EXAMPLE_FOLLOWUPS), article.example
        else:
            user, answer = self.rng.choice(article.questions), self.rng.choice(article.answers)
        root = self.root("rag_query", "CHAIN", user)
        query = user
        if i > 0 and self.rng.random() < 0.5:  # condense the follow-up into a standalone question
            query = f"{article.title}: {user}"
            root.children.append(self.llm(user, query, 40, 120, model="gpt-4o-mini"))
        start = self.gap()
        self.t += int(self.rng.uniform(40, 400) * MS)
        docs = [article] + self.rng.sample([a for a in c.KB_ARTICLES if a is not article], self.rng.randint(2, 4))
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": "RETRIEVER", "input.value": query}
        score = self.rng.uniform(0.82, 0.93)
        for k, doc in enumerate(docs):
            attrs[f"retrieval.documents.{k}.document.id"] = doc.doc_id
            attrs[f"retrieval.documents.{k}.document.content"] = self.fill(doc.content)
            attrs[f"retrieval.documents.{k}.document.score"] = round(score, 3)
            score -= self.rng.uniform(0.03, 0.12)
        root.children.append(retriever := _Span("retrieve", SpanKind.CLIENT, start, self.t, attrs))
        if self.rng.random() < 0.02:
            retriever.error = TimeoutError("vector store query timed out after 5s")
            return self.finish(root, None, user)
        text = self.fill(answer)
        context_tokens = sum(_tok(self.fill(d.content)) for d in docs)
        root.children.append(self.llm(user, text, context_tokens, c.RAG_SYSTEM_PROMPT_TOKENS))
        return self.finish(root, text, user)

    def agent_turn(self, i: int, n: int) -> _Span:
        task = c.RESEARCH_TASKS[self.plan.topic]
        user = self.fill(self.rng.choice(task.prompts if i == 0 else task.followups))
        root = self.root("agent_step", "AGENT", user)
        sys_tokens, scratch = c.AGENT_SYSTEM_PROMPT_TOKENS, 0
        planner = "gpt-4o-mini" if self.rng.random() < 0.3 else None
        for step in range(self.rng.randint(2, 4) if i == 0 else self.rng.randint(1, 2)):
            query = self.fill(task.queries[step % len(task.queries)])
            url = f"https://www.example.org/{task.key}/{step}"
            name, args, result = [
                ("web_search", {"query": query}, {"results": f"[{query}] {self.fill(task.finding)[:90]}", "url": url}),
                ("fetch_url", {"url": url}, {"status": "200", "text": self.fill(task.finding)}),
                ("python_exec", {"code": self.fill(task.code)}, {"stdout": self.slots["pct"], "exit_code": "0"}),
            ][min(step, 2) if step < 3 else 0]
            call = json.dumps({"tool_calls": [{"name": name, "arguments": args}]})
            root.children.append(self.llm(user, call, scratch, sys_tokens, model=planner))
            root.children.append(span := self.tool(name, args, result, 50, 2000))
            scratch += _tok(json.dumps(result)) + _tok(call)
            if span.error is not None and self.rng.random() < 0.15:
                return self.finish(root, None, user)
        text = self.fill(self.rng.choice(task.answers if i == 0 else c.RESEARCH_FOLLOWUP_ANSWERS))
        root.children.append(self.llm(user, text, scratch, sys_tokens))
        return self.finish(root, text, user)


def _place_ids(root: _Span, plan: _Plan) -> None:
    """Put the session and user ids where this session's (simulated) instrumentation would."""
    if plan.placement == "every_span":
        for span in root.walk():
            span.attrs |= {"session.id": plan.session_id, "user.id": plan.user_id}
    elif plan.placement == "root_only":
        root.attrs |= {"session.id": plan.session_id, "user.id": plan.user_id}
    else:  # one LLM span only (the root when the turn failed before any LLM call)
        target = next((s for s in root.walk() if s.attrs.get("openinference.span.kind") == "LLM"), root)
        target.attrs |= {"gen_ai.conversation.id": plan.session_id, "user.id": plan.user_id}


def _build_session(rng: random.Random, plan: _Plan) -> list[_Span]:
    """All turns of ``plan`` as root spans; times are ns since the session's first span."""
    builder = _Builder(rng, plan)
    make = {"support": builder.support_turn, "rag": builder.rag_turn, "agent": builder.agent_turn}[plan.app.key]
    turns: list[_Span] = []
    for i in range(plan.turns):
        builder.t += plan.gaps[i]
        turn_start = builder.t
        root = make(i, plan.turns)
        root.start = turn_start
        _place_ids(root, plan)
        turns.append(root)
    return turns


class _SeededIdGenerator(IdGenerator):
    """Trace and span ids drawn from a seeded RNG, so a seed always yields the same ids."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._rng.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


class _CountingExporter(SpanExporter):
    """Wraps the OTLP exporter to count accepted and failed spans; once aborted it fails batches without sending."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.exported = self.failed = 0
        self.aborted = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.FAILURE if self.aborted else self._inner.export(spans)
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _emit(tracer: trace.Tracer, span: _Span, base: int, parent: Context) -> int:
    """Replay ``span`` and its subtree through the SDK at absolute time ``base`` + relative ns; returns span count."""
    otel = tracer.start_span(span.name, context=parent, kind=span.kind, attributes=span.attrs,
                             start_time=base + span.start)
    count = 1 + sum(_emit(tracer, child, base, trace.set_span_in_context(otel)) for child in span.children)
    if span.error is not None:
        otel.record_exception(span.error, timestamp=base + span.end)
        otel.set_status(Status(StatusCode.ERROR, f"{type(span.error).__name__}: {span.error}"))
    otel.end(end_time=base + span.end)
    return count


def generate_and_send(endpoint: str, sessions: int = 500, seed: int = 7, headers: dict[str, str] | None = None,
                      progress: bool = True, now_ns: int | None = None) -> DemoSummary:
    """Generate seeded, realistic sessions and send them through the real OTLP/HTTP path to ``endpoint``.

    ``endpoint`` is a base URL like ``http://127.0.0.1:4318``; spans are POSTed as OTLP protobuf to
    ``{endpoint}/v1/traces`` with ``headers`` (e.g. ``{"Authorization": "Bearer <key>"}``). ``sessions`` sessions of
    1-30 turns each (one trace per turn) are spread over the 30 days before ``now_ns`` (ns since the epoch, default
    now); ``seed`` fixes every id and text. ``progress`` shows a progress bar over sessions on the terminal.
    Returns the counts created and accepted; raises :class:`DemoExportError` (after stopping early) when the
    endpoint rejects a batch or cannot be reached within the exporter's retries (30 s per batch).
    """
    if sessions < 0:
        raise ValueError("sessions must be >= 0")
    now = time.time_ns() if now_ns is None else now_ns
    rng = random.Random(seed)
    id_generator = _SeededIdGenerator(random.Random(seed * 7919 + 1))
    url = f"{endpoint.rstrip('/')}/v1/traces"
    plans = _plan_sessions(rng, sessions)
    pipes: dict[str, tuple[TracerProvider, _CountingExporter, trace.Tracer]] = {}
    for app in APPS:
        resource = Resource.create({"service.name": app.service, "service.version": "2.14.0",
                                    "deployment.environment.name": "demo"})
        provider = TracerProvider(resource=resource, id_generator=id_generator, sampler=ALWAYS_ON)
        exporter = _CountingExporter(OTLPSpanExporter(endpoint=url, headers=headers, timeout=30))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=QUEUE_SIZE,
                                                       max_export_batch_size=BATCH_SIZE))
        pipes[app.key] = (provider, exporter, provider.get_tracer("threadline.demo", "0.1.0"))
    pending = dict.fromkeys(pipes, 0)
    n_traces = n_spans = n_sessions = 0
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[spans]} spans"), TimeElapsedColumn())
    try:
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task("Sending demo sessions", total=sessions, spans=0)
            for plan in plans:
                if any(exporter.failed for _, exporter, _ in pipes.values()):
                    break
                provider, _, tracer = pipes[plan.app.key]
                turns = _build_session(rng, plan)
                base = now - plan.end_offset - turns[-1].end
                for root in turns:
                    pending[plan.app.key] += _emit(tracer, root, base, Context())
                n_sessions, n_traces = n_sessions + 1, n_traces + len(turns)
                if pending[plan.app.key] >= QUEUE_SIZE // 2:  # flush before the queue could fill and drop spans
                    n_spans += pending[plan.app.key]
                    pending[plan.app.key] = 0
                    provider.force_flush()
                bar.update(task, advance=1, spans=n_spans + sum(pending.values()))
    finally:
        failed_early = any(exporter.failed for _, exporter, _ in pipes.values())
        for provider, exporter, _ in pipes.values():
            exporter.aborted = failed_early
            provider.force_flush()
            provider.shutdown()
    exported = sum(exporter.exported for _, exporter, _ in pipes.values())
    failed = sum(exporter.failed for _, exporter, _ in pipes.values())
    if failed:
        raise DemoExportError(url, exported, failed)
    return DemoSummary(sessions=n_sessions, traces=n_traces, spans=n_spans + sum(pending.values()))
