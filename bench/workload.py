"""The realistic OTLP workload of the ingest benchmarks (issue 11): what exporters of LLM applications send.

Shape:

* sessions of 1-``max_turns`` turns (one trace per turn), the turn count Zipf-distributed (``turns_zipf``; 1.25 gives
  ~4.4 turns per session), users Zipf-distributed over ``users`` ids per project;
* every trace is a tree of ~5 spans built by the demo's session builder (``threadline.demo.sessions``: support chats,
  knowledge-base Q&A, research-agent runs, with the demo corpus's texts): a root agent/chain span carrying
  ``session.id``/``user.id`` and ``input.value``/``output.value``, LLM spans with GenAI and OpenInference keys,
  ``llm.input_messages.N.message.*`` chat messages (system prompt, the conversation so far, the question) and the
  request/response JSON in ``input.value``/``output.value`` as OpenInference instrumentations record them, prompt
  template, tool and retriever spans; ~2.2 KB of OTLP protobuf per span on average (``system_prompt_bytes``,
  ``history_turns`` and ``answer_words`` set it); the texts are the demo's plus pseudo-English prose, so that every
  turn's text is its own and compresses about as real conversations do (~4x with LZ4), not ~20x as the demo's few
  hundred sentences alone;
* three projects (60/30/10% of sessions by default), one application each, each with its own API key;
* spans are exported as the OpenTelemetry BatchSpanProcessor exports them under load: full requests of
  ``spans_per_request`` spans of one project, a trace's children when its turn runs, its root when the turn ends, so
  the root often (~40% at the default rate) lands in a later request. Time is simulated: the stream covers
  ``spans / spans_per_day`` days that end about an hour before now, sessions overlap as they would at that rate
  (think times of seconds to minutes between turns, so a session's turns are far apart in the stream).

The client must stay cheap (the benchmark shares 2 cores with the server), so sessions are not built per request:
a pool of session templates is built and protobuf-encoded once, with sentinel ids, times and session/user ids whose
byte offsets are recorded; a turn of the stream is a copy of a template turn whose ids (random, as the OTel SDK makes
them), times and session/user ids are patched in place (~7 us of CPU per span, all included), and a request is the
concatenation of encoded spans under one hand-written ``ResourceSpans``/``ScopeSpans`` envelope.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import json
import os
import random
import statistics
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.trace import SpanKind

from threadline.demo import corpus
from threadline.demo.sessions import APPS, SECOND, App, SpanSpec, build_session, plan_sessions

RARE_WORD = "zebrafish"  # in about ``rare_word_rate`` of the questions: what a rare-word content search looks for
DAY_NS = 86_400 * SECOND
_TRACE_SENTINEL = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
_SPAN_SENTINEL = bytes.fromhex("a1b2c3d4e5f60718")
_PARENT_SENTINEL = bytes.fromhex("8192a3b4c5d6e7f8")
# Times: a sentinel in the high bytes (no real time or count has them) and the span's index in the low ones.
_TIME_MARK = 0x5A3C_0000_0000_0000
_SESSION_FILL = "\x7f"  # session ids are written as runs of DEL, user ids as runs of RS: never in the corpus
_USER_FILL = "\x1e"
_PACK_TIME = struct.Struct("<Q").pack_into
_SCOPE = InstrumentationScope(name="openinference.instrumentation", version="0.1.18").SerializeToString()


@dataclass(frozen=True)
class Project:
    """One project of the workload: its id, its share of the sessions, and the demo application it runs."""

    project_id: str
    share: float
    app: App


DEFAULT_PROJECTS = (Project("shop-support", 0.6, APPS[0]), Project("docs-qa", 0.3, APPS[1]),
                    Project("research", 0.1, APPS[2]))


@dataclass(frozen=True)
class WorkloadConfig:
    """Parameters of the workload (see the module docstring); ``spans`` is the total to send, approximately (whole
    sessions are sent: the stream stops starting sessions once it reaches it)."""

    spans: int = 5_000_000
    spans_per_request: int = 500
    projects: tuple[Project, ...] = DEFAULT_PROJECTS
    users: int = 20_000
    users_zipf: float = 1.0
    max_turns: int = 20
    turns_zipf: float = 1.25
    system_prompt_bytes: int = 400
    history_turns: int = 2
    answer_words: tuple[int, int] = (10, 50)  # prose words added to each answer (unique text, ~4x compressible)
    prose_zipf: float = 1.0  # Zipf exponent of the prose's word frequencies (lower: more even, less compressible)
    every_span_ids: float = 0.5  # share of sessions whose every span carries session.id/user.id (else the root only)
    prompt_template_spans: float = 0.6  # share of LLM calls preceded by a prompt-template chain span (LangChain)
    rare_word_rate: float = 0.001
    templates: int = 400  # session templates per project
    spans_per_day: int = 50_000_000  # simulated traffic rate: at 50M/day ~40% of roots land in a later request
    seed: int = 1


@dataclass(frozen=True)
class Request:
    """One OTLP export request: the project it is sent as, the protobuf body and its span count."""

    project: int
    body: bytes
    spans: int


# ------------------------------------------------------------------------------------------------------------------
# Protobuf encoding helpers


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _any(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    raise TypeError(f"unsupported attribute value {value!r}")


def _kvs(attrs: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value)) for key, value in attrs.items()]


def envelope(resource: bytes, spans: Sequence[bytes | memoryview]) -> bytes:
    """An ExportTraceServiceRequest body of one resource and one scope holding ``spans``, each already encoded as a
    ``ScopeSpans.spans`` field (tag, length, Span). One copy of the spans: the lengths are added up first."""
    scope = _field(1, _SCOPE)
    resource_field = _field(1, resource)
    scope_spans = len(scope) + sum(map(len, spans))
    scope_head = _varint(2 << 3 | 2) + _varint(scope_spans)
    resource_spans = len(resource_field) + len(scope_head) + scope_spans
    return b"".join([_varint(1 << 3 | 2), _varint(resource_spans), resource_field, scope_head, scope, *spans])


# ------------------------------------------------------------------------------------------------------------------
# Session templates


def _system_prompt(app: App, size: int) -> str:
    """The application's system prompt, ``size`` bytes or a little more, from the demo corpus (instructions, then
    policy, knowledge-base or tool text, as real prompts carry)."""
    slots = corpus.make_slots(random.Random(app.key))
    if app.key == "support":
        intro = ("You are the customer support assistant of Acme Outdoor. Be concise and friendly, never invent order "
                 "data: call a tool. Escalate to a human when asked. Policies and model answers follow.\n")
        pieces = [answer for topic in corpus.SUPPORT_TOPICS for answer in topic.answers]
    elif app.key == "rag":
        intro = ("Answer only from the documentation excerpts. Cite the article id in brackets. If the excerpts do "
                 "not answer the question, say so. Style guide and reference answers follow.\n")
        pieces = [answer for article in corpus.KB_ARTICLES for answer in (article.content, *article.answers)]
    else:
        intro = ("You are a research agent. Plan, then call tools one at a time: web_search(query), fetch_url(url), "
                 "python_exec(code). Cite sources. Reports are structured with headings. Examples follow.\n")
        pieces = [answer for task in corpus.RESEARCH_TASKS for answer in task.answers]
    text = intro
    for piece in itertools.cycle(pieces):
        if len(text.encode()) >= size:
            return text
        text += corpus.fill(piece, slots) + "\n"
    raise AssertionError("unreachable")


@dataclass
class TurnTemplate:
    """One encoded turn (trace): ``blob`` holds its spans, each as a ``ScopeSpans.spans`` field, the children in
    end-time order, then the root; the ``*_at`` lists are the byte offsets :meth:`instance` rewrites."""

    blob: bytes
    span_bounds: list[tuple[int, int]]  # per span, in blob order; the root last
    trace_at: list[int]
    span_at: list[int]  # per span, in blob order
    parent_at: list[tuple[int, int]]  # (offset, the parent's span index)
    time_at: list[tuple[int, int]]  # (offset, ns after the session start)
    session_at: list[int]
    user_at: list[int]
    start: int  # ns after the session start
    root_end: int  # ns after the session start at which the root ends (is exported)

    @property
    def span_count(self) -> int:
        """Spans in the trace."""
        return len(self.span_bounds)

    def instance(self, session_start_ns: int, session_id: bytes, user_id: bytes, rng: random.Random
                 ) -> list[memoryview]:
        """The turn's encoded spans (export order) with a fresh random trace id and span ids, as the OTel SDK makes
        them, times from ``session_start_ns`` and the given ids (which must have the template's id lengths)."""
        # Slice assignments of a bytearray: ~0.2 us each, cheaper than numpy's per-call overhead on spans this small.
        buffer = bytearray(self.blob)
        trace_id = rng.randbytes(16)
        for at in self.trace_at:
            buffer[at:at + 16] = trace_id
        span_ids = rng.randbytes(8 * len(self.span_at))
        for index, at in enumerate(self.span_at):
            buffer[at:at + 8] = span_ids[8 * index:8 * index + 8]
        for at, parent in self.parent_at:
            buffer[at:at + 8] = span_ids[8 * parent:8 * parent + 8]
        for at, relative in self.time_at:
            _PACK_TIME(buffer, at, session_start_ns + relative)
        for ids, offsets in ((session_id, self.session_at), (user_id, self.user_at)):
            width = len(ids)
            for at in offsets:
                buffer[at:at + width] = ids
        view = memoryview(buffer)
        return [view[a:b] for a, b in self.span_bounds]


@dataclass(frozen=True)
class SessionTemplate:
    """One session of a project: its turns, and how many of its questions carry the rare word."""

    project: int
    turns: list[TurnTemplate]
    rare_turns: int

    @property
    def span_count(self) -> int:
        """Spans in the session."""
        return sum(turn.span_count for turn in self.turns)


def _ordered(root: SpanSpec) -> list[tuple[SpanSpec, int]]:
    """The spans of a turn in export order (children by end time, the root last), with their parent's index."""
    parents: dict[int, SpanSpec | None] = {id(root): None}
    for span in root.walk():
        for child in span.children:
            parents[id(child)] = span
    spans = [*sorted((s for s in root.walk() if s is not root), key=lambda s: (s.end, s.start)), root]
    position = {id(span): index for index, span in enumerate(spans)}
    return [(span, -1 if parents[id(span)] is None else position[id(parents[id(span)])])  # type: ignore[arg-type]
            for span in spans]


class _Prose:
    """Pseudo-English filler: words drawn Zipf-like from common English words, the demo corpus's words and made-up
    words, in sentences. The demo corpus alone repeats a few hundred sentences (ClickHouse compressed its text ~20x,
    against ~4x for real conversations); filler makes every turn's text its own and about as compressible as prose."""

    COMMON = ("the", "to", "and", "a", "of", "is", "in", "you", "that", "it", "for", "on", "with", "your", "this",
              "be", "can", "are", "as", "have", "not", "if", "or", "will", "we", "I", "my", "at", "from", "by", "an",
              "do", "please", "order", "account", "when", "there", "which", "one", "all", "also", "so", "what",
              "would", "about", "then", "more", "any", "after", "before", "need", "time", "our", "should", "help")

    def __init__(self, rng: random.Random, exponent: float, size: int = 30_000) -> None:
        self.rng = rng
        syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "qua", "dre", "fin", "gol", "har",
                     "bel", "cor", "dan", "est", "fra", "gri", "hol", "ion", "jet", "kin", "lum", "mor", "nax", "ost",
                     "pel", "rin", "sol", "tra", "urb", "ven", "wal", "xen", "yor", "zul", "ter", "ment", "ing", "al"]
        corpus_words: list[str] = []
        for text in [a for t in corpus.SUPPORT_TOPICS for a in t.answers] + [a.content for a in corpus.KB_ARTICLES]:
            corpus_words += [w.strip(".,:*`()[]!?") for w in text.split() if "$" not in w]
        made = {"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(size)}
        vocabulary = list(dict.fromkeys([*self.COMMON, *filter(None, corpus_words), *sorted(made)]))
        self.words = vocabulary[:size]
        self.weights = list(itertools.accumulate(1.0 / rank ** exponent for rank in range(1, len(self.words) + 1)))

    def text(self, low: int, high: int) -> str:
        """Between ``low`` and ``high`` words, as sentences."""
        words = self.rng.choices(self.words, cum_weights=self.weights, k=self.rng.randint(low, high))
        sentences, at = [], 0
        while at < len(words):
            size = self.rng.randint(6, 18)
            sentence = " ".join(words[at:at + size])
            sentences.append(sentence[:1].upper() + sentence[1:] + self.rng.choice(".....?!,;:"))
            at += size
        return " ".join(sentences)


class _TemplateBuilder:
    """Turns demo sessions into :class:`SessionTemplate` objects with the workload's LLM span content."""

    def __init__(self, config: WorkloadConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.prompts = {app.key: _system_prompt(app, config.system_prompt_bytes) for app in APPS}
        self.prose = _Prose(rng, config.prose_zipf)
        self.turns_built = 0

    def enrich(self, turns: list[SpanSpec], app: App) -> int:
        """Give the session's LLM spans their chat messages and request/response JSON (OpenInference), add prompt
        template spans, mark rare-word questions; returns how many questions carry the rare word."""
        history: list[dict[str, str]] = []
        rare = 0
        for root in turns:
            self._diversify(root)
            question = str(root.attrs.get("input.value", ""))
            self.turns_built += 1  # every 1/rate-th turn of each project's pool: each project has some
            if self.config.rare_word_rate and \
                    self.turns_built % round(1 / self.config.rare_word_rate) == round(0.3 / self.config.rare_word_rate):
                question += f" (my colleague mentioned the {RARE_WORD} case, if that helps)"
                root.attrs["input.value"] = question
                rare += 1
            for span in list(root.walk()):
                if span.attrs.get("openinference.span.kind") == "LLM":
                    self._llm(span, app, history, question)
            for parent in list(root.walk()):
                self._add_templates(parent, app)
            answer = root.attrs.get("output.value")
            history += [{"role": "user", "content": question}]
            if isinstance(answer, str):
                history += [{"role": "assistant", "content": answer}]
        return rare

    def _diversify(self, root: SpanSpec) -> None:
        """Lengthen the turn's question and answer, tool results and retrieved documents with prose (the same new
        text wherever the demo put the same old one)."""
        prose = self.prose
        replaced: dict[str, str] = {}
        for key, low, high, joint in (("input.value", 0, 15, " "), ("output.value", *self.config.answer_words,
                                                                       "\n\n")):
            old = root.attrs.get(key)
            if isinstance(old, str):
                replaced[old] = old + joint + prose.text(low, high) if high else old
        for span in root.walk():
            attrs = span.attrs
            for key in ("input.value", "output.value"):
                value = attrs.get(key)
                if isinstance(value, str) and value in replaced:
                    attrs[key] = replaced[value]
            kind = attrs.get("openinference.span.kind")
            if kind == "TOOL" and isinstance(attrs.get("output.value"), str):
                result = json.loads(str(attrs["output.value"]))
                attrs["output.value"] = json.dumps({**result, "details": prose.text(5, 30)})
            elif kind == "RETRIEVER":
                for key in [k for k in attrs if k.endswith(".document.content")]:
                    attrs[key] = f"{attrs[key]} {prose.text(15, 50)}"

    def _llm(self, span: SpanSpec, app: App, history: list[dict[str, str]], question: str) -> None:
        recent = history[-2 * self.config.history_turns:] if self.config.history_turns else []
        messages = [{"role": "system", "content": self.prompts[app.key]}, *recent,
                    {"role": "user", "content": str(span.attrs.get("input.value", question))}]
        output = str(span.attrs.get("output.value", ""))
        model = str(span.attrs.get("gen_ai.request.model", "gpt-4o"))
        response_model = str(span.attrs.get("gen_ai.response.model", model))
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4 + 3 * len(messages)
        completion_tokens = max(1, len(output) // 4)
        attrs = span.attrs
        for index, message in enumerate(messages):
            attrs[f"llm.input_messages.{index}.message.role"] = message["role"]
            attrs[f"llm.input_messages.{index}.message.content"] = message["content"]
        attrs["llm.output_messages.0.message.role"] = "assistant"
        attrs["llm.output_messages.0.message.content"] = output
        attrs["input.value"] = json.dumps({"model": model, "messages": messages, "temperature": 0.2,
                                           "max_tokens": 1024})
        attrs["input.mime_type"] = "application/json"
        attrs["output.value"] = json.dumps({
            "id": f"chatcmpl-{self.rng.getrandbits(96):024x}", "object": "chat.completion", "model": response_model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": output}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})
        attrs["output.mime_type"] = "application/json"
        attrs["gen_ai.operation.name"] = "chat"
        attrs["gen_ai.response.finish_reasons"] = ["stop"]
        if "llm.token_count.prompt" in attrs:
            attrs |= {"llm.token_count.prompt": prompt_tokens, "llm.token_count.completion": completion_tokens,
                      "llm.token_count.total": prompt_tokens + completion_tokens}
        else:
            attrs |= {"gen_ai.usage.input_tokens": prompt_tokens, "gen_ai.usage.output_tokens": completion_tokens}

    def _add_templates(self, parent: SpanSpec, app: App) -> None:
        """Put a prompt-template chain span (as LangChain's ChatPromptTemplate) before some of ``parent``'s LLM
        calls."""
        added: list[SpanSpec] = []
        for child in parent.children:
            if child.attrs.get("openinference.span.kind") == "LLM" and \
                    self.rng.random() < self.config.prompt_template_spans:
                question = str(child.attrs.get("llm.input_messages.1.message.content", ""))
                start = max(parent.start, child.start - 2_000_000)
                added.append(SpanSpec("ChatPromptTemplate", SpanKind.INTERNAL, start, start + 400_000, {
                    "openinference.span.kind": "CHAIN", "input.value": json.dumps({"question": question}),
                    "input.mime_type": "application/json",
                    "output.value": json.dumps({"messages": [{"role": "system", "content": app.service},
                                                             {"role": "user", "content": question}]}),
                    "output.mime_type": "application/json"}))
        parent.children = sorted(parent.children + added, key=lambda s: s.start)

    def build(self, project_index: int, project: Project, plan_source: Iterator[object], turns: int,
              session_id_len: int, user_id_len: int, every_span: bool) -> SessionTemplate:
        """Encode one session of ``turns`` turns of ``project``'s application."""
        plan = next(plan_source)
        plan.turns = turns  # type: ignore[attr-defined]
        plan.gaps = [0] + [int(min(1200.0, max(4.0, self.rng.lognormvariate(0, 0.8) * project.app.think_s)) * SECOND)
                           for _ in range(turns - 1)]  # type: ignore[attr-defined]
        plan.previous_id = None  # type: ignore[attr-defined]
        plan.placement = "every_span" if every_span else "root_only"  # type: ignore[attr-defined]
        plan.session_id = _SESSION_FILL * session_id_len  # type: ignore[attr-defined]
        plan.user_id = _USER_FILL * user_id_len  # type: ignore[attr-defined]
        roots = build_session(self.rng, plan)  # type: ignore[arg-type]
        rare = self.enrich(roots, project.app)
        return SessionTemplate(project_index, [self._turn(root, session_id_len, user_id_len) for root in roots], rare)

    @staticmethod
    def _turn(root: SpanSpec, session_id_len: int, user_id_len: int) -> TurnTemplate:
        chunks: list[bytes] = []
        bounds: list[tuple[int, int]] = []
        parents: list[int] = []
        times: list[int] = []
        patches: dict[str, list[int]] = {"trace": [], "span": [], "parent": [], "time": [], "session": [],
                                         "user": []}
        offset = 0
        for span, parent in _ordered(root):
            encoded, time_values = _encode(span, parent >= 0)
            entry = _field(2, encoded)
            _locate(encoded, offset + len(entry) - len(encoded), time_values, patches, session_id_len, user_id_len)
            times += time_values
            chunks.append(entry)
            bounds.append((offset, offset + len(entry)))
            if parent >= 0:
                parents.append(parent)
            offset += len(entry)
        return TurnTemplate(
            blob=b"".join(chunks), span_bounds=bounds, trace_at=patches["trace"], span_at=patches["span"],
            parent_at=list(zip(patches["parent"], parents, strict=True)),
            time_at=list(zip(patches["time"], times, strict=True)), session_at=patches["session"],
            user_at=patches["user"], start=min(s.start for s in root.walk()), root_end=root.end)


def _encode(span: SpanSpec, has_parent: bool) -> tuple[bytes, list[int]]:
    """The span as protobuf with sentinel ids and times; returns it and the relative times, in the order the time
    sentinels appear (start, end, then event times)."""
    kind = int(span.kind.value) + 1  # API SpanKind INTERNAL=0 ..., OTLP SPAN_KIND_INTERNAL=1 ...
    message = Span(trace_id=_TRACE_SENTINEL, span_id=_SPAN_SENTINEL, name=span.name, kind=kind,  # type: ignore[arg-type]
                   start_time_unix_nano=_TIME_MARK | 0, end_time_unix_nano=_TIME_MARK | 1,
                   attributes=_kvs(dict(span.attrs)))
    if has_parent:
        message.parent_span_id = _PARENT_SENTINEL
    values = [span.start, span.end]
    if span.error is not None:
        error = span.error
        text = f"{type(error).__name__}: {error}"
        stack = (f"Traceback (most recent call last):\n  File \"/app/agent/tools.py\", line 212, in run\n    result = "
                 f"await self._call(**arguments)\n  File \"/app/agent/http.py\", line 88, in _call\n    raise "
                 f"{type(error).__name__}({str(error)!r})\n{text}\n")
        event = message.events.add(time_unix_nano=_TIME_MARK | 2, name="exception")
        event.attributes.extend(_kvs({"exception.type": type(error).__name__, "exception.message": str(error),
                                      "exception.stacktrace": stack, "exception.escaped": "False"}))
        message.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=text))
        values.append(span.end)
    else:
        message.status.CopyFrom(Status(code=Status.STATUS_CODE_OK))
    return message.SerializeToString(), values


def _locate(encoded: bytes, head: int, time_values: list[int], patches: dict[str, list[int]], session_id_len: int,
            user_id_len: int) -> None:
    """Record the blob offsets (span at ``head``) of the sentinels of one encoded span; raises AssertionError if a
    sentinel is not where the protobuf layout puts it or appears more often than expected."""
    def every(pattern: bytes) -> list[int]:
        found, at = [], encoded.find(pattern)
        while at >= 0:
            found.append(at)
            at = encoded.find(pattern, at + len(pattern))
        return found

    checks = [(_TRACE_SENTINEL, "trace", 1), (_SPAN_SENTINEL, "span", 1)]
    if encoded.find(_PARENT_SENTINEL) >= 0:
        checks.append((_PARENT_SENTINEL, "parent", 1))
    for pattern, name, count in checks:
        found = every(pattern)
        assert len(found) == count, f"{name} id sentinel found {len(found)} times"
        patches[name] += [head + at for at in found]
    for index in range(len(time_values)):
        found = every((_TIME_MARK | index).to_bytes(8, "little"))
        assert len(found) == 1, f"time sentinel {index} found {len(found)} times"
        patches["time"].append(head + found[0])
    for name, run in (("session", _SESSION_FILL * session_id_len), ("user", _USER_FILL * user_id_len)):
        patches[name] += [head + at for at in every(run.encode())]


# ------------------------------------------------------------------------------------------------------------------
# The stream


def _zipf_cumulative(count: int, exponent: float) -> list[float]:
    weights = [1.0 / (rank ** exponent) for rank in range(1, count + 1)]
    return list(itertools.accumulate(weights))


@dataclass
class StreamStats:
    """What the stream generated, per project and in total (filled while it runs)."""

    sessions: list[int]
    traces: list[int]
    spans: list[int]
    requests: list[int]
    roots_in_later_request: int = 0
    rare_word_questions: int = 0
    twenty_turn_sessions: list[list[str]] = field(default_factory=list)
    top_users: list[str] = field(default_factory=list)
    otlp_bytes: int = 0


class Workload:
    """The stream of :class:`Request` objects of ``config``: build the templates once (``build``), then iterate
    :meth:`requests` (single use). ``stats`` counts what was generated so far."""

    def __init__(self, config: WorkloadConfig) -> None:
        self.config = config
        self.templates: list[list[list[SessionTemplate]]] = []  # [project][turns - 1] -> templates
        self.resources = [Resource(attributes=_kvs({
            "service.name": p.app.service, "service.version": "2.14.0", "deployment.environment.name": "bench",
            "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": "1.27.0"})).SerializeToString() for p in config.projects]
        projects = len(config.projects)
        self.stats = StreamStats([0] * projects, [0] * projects, [0] * projects, [0] * projects,
                                 twenty_turn_sessions=[[] for _ in range(projects)],
                                 top_users=[self.user_id(0)] * projects)
        self.turn_weights = _zipf_cumulative(config.max_turns, config.turns_zipf)
        self.user_weights = _zipf_cumulative(config.users, config.users_zipf)

    @staticmethod
    def user_id(rank: int) -> str:
        """The user id of Zipf rank ``rank`` (0 is the most frequent)."""
        return f"user-{rank:07d}"

    @staticmethod
    def session_id(project: Project, number: int) -> str:
        """The external id of the ``number``-th session of the stream."""
        return f"{project.app.prefix}-{number:012x}"

    def build(self) -> float:
        """Build and encode the template pool; returns the seconds it took."""
        started = time.perf_counter()
        config = self.config
        rng = random.Random(config.seed)
        builder = _TemplateBuilder(config, rng)

        def plan_source(app: App) -> Iterator[object]:
            while True:
                for plan in plan_sessions(rng, 64):
                    if plan.app.key == app.key:
                        yield plan

        plans = {app.key: plan_source(app) for app in APPS}
        pmf = self.turns_pmf()
        for index, project in enumerate(config.projects):
            builder.turns_built = 0
            by_turns = []
            for turns in range(1, config.max_turns + 1):
                count = max(3, round(config.templates * pmf[turns - 1]))
                by_turns.append([builder.build(index, project, plans[project.app.key], turns,
                                               len(self.session_id(project, 0)), len(self.user_id(0)),
                                               rng.random() < config.every_span_ids) for _ in range(count)])
            self.templates.append(by_turns)
        return time.perf_counter() - started

    def turns_pmf(self) -> list[float]:
        """Probability of each session length, 1..max_turns turns."""
        total = self.turn_weights[-1]
        return [(b - a) / total for a, b in itertools.pairwise([0.0, *self.turn_weights])]

    def mean_spans_per_session(self, project: int) -> float:
        """Expected spans of one session of ``project`` (Zipf turns, templates drawn uniformly)."""
        return sum(p * statistics.fmean(t.span_count for t in bucket)
                   for p, bucket in zip(self.turns_pmf(), self.templates[project], strict=True))

    def template_bytes_per_span(self) -> float:
        """Mean encoded bytes per span over the pool, weighted as the stream draws templates."""
        pmf = self.turns_pmf()
        total_bytes = total_spans = 0.0
        for project, share in zip(self.templates, (p.share for p in self.config.projects), strict=True):
            for p, bucket in zip(pmf, project, strict=True):
                total_bytes += share * p * statistics.fmean(sum(len(turn.blob) for turn in t.turns) for t in bucket)
                total_spans += share * p * statistics.fmean(t.span_count for t in bucket)
        return total_bytes / total_spans

    def requests(self) -> Iterator[Request]:
        """The stream: requests in export order. Single use."""
        config = self.config
        rng = random.Random(config.seed + 1)
        ids = random.Random(config.seed + 2)
        projects = config.projects
        shares = list(itertools.accumulate(p.share for p in projects))
        per_session = sum(p.share * self.mean_spans_per_session(i) for i, p in enumerate(projects))
        ns_per_span = DAY_NS / config.spans_per_day
        mean_arrival_ns = per_session * ns_per_span  # sessions start as a Poisson process at the stream's span rate
        now = time.time_ns()
        clock = now - int(config.spans * ns_per_span) - 3600 * SECOND
        buffers: list[list[memoryview]] = [[] for _ in projects]
        # (time, sequence, kind, payload), kind 0: a session starts, 1: a turn starts, 2: a turn's root ends
        events: list[tuple[int, int, int, object]] = []
        sequence = itertools.count()
        heapq.heappush(events, (clock, next(sequence), 0, None))
        scheduled = 0
        numbers = itertools.count()
        stats = self.stats
        limit = config.spans_per_request

        def emit(project: int, spans: list[memoryview]) -> Iterator[Request]:
            buffer = buffers[project]
            buffer += spans
            while len(buffer) >= limit:
                yield self._request(project, buffer[:limit])
                del buffer[:limit]

        while events:
            moment, _, kind, payload = heapq.heappop(events)
            if kind == 0:
                if scheduled >= config.spans:
                    continue
                project = bisect.bisect_left(shares, rng.random() * shares[-1])
                turns = 1 + bisect.bisect_left(self.turn_weights, rng.random() * self.turn_weights[-1])
                template = rng.choice(self.templates[project][turns - 1])
                user = bisect.bisect_left(self.user_weights, rng.random() * self.user_weights[-1])
                session_id = self.session_id(projects[project], next(numbers))
                session = (project, session_id.encode(), self.user_id(user).encode(), moment, template)
                heapq.heappush(events, (moment + template.turns[0].start, next(sequence), 1, (session, 0)))
                scheduled += template.span_count
                stats.sessions[project] += 1
                stats.traces[project] += turns
                stats.spans[project] += template.span_count
                stats.rare_word_questions += template.rare_turns
                if turns == config.max_turns:
                    stats.twenty_turn_sessions[project].append(session_id)
                heapq.heappush(events, (moment + int(rng.expovariate(1.0) * mean_arrival_ns), next(sequence), 0,
                                        None))
            elif kind == 1:  # a turn starts: its children are exported (as they end) before its root
                session, index = payload  # type: ignore[misc]
                project, session_id_bytes, user_bytes, start, template = session
                turn = template.turns[index]
                spans = turn.instance(start, session_id_bytes, user_bytes, ids)
                heapq.heappush(events, (moment + turn.root_end - turn.start, next(sequence), 2,
                                        (project, spans[-1], stats.requests[project])))
                if index + 1 < len(template.turns):
                    heapq.heappush(events, (start + template.turns[index + 1].start, next(sequence), 1,
                                            (session, index + 1)))
                yield from emit(project, spans[:-1])
            else:  # the root ends
                project, root, request = payload  # type: ignore[misc]
                if request != stats.requests[project]:
                    stats.roots_in_later_request += 1
                yield from emit(project, [root])
        for project, buffer in enumerate(buffers):
            if buffer:
                yield self._request(project, buffer)

    def _request(self, project: int, spans: list[memoryview]) -> Request:
        body = envelope(self.resources[project], spans)
        self.stats.requests[project] += 1
        self.stats.otlp_bytes += len(body)
        return Request(project, body, len(spans))


def single_project_bodies(spans: int, spans_per_request: int = 500, seed: int = 1) -> tuple[list[bytes], int, str]:
    """The workload's requests of all projects as if sent by one (for benchmarks without API keys): (bodies, span
    count, id of a 20-turn session)."""
    workload = Workload(WorkloadConfig(spans=spans, spans_per_request=spans_per_request, seed=seed, templates=60))
    workload.build()
    bodies = [request.body for request in workload.requests()]
    long_sessions = [s for project in workload.stats.twenty_turn_sessions for s in project]
    return bodies, sum(workload.stats.spans), long_sessions[0] if long_sessions else ""


def check_request(body: bytes) -> tuple[int, set[str]]:
    """Decode ``body`` with opentelemetry-proto (a self-check of the hand-made envelope and patches): (span count,
    session ids found). Raises AssertionError when an id is left unpatched."""
    request = ExportTraceServiceRequest.FromString(body)
    sessions: set[str] = set()
    count = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                count += 1
                assert span.trace_id != _TRACE_SENTINEL and span.span_id != _SPAN_SENTINEL
                assert span.start_time_unix_nano >> 48 != _TIME_MARK >> 48
                for kv in span.attributes:
                    if kv.key == "session.id":
                        assert _SESSION_FILL not in kv.value.string_value
                        sessions.add(kv.value.string_value)
                    if kv.key == "user.id":
                        assert _USER_FILL not in kv.value.string_value
    return count, sessions


if __name__ == "__main__":  # a quick look at the workload: sizes and generation speed
    workload = Workload(WorkloadConfig(spans=int(os.environ.get("SPANS", "200000"))))
    print(f"templates built in {workload.build():.1f} s; {workload.template_bytes_per_span():.0f} B/span")
    started, cpu = time.perf_counter(), time.process_time()
    count = 0
    for number, request in enumerate(workload.requests()):
        if number < 3:
            print(check_request(request.body)[0], "spans decoded")
        count += request.spans
    cpu = time.process_time() - cpu
    stats = workload.stats
    print(f"{count:,} spans in {sum(stats.requests)} requests, {time.perf_counter() - started:.1f} s, "
          f"{cpu / count * 1e6:.1f} us CPU/span, {stats.otlp_bytes / count:.0f} B/span, {sum(stats.sessions)} "
          f"sessions, {sum(stats.traces)} traces, {stats.roots_in_later_request / sum(stats.traces):.0%} roots in a "
          "later request")
