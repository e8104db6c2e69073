"""Deterministic session content for the demo: who, when, what was said, and the span tree of every turn.

Pure data, no exporting: :func:`plan_sessions` draws the sessions, :func:`build_session` builds each turn as a tree
of :class:`SpanSpec` with times in ns relative to the session start; ``generator`` replays them through the SDK.
Session ids sit where real exporters put them (see :func:`place_ids`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from threadline.demo import corpus as c

MS = 1_000_000
SECOND = 1_000 * MS
WINDOW_NS = 30 * 86_400 * SECOND  # sessions are spread over the last 30 days
MAX_TURN_NS = 60 * SECOND  # upper bound of one turn's duration (4 agent iterations x (8 s LLM + 2 s tool) + 8 s)
TOOL_FAILURE_RATE = 0.05
_PROVIDERS = {"gpt": "openai", "claude": "anthropic", "gemini": "gcp.gemini"}
_RESPONSE_MODELS = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
                    "gemini-1.5-pro": "gemini-1.5-pro-002"}
_MS_PER_TOKEN = {"gpt-4o-mini": 8.0, "claude-3-5-haiku-20241022": 10.0, "gpt-4o": 14.0,
                 "claude-3-5-sonnet-20241022": 16.0, "gemini-1.5-pro": 15.0}
_OI_LLM_NAMES = {"openai": "ChatCompletion", "anthropic": "Messages", "gcp.gemini": "GenerateContent"}


@dataclass(frozen=True)
class App:
    """One simulated LLM application: its service name, instrumentation conventions and session shape."""

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
    App("support", "support-bot", "chat", 0.45, "openinference", (("every_span", 0.75), ("root_only", 0.25)),
        (("gpt-4o-mini", 0.45), ("gpt-4o", 0.25), ("claude-3-5-haiku-20241022", 0.30)), 5.0, 35.0),
    App("rag", "rag-qa", "qa", 0.30, "openinference",
        (("every_span", 0.5), ("root_only", 0.3), ("llm_only", 0.2)),
        (("gpt-4o", 0.3), ("claude-3-5-sonnet-20241022", 0.3), ("gemini-1.5-pro", 0.25), ("gpt-4o-mini", 0.15)),
        3.0, 60.0),
    App("agent", "research-agent", "run", 0.25, "genai", (("llm_only", 0.6), ("every_span", 0.4)),
        (("claude-3-5-sonnet-20241022", 0.5), ("gpt-4o", 0.35), ("gemini-1.5-pro", 0.15)), 3.5, 150.0),
)


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _tok(text: str) -> int:
    """Rough token count of ``text`` (≈ 4 characters per token)."""
    return max(1, len(text) // 4)


@dataclass
class SpanSpec:
    """One span to emit; ``start``/``end`` in ns since the session's first span, ``error`` recorded on the span."""

    name: str
    kind: SpanKind
    start: int  # ns since session start
    end: int
    attrs: dict[str, AttributeValue]
    children: list[SpanSpec] = field(default_factory=list)
    error: Exception | None = None

    def walk(self) -> Iterator[SpanSpec]:
        """This span and its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Plan:
    """Who, what and when of one session, drawn before its turns are built."""

    app: App
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
        """Upper bound (ns before now) of when the session's first span starts."""
        return self.end_offset + sum(self.gaps) + self.turns * MAX_TURN_NS


def _topic(rng: random.Random, app: App) -> tuple[int, list[str]]:
    """Index of the session's starting topic in its app's corpus list, and the session tags it implies."""
    if app.key == "support":
        topic = rng.randrange(len(c.SUPPORT_TOPICS))
        return topic, list(c.SUPPORT_TOPICS[topic].tags)
    if app.key == "rag":
        return rng.randrange(len(c.KB_ARTICLES)), ["docs", "self-serve"]
    topic = rng.randrange(len(c.RESEARCH_TASKS))
    return topic, list(c.RESEARCH_TASKS[topic].tags)


def plan_sessions(rng: random.Random, count: int) -> list[Plan]:
    """Draw who, what and when for ``count`` sessions; link some support chats to the user's previous chat."""
    users = [(f"user-{k:03d}", rng.choice(("free", "pro", "pro", "enterprise")), rng.choice(("en-US", "en-GB",
             "de-DE", "fr-FR", "ja-JP"))) for k in range(1, 61)]
    user_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(users))]
    plans: list[Plan] = []
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
        topic, tags = _topic(rng, app)
        if rng.random() < 0.1:
            tags.append("beta")
        metadata = {"channel": rng.choice(("web", "web", "ios", "android", "slack")), "plan": plan,
                    "locale": locale, "app_version": f"2.{rng.randint(10, 14)}.{rng.randint(0, 5)}"}
        if app.key == "rag":
            metadata["kb_version"] = rng.choice(("2024.10", "2024.11"))
        plans.append(Plan(app, f"{app.prefix}-{rng.getrandbits(48):012x}", user, _pick(rng, app.placements),
                           _pick(rng, app.models), topic, turns, gaps, end_offset, metadata, tags, c.make_slots(rng)))
    chats: dict[str, list[Plan]] = {}
    for p in plans:
        if p.app.key == "support":
            chats.setdefault(p.user_id, []).append(p)
    for p in plans:  # follow-up chats continue the same user's most recent earlier chat (session.previous_id)
        if p.app.key == "support" and rng.random() < 0.15:
            earlier = [q for q in chats[p.user_id] if q.end_offset > p.max_start_offset]
            if earlier:
                p.previous_id = min(earlier, key=lambda q: q.end_offset).session_id
    return plans


class Builder:
    """Builds the turns of one session as span trees with session-relative times (ns)."""

    def __init__(self, rng: random.Random, plan: Plan) -> None:
        self.rng, self.plan, self.slots = rng, plan, plan.slots
        self.history = 0  # tokens of earlier turns, re-sent with every prompt
        self.t = 0
        self.last_user = ""
        self.planner = "gpt-4o-mini" if rng.random() < 0.3 else None  # agents may plan with a cheaper model
        self.failures = c.AGENT_TOOL_FAILURES if plan.app.key == "agent" else c.SUPPORT_TOOL_FAILURES

    def fill(self, template: str) -> str:
        return c.fill(template, self.slots)

    def say(self, options: Sequence[str]) -> str:
        """The user's next message: one of ``options``, filled, not the same as the previous one."""
        fresh = [o for o in options if self.fill(o) != self.last_user] or list(options)
        self.last_user = self.fill(self.rng.choice(fresh))
        return self.last_user

    def gap(self, lo_ms: float = 1, hi_ms: float = 15) -> int:
        self.t += int(self.rng.uniform(lo_ms, hi_ms) * MS)
        return self.t

    def llm(self, user: str, output: str, extra_tokens: int, system_tokens: int, model: str | None = None) -> SpanSpec:
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
        return SpanSpec(name, SpanKind.CLIENT, start, self.t, attrs)

    def tool(self, name: str, args: dict[str, str], result: dict[str, str], lo_ms: float = 50,
             hi_ms: float = 2000) -> SpanSpec:
        start = self.gap()
        self.t += int(self.rng.uniform(lo_ms, hi_ms) * MS)
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": "TOOL", "tool.name": name,
                                            "input.value": json.dumps(args), "input.mime_type": "application/json"}
        if self.plan.app.tokens == "genai":
            attrs |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
        span_name = f"execute_tool {name}" if self.plan.app.tokens == "genai" else name
        span = SpanSpec(span_name, SpanKind.INTERNAL, start, self.t, attrs)
        if self.rng.random() < TOOL_FAILURE_RATE:
            exc_type, message = self.rng.choice(self.failures)
            span.error = exc_type(self.fill(message))
        else:
            attrs |= {"output.value": json.dumps(result), "output.mime_type": "application/json"}
        return span

    def root(self, name: str, kind: str, user: str) -> SpanSpec:
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": kind, "input.value": user,
                                            "metadata": json.dumps(self.plan.metadata), "tag.tags": self.plan.tags}
        if self.plan.previous_id:
            attrs["session.previous_id"] = self.plan.previous_id
        start = self.t
        self.gap(2, 20)
        return SpanSpec(name, SpanKind.SERVER, start, start, attrs)

    def finish(self, root: SpanSpec, answer: str | None, user: str) -> SpanSpec:
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

    def support_turn(self, i: int, n: int) -> SpanSpec:
        topic = c.SUPPORT_TOPICS[self.plan.topic]
        roll, escalate = self.rng.random(), False
        if i == 0 or roll < 0.12:
            if i > 0:  # topic switch
                self.plan.topic = self.rng.randrange(len(c.SUPPORT_TOPICS))
                topic = c.SUPPORT_TOPICS[self.plan.topic]
            user, tool, answer = self.say(topic.openers), True, self.rng.choice(topic.answers)
        elif i == n - 1 and n > 2 and roll < 0.7:
            user, tool, answer = self.say(c.SUPPORT_CLOSINGS), False, self.rng.choice(c.SUPPORT_CLOSING_ANSWERS)
        elif roll < 0.18:
            user, tool, answer = self.say(c.SUPPORT_ESCALATIONS), True, c.SUPPORT_ESCALATION_ANSWER
            escalate = True
        else:
            user, tool = self.say(topic.followups), roll < 0.55
            answer = self.rng.choice(topic.answers)
        root = self.root("chat_turn", "CHAIN", user)
        sys_tokens = c.SUPPORT_SYSTEM_PROMPT_TOKENS
        if tool:
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

    def rag_turn(self, i: int, n: int) -> SpanSpec:
        roll = self.rng.random()
        if i > 0 and roll < 0.2:
            self.plan.topic = self.rng.randrange(len(c.KB_ARTICLES))
        article = c.KB_ARTICLES[self.plan.topic]
        if i > 0 and roll > 0.95:
            user, answer = self.say(c.RAG_UNKNOWN_QUESTIONS), c.RAG_UNKNOWN_ANSWER
        elif i > 0 and roll > 0.6:
            user, answer = self.say(c.RAG_EXAMPLE_FOLLOWUPS), article.example
        else:
            user, answer = self.say(article.questions), self.rng.choice(article.answers)
        root = self.root("rag_query", "CHAIN", user)
        query = user
        if i > 0 and self.rng.random() < 0.5:  # condense the follow-up into a standalone question
            query = f"{article.title}: {user}"
            root.children.append(self.llm(user, query, 40, 120, model="gpt-4o-mini"))
        start = self.gap()
        self.t += int(self.rng.uniform(40, 400) * MS)
        docs = [article, *self.rng.sample([a for a in c.KB_ARTICLES if a is not article], self.rng.randint(2, 4))]
        attrs: dict[str, AttributeValue] = {"openinference.span.kind": "RETRIEVER", "input.value": query}
        score = self.rng.uniform(0.82, 0.93)
        for k, doc in enumerate(docs):
            attrs[f"retrieval.documents.{k}.document.id"] = doc.doc_id
            attrs[f"retrieval.documents.{k}.document.content"] = self.fill(doc.content)
            attrs[f"retrieval.documents.{k}.document.score"] = round(score, 3)
            score -= self.rng.uniform(0.03, 0.12)
        root.children.append(retriever := SpanSpec("retrieve", SpanKind.CLIENT, start, self.t, attrs))
        if self.rng.random() < 0.02:
            retriever.error = TimeoutError("vector store query timed out after 5s")
            return self.finish(root, None, user)
        text = self.fill(answer)
        context_tokens = sum(_tok(self.fill(d.content)) for d in docs)
        root.children.append(self.llm(user, text, context_tokens, c.RAG_SYSTEM_PROMPT_TOKENS))
        return self.finish(root, text, user)

    def agent_turn(self, i: int, n: int) -> SpanSpec:
        task = c.RESEARCH_TASKS[self.plan.topic]
        user = self.say(task.prompts if i == 0 else task.followups)
        root = self.root("agent_step", "AGENT", user)
        sys_tokens, scratch = c.AGENT_SYSTEM_PROMPT_TOKENS, 0
        for step in range(self.rng.randint(2, 4) if i == 0 else self.rng.randint(1, 2)):
            query = self.fill(task.queries[step % len(task.queries)])
            url = f"https://www.example.org/{task.key}/{step}"
            name, args, result = [
                ("web_search", {"query": query}, {"results": f"[{query}] {self.fill(task.finding)[:90]}", "url": url}),
                ("fetch_url", {"url": url}, {"status": "200", "text": self.fill(task.finding)}),
                ("python_exec", {"code": self.fill(task.code)}, {"stdout": self.slots["pct"], "exit_code": "0"}),
            ][step % 3]
            call = json.dumps({"tool_calls": [{"name": name, "arguments": args}]})
            root.children.append(self.llm(user, call, scratch, sys_tokens, model=self.planner))
            root.children.append(span := self.tool(name, args, result, 50, 2000))
            scratch += _tok(json.dumps(result)) + _tok(call)
            if span.error is not None and self.rng.random() < 0.15:
                return self.finish(root, None, user)
        text = self.fill(self.rng.choice(task.answers if i == 0 else c.RESEARCH_FOLLOWUP_ANSWERS))
        root.children.append(self.llm(user, text, scratch, sys_tokens))
        return self.finish(root, text, user)


def place_ids(root: SpanSpec, plan: Plan) -> None:
    """Put the session and user ids where this session's (simulated) instrumentation would."""
    if plan.placement == "every_span":
        for span in root.walk():
            span.attrs |= {"session.id": plan.session_id, "user.id": plan.user_id}
    elif plan.placement == "root_only":
        root.attrs |= {"session.id": plan.session_id, "user.id": plan.user_id}
    else:  # one LLM span only (the root when the turn failed before any LLM call)
        target = next((s for s in root.walk() if s.attrs.get("openinference.span.kind") == "LLM"), root)
        target.attrs |= {"gen_ai.conversation.id": plan.session_id, "user.id": plan.user_id}


def build_session(rng: random.Random, plan: Plan) -> list[SpanSpec]:
    """All turns of ``plan`` as root spans; times are ns since the session's first span."""
    builder = Builder(rng, plan)
    make = {"support": builder.support_turn, "rag": builder.rag_turn, "agent": builder.agent_turn}[plan.app.key]
    turns: list[SpanSpec] = []
    for i in range(plan.turns):
        builder.t += plan.gaps[i]
        root = make(i, plan.turns)
        place_ids(root, plan)
        turns.append(root)
    return turns
