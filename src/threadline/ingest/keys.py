"""Attribute keys Threadline reads, as data: for each field, the keys in precedence order and where each comes from.

Per span the first key present wins; span attributes are tried before resource attributes (DESIGN.md,
"Session id extraction"). Change precedence here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """One attribute key and the convention that defines it."""

    name: str
    source: str


def first(attributes: Mapping[str, str], candidates: tuple[Key, ...]) -> str:
    """The value of the first key of ``candidates`` present and non-empty in ``attributes``, else '' (the
    precedence rule of every list below)."""
    for key in candidates:
        value = attributes.get(key.name)
        if value:
            return value
    return ""


class Picker:
    """:func:`first` of several key lists at once, in one pass over the attributes: the names of every list go into
    one set, so a span pays one C-level set intersection for the keys it lacks (most of them) and a few steps for
    each key it has, not a lookup per key of every list (~70 per span on the ingest hot path)."""

    def __init__(self, lists: tuple[tuple[Key, ...], ...]) -> None:
        self._size = len(lists)
        self._slots: dict[str, list[tuple[int, int]]] = {}  # name -> (list index, rank in that list)
        for slot, candidates in enumerate(lists):
            for rank, key in enumerate(candidates):
                self._slots.setdefault(key.name, []).append((slot, rank))
        # A set, not a frozenset: ``dict.keys() & set`` iterates over the (few) keys, ``& frozenset`` over the names.
        self._names = set(self._slots)

    def pick(self, attributes: Mapping[str, str]) -> list[str]:
        """For each list, in order, what :func:`first` returns for it."""
        found = [""] * self._size
        ranks = [-1] * self._size  # -1: nothing found yet
        for name in attributes.keys() & self._names:
            value = attributes[name]
            if value:
                for slot, rank in self._slots[name]:
                    if ranks[slot] < 0 or rank < ranks[slot]:
                        ranks[slot], found[slot] = rank, value
        return found


SESSION_ID: tuple[Key, ...] = (
    Key("session.id", "OpenInference semantic conventions; OpenTelemetry session conventions"),
    Key("gen_ai.conversation.id", "OpenTelemetry GenAI semantic conventions"),
    Key("langfuse.session.id", "Langfuse OpenTelemetry attributes"),
    Key("session_id", "common plain attribute"),
    Key("traceloop.association.properties.session_id", "OpenLLMetry (Traceloop) association properties"),
    Key("ai.telemetry.metadata.sessionId", "Vercel AI SDK telemetry metadata"),
)

USER_ID: tuple[Key, ...] = (
    Key("user.id", "OpenInference semantic conventions; OpenTelemetry user attributes"),
    Key("enduser.id", "OpenTelemetry general attributes (deprecated, still emitted)"),
    Key("langfuse.user.id", "Langfuse OpenTelemetry attributes"),
    Key("gen_ai.user.id", "GenAI instrumentations"),
    Key("traceloop.association.properties.user_id", "OpenLLMetry (Traceloop) association properties"),
    Key("ai.telemetry.metadata.userId", "Vercel AI SDK telemetry metadata"),
)

PREVIOUS_SESSION_ID: tuple[Key, ...] = (
    Key("session.previous_id", "OpenTelemetry session semantic conventions"),
)

END_STATE: tuple[Key, ...] = (
    Key("session.end_state", "Threadline convention"),
    Key("agentops.session.end_state", "AgentOps SDK (the session span; end_trace(end_state=...))"),
)

# Reported end states (lowercased) to Threadline's. AgentOps writes its legacy strings ("Success", "Fail",
# "Indeterminate"), TraceState names ("SUCCESS", "ERROR", "UNSET"), OpenTelemetry status codes ("StatusCode.OK"...)
# and "Shutdown" / "Reinitialized" when the SDK ends a trace itself (process exit, re-init). Other values are ignored.
END_STATE_VALUES: dict[str, str] = {
    "success": "success", "failure": "failure", "indeterminate": "indeterminate",
    "fail": "failure", "error": "failure", "statuscode.ok": "success", "statuscode.error": "failure",
    "unset": "indeterminate", "statuscode.unset": "indeterminate", "shutdown": "indeterminate",
    "reinitialized": "indeterminate",
}

INPUT_TOKENS: tuple[Key, ...] = (
    Key("gen_ai.usage.input_tokens", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.token_count.prompt", "OpenInference semantic conventions"),
    Key("gen_ai.usage.prompt_tokens", "OpenTelemetry GenAI semantic conventions (before 1.27) / OpenLLMetry"),
    Key("ai.usage.inputTokens", "Vercel AI SDK 5 telemetry (streamText spans)"),
    Key("ai.usage.promptTokens", "Vercel AI SDK telemetry (generateText, generateObject spans)"),
    Key("ai.usage.tokens", "Vercel AI SDK telemetry (embed, embedMany spans: the input's tokens)"),
)

OUTPUT_TOKENS: tuple[Key, ...] = (
    Key("gen_ai.usage.output_tokens", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.token_count.completion", "OpenInference semantic conventions"),
    Key("gen_ai.usage.completion_tokens", "OpenTelemetry GenAI semantic conventions (before 1.27) / OpenLLMetry"),
    Key("ai.usage.outputTokens", "Vercel AI SDK 5 telemetry (streamText spans)"),
    Key("ai.usage.completionTokens", "Vercel AI SDK telemetry (generateText, generateObject spans)"),
)

TOTAL_TOKENS: tuple[Key, ...] = (
    Key("llm.token_count.total", "OpenInference semantic conventions"),
    Key("gen_ai.usage.total_tokens", "OpenLLMetry"),
    Key("llm.usage.total_tokens", "OpenLLMetry"),
    Key("ai.usage.totalTokens", "Vercel AI SDK 5 telemetry (streamText spans)"),
)

MODEL: tuple[Key, ...] = (
    Key("gen_ai.response.model", "OpenTelemetry GenAI semantic conventions"),
    Key("gen_ai.request.model", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.model_name", "OpenInference semantic conventions"),
    Key("ai.response.model", "Vercel AI SDK telemetry (the model that answered)"),
    Key("ai.model.id", "Vercel AI SDK telemetry (the model asked for)"),
    Key("langfuse.observation.model.name", "Langfuse OpenTelemetry attributes (generations)"),
)

# Input and output text: a span's conversation is read from, in this order (threadline.ingest.conversation),
# 1. the text keys INPUT / OUTPUT, when their value is plain text;
# 2. the message lists INPUT_MESSAGES / OUTPUT_MESSAGES: the last user message in, the assistant reply out;
# 3. GenAI message events (INPUT_EVENTS / OUTPUT_EVENTS, OPERATION_DETAILS_EVENT);
# 4. after the clients read by their own modules (Vercel AI SDK, Langfuse, AgentOps), JSON values decoded: a
#    DEFERRED_WHEN_JSON text key holding JSON, then ENCODED_INPUT / ENCODED_OUTPUT. A message list is thus shown as
#    the conversation, never as a raw JSON blob.
INPUT: tuple[Key, ...] = (
    Key("input.value", "OpenInference semantic conventions (JSON when input.mime_type is application/json)"),
    Key("gen_ai.prompt", "OpenTelemetry GenAI semantic conventions (span attribute form)"),
    Key("gen_ai.tool.call.arguments", "OpenTelemetry GenAI semantic conventions (execute_tool spans; pydantic-ai)"),
    Key("tool_arguments", "pydantic-ai instrumentation version 2 (tool spans)"),
    Key("ai.toolCall.args", "Vercel AI SDK telemetry (ai.toolCall spans: the tool's arguments, JSON)"),
)

OUTPUT: tuple[Key, ...] = (
    Key("output.value", "OpenInference semantic conventions (JSON when output.mime_type is application/json)"),
    Key("gen_ai.completion", "OpenTelemetry GenAI semantic conventions (span attribute form)"),
    Key("final_result", "pydantic-ai (agent run spans: the run's output; JSON for structured output)"),
    Key("gen_ai.tool.call.result", "OpenTelemetry GenAI semantic conventions (execute_tool spans; pydantic-ai)"),
    Key("tool_response", "pydantic-ai instrumentation version 2 (tool spans)"),
    Key("ai.response.text", "Vercel AI SDK telemetry (generateText, streamText spans)"),
    Key("ai.response.object", "Vercel AI SDK telemetry (generateObject, streamObject spans: the object, JSON)"),
    Key("ai.toolCall.result", "Vercel AI SDK telemetry (ai.toolCall spans: the tool's result, JSON)"),
)

# Text keys that may hold a raw request/response as JSON: such a value (typed application/json by the attribute named
# here, or starting with [ or {) is read after the message lists. The other text keys hold JSON only as their real
# value (tool arguments, a structured result) and are shown as sent.
DEFERRED_WHEN_JSON: dict[str, Key | None] = {
    "input.value": Key("input.mime_type", "OpenInference semantic conventions (text/plain or application/json)"),
    "output.value": Key("output.mime_type", "OpenInference semantic conventions (text/plain or application/json)"),
    "gen_ai.prompt": None,
    "gen_ai.completion": None,
}

# Message lists, in precedence order. A name ending in "." is a flattened family (NAME.N.role, NAME.N.content...,
# read by threadline.ingest.messages.indexed_messages); any other holds a JSON list of messages.
INPUT_MESSAGES: tuple[Key, ...] = (
    Key("llm.input_messages.", "OpenInference semantic conventions (llm.input_messages.N.message.role/content/"
        "contents.M.message_content.text/tool_calls.M.tool_call.function.name|arguments)"),
    Key("gen_ai.input.messages", "OpenTelemetry GenAI semantic conventions 1.37+ (JSON, messages with parts; "
        "OpenLLMetry 0.4x+, pydantic-ai)"),
    Key("gen_ai.prompt.", "OpenLLMetry (Traceloop) before GenAI 1.37: gen_ai.prompt.N.role/content/tool_calls.M.*"),
    Key("pydantic_ai.all_messages", "pydantic-ai (agent run spans: the whole conversation, GenAI 1.37+ JSON)"),
    Key("all_messages_events", "pydantic-ai instrumentation version 1 (agent run spans: the messages as GenAI "
        "event bodies, JSON)"),
    Key("events", "pydantic-ai instrumentation version 1 (model request spans, event_mode='attributes': JSON)"),
)
OUTPUT_MESSAGES: tuple[Key, ...] = (
    Key("llm.output_messages.", "OpenInference semantic conventions (llm.output_messages.N.message.*)"),
    Key("gen_ai.output.messages", "OpenTelemetry GenAI semantic conventions 1.37+ (JSON, messages with parts)"),
    Key("gen_ai.completion.", "OpenLLMetry (Traceloop) before GenAI 1.37: gen_ai.completion.N.role/content/"
        "tool_calls.M.*"),
    Key("pydantic_ai.all_messages", "pydantic-ai (agent run spans: the last assistant message)"),
    Key("all_messages_events", "pydantic-ai instrumentation version 1 (agent run spans)"),
    Key("events", "pydantic-ai instrumentation version 1 (model request spans, event_mode='attributes')"),
)

# Values the client JSON-encodes, decoded (threadline.ingest.content): a decorated call's arguments
# {"args": [...], "kwargs": {...}} show as its one argument, a JSON string as its text.
ENCODED_INPUT: tuple[Key, ...] = (
    Key("traceloop.entity.input", "OpenLLMetry decorators (@workflow, @task, @agent, @tool: the call's arguments)"),
)
ENCODED_OUTPUT: tuple[Key, ...] = (
    Key("traceloop.entity.output", "OpenLLMetry decorators (the call's return value, JSON)"),
)

# GenAI message events (OpenTelemetry GenAI semantic conventions before 1.37, as span events): user/system/tool
# messages are input, choices output; gen_ai.assistant.message (an earlier assistant turn sent as history) is the
# output only of a span without choices. Each event's content is plain text or JSON holding messages.
INPUT_EVENTS: tuple[str, ...] = ("gen_ai.user.message", "gen_ai.system.message", "gen_ai.tool.message",
                                 "gen_ai.content.prompt")
OUTPUT_EVENTS: tuple[str, ...] = ("gen_ai.choice", "gen_ai.assistant.message", "gen_ai.content.completion")
ASSISTANT_MESSAGE_EVENT = "gen_ai.assistant.message"
EVENT_CONTENT: tuple[str, ...] = ("content", "gen_ai.prompt", "gen_ai.completion", "message")
# The role of each event's message when its content does not say (an event's own "role" attribute wins).
EVENT_ROLES: dict[str, str] = {
    "gen_ai.user.message": "user", "gen_ai.system.message": "system", "gen_ai.tool.message": "tool",
    "gen_ai.content.prompt": "user", "gen_ai.choice": "assistant", "gen_ai.assistant.message": "assistant",
    "gen_ai.content.completion": "assistant",
}
# GenAI semantic conventions 1.37+: one event per inference carrying the messages as attributes (JSON).
OPERATION_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
OPERATION_DETAILS_INPUT = Key("gen_ai.input.messages", "OpenTelemetry GenAI 1.37+ operation details event")
OPERATION_DETAILS_OUTPUT = Key("gen_ai.output.messages", "OpenTelemetry GenAI 1.37+ operation details event")

COST: tuple[Key, ...] = (
    Key("gen_ai.usage.cost", "GenAI instrumentations reporting cost in USD"),
    Key("llm.cost.total", "OpenInference cost attributes (USD)"),
)

# A trace's own reported totals (DESIGN.md: the rollup takes GREATEST(reported, sum over spans)).
TRACE_TOTAL_COST: tuple[Key, ...] = (Key("threadline.trace.total_cost_usd", "Threadline convention"),)
TRACE_TOTAL_TOKENS: tuple[Key, ...] = (Key("threadline.trace.total_tokens", "Threadline convention"),)

# A trace's (turn's) name, when the client names it apart from its root span.
TRACE_NAME: tuple[Key, ...] = (
    Key("traceloop.workflow.name", "OpenLLMetry (Traceloop): the @workflow name, on every span inside it"),
    Key("ai.telemetry.functionId", "Vercel AI SDK telemetry (experimental_telemetry.functionId)"),
    Key("langfuse.trace.name", "Langfuse OpenTelemetry attributes (propagate_attributes / update_current_trace)"),
)

SPAN_TYPE: tuple[Key, ...] = (
    Key("threadline.span.type", "Threadline SDK and native ingest"),
    Key("openinference.span.kind", "OpenInference semantic conventions (LLM, TOOL, RETRIEVER, AGENT, CHAIN...)"),
    Key("gen_ai.operation.name", "OpenTelemetry GenAI semantic conventions (chat, execute_tool, embeddings...)"),
    Key("traceloop.span.kind", "OpenLLMetry (workflow, task, agent, tool)"),
    Key("llm.request.type", "OpenLLMetry before GenAI 1.37 (chat, completion, embedding, rerank)"),
    Key("langfuse.observation.type", "Langfuse OpenTelemetry attributes"),
    Key("ai.operationId", "Vercel AI SDK telemetry (ai.generateText, ai.generateText.doGenerate, ai.toolCall...)"),
    Key("agentops.span.kind", "AgentOps SDK (session, agent, task, operation, workflow, tool, llm, guardrail...)"),
)

METADATA: tuple[Key, ...] = (Key("metadata", "OpenInference: JSON object string"),)
TAGS: tuple[Key, ...] = (
    Key("tag.tags", "OpenInference: JSON list string"),
    Key("langfuse.trace.tags", "Langfuse OpenTelemetry attributes (a string array)"),
    Key("agentops.tags", "AgentOps SDK (the session span: tags of init / start_trace, a string array)"),
)

# Normalised span types, from the values the conventions above use.
SPAN_TYPE_VALUES: dict[str, str] = {
    "llm": "llm", "generation": "llm", "chat": "llm", "text_completion": "llm", "generate_content": "llm",
    "completion": "llm",
    "tool": "tool", "execute_tool": "tool",
    "retriever": "retriever", "retrieval": "retriever",
    "embedding": "embedding", "embeddings": "embedding",
    "agent": "agent", "invoke_agent": "agent", "create_agent": "agent",
    "chain": "chain", "workflow": "chain", "task": "chain",
    "reranker": "reranker", "rerank": "reranker", "guardrail": "guardrail", "evaluator": "evaluator",
    "prompt": "chain",  # OpenInference PROMPT spans (a prompt template rendered)
    "span": "span", "event": "span",
    # Vercel AI SDK ``ai.operationId`` values (lowercased). The outer call spans (ai.generateText...) repeat the usage
    # of their provider-call children (ai.generateText.doGenerate...), so they are chains: only llm and embedding
    # spans are summed (rollups.py), and an outer span typed llm would count every token twice.
    "ai.generatetext": "chain", "ai.streamtext": "chain", "ai.generateobject": "chain", "ai.streamobject": "chain",
    "ai.embed": "chain", "ai.embedmany": "chain",
    "ai.generatetext.dogenerate": "llm", "ai.streamtext.dostream": "llm", "ai.generateobject.dogenerate": "llm",
    "ai.streamobject.dostream": "llm",
    "ai.embed.doembed": "embedding", "ai.embedmany.doembed": "embedding",
    "ai.toolcall": "tool",
    # AgentOps ``agentops.span.kind`` values besides the shared ones: a session span is the root of its run, an
    # operation a step of it (``@operation`` is ``@task``).
    "session": "chain", "operation": "chain",
}

# Time to first token of a streamed LLM call (read at query time, for session stats and metrics): a span attribute in
# seconds, else the time of a first-token span event minus the span's start.
TIME_TO_FIRST_TOKEN_S: tuple[Key, ...] = (
    Key("gen_ai.server.time_to_first_token", "OpenTelemetry GenAI semantic conventions (metric name, seconds)"),
)
FIRST_TOKEN_EVENTS: tuple[str, ...] = ("gen_ai.content.first_token", "first_token")

# Vercel AI SDK telemetry (https://ai-sdk.dev/docs/ai-sdk-core/telemetry, "Collected data"; shapes checked against
# what `ai` 5.0 emits). Its content attributes hold JSON, read by threadline.ingest.vercel_ai only when present:
# the prompt of an outer call span, ``{"system": ..., "prompt": "..."}`` or ``{"system": ..., "messages": [...]}``;
AI_PROMPT = Key("ai.prompt", "Vercel AI SDK telemetry (ai.generateText, ai.streamText... spans)")
# the messages sent to the provider (ai.generateText.doGenerate... spans), a JSON list with content as parts;
AI_PROMPT_MESSAGES = Key("ai.prompt.messages", "Vercel AI SDK telemetry (doGenerate, doStream spans)")
# the tool calls of an answer without text, ``[{"toolCallId", "toolName", "input"}]`` (``args`` before ai 5).
AI_RESPONSE_TOOL_CALLS = Key("ai.response.toolCalls", "Vercel AI SDK telemetry (generateText, streamText spans)")
# Every Vercel AI SDK span carries its operation id: the cheap test for "this span is the SDK's".
AI_OPERATION_ID = Key("ai.operationId", "Vercel AI SDK telemetry (every span)")
# experimental_telemetry.metadata.K arrives as ai.telemetry.metadata.K; sessionId and userId are read by SESSION_ID
# and USER_ID, every other K becomes metadata.
AI_METADATA_PREFIX = Key("ai.telemetry.metadata.", "Vercel AI SDK telemetry (experimental_telemetry.metadata)")

# Langfuse SDK (v3+, OpenTelemetry based): attribute names of `langfuse/_client/attributes.py` in the `langfuse`
# package, read the way Langfuse's own server reads them (langfuse/langfuse, packages/shared/src/server/otel). The SDK
# JSON-encodes every value that is not a string (v5 encodes metadata strings too); threadline.ingest.langfuse decodes
# them. Input/output: a trace-level value (SDK 3-4 update_current_trace) before the observation's.
LANGFUSE_INPUT: tuple[Key, ...] = (
    Key("langfuse.trace.input", "Langfuse SDK 3-4 (update_current_trace(input=...))"),
    Key("langfuse.observation.input", "Langfuse OpenTelemetry attributes (every observation)"),
)
LANGFUSE_OUTPUT: tuple[Key, ...] = (
    Key("langfuse.trace.output", "Langfuse SDK 3-4 (update_current_trace(output=...))"),
    Key("langfuse.observation.output", "Langfuse OpenTelemetry attributes (every observation)"),
)
# Token counts, JSON {"input": n, "output": n, "total": n, ...}; OpenAI-style names are accepted too (Langfuse does).
LANGFUSE_USAGE_DETAILS = Key("langfuse.observation.usage_details", "Langfuse OpenTelemetry attributes (generations)")
LANGFUSE_USAGE_INPUT: tuple[str, ...] = ("input", "prompt_tokens", "input_tokens")
LANGFUSE_USAGE_OUTPUT: tuple[str, ...] = ("output", "completion_tokens", "output_tokens")
LANGFUSE_USAGE_TOTAL: tuple[str, ...] = ("total", "total_tokens")
# Cost in USD, JSON {"input": x, "output": y, "total": z}; without "total", the sum of the entries (as Langfuse).
LANGFUSE_COST_DETAILS = Key("langfuse.observation.cost_details", "Langfuse OpenTelemetry attributes (generations)")
LANGFUSE_COST_TOTAL = "total"
# Metadata: one attribute per key under these prefixes (or one JSON object at the prefix itself); trace metadata wins
# over the observation's for the same key.
LANGFUSE_METADATA: tuple[Key, ...] = (
    Key("langfuse.trace.metadata", "Langfuse OpenTelemetry attributes (propagate_attributes(metadata=...))"),
    Key("langfuse.observation.metadata", "Langfuse OpenTelemetry attributes (an observation's metadata)"),
)
# First-class Langfuse fields Threadline keeps as metadata entries (metadata key -> attribute).
LANGFUSE_METADATA_FIELDS: dict[str, Key] = {
    "environment": Key("langfuse.environment", "Langfuse OpenTelemetry attributes (LANGFUSE_TRACING_ENVIRONMENT)"),
    "release": Key("langfuse.release", "Langfuse OpenTelemetry attributes (LANGFUSE_RELEASE)"),
    "version": Key("langfuse.version", "Langfuse OpenTelemetry attributes (an observation's version)"),
}
# An observation's level (DEBUG, DEFAULT, WARNING, ERROR): ERROR marks the span as an error, as Langfuse counts it.
LANGFUSE_LEVEL = Key("langfuse.observation.level", "Langfuse OpenTelemetry attributes")
LANGFUSE_STATUS_MESSAGE = Key("langfuse.observation.status_message", "Langfuse OpenTelemetry attributes")
ERROR_LEVELS: frozenset[str] = frozenset({"ERROR"})

# AgentOps SDK (agentops 0.4.x; agentops/semconv). Its decorators record a call's arguments as
# agentops.<kind>.input = {"args": [...], "kwargs": {...}} and its result as agentops.<kind>.output (kinds of
# agentops/semconv/span_kinds.py; "entity" when the decorator names none); read by threadline.ingest.agentops.
_AGENTOPS_KINDS = ("entity", "session", "workflow", "agent", "task", "operation", "tool", "guardrail")
AGENTOPS_INPUT: tuple[Key, ...] = (
    *(Key(f"agentops.{kind}.input", "AgentOps SDK decorators (a call's arguments, JSON)") for kind in _AGENTOPS_KINDS),
    Key("tool.parameters", "AgentOps semantic conventions (ToolAttributes: a tool call's parameters)"),
)
AGENTOPS_OUTPUT: tuple[Key, ...] = (
    *(Key(f"agentops.{kind}.output", "AgentOps SDK decorators (a call's result)") for kind in _AGENTOPS_KINDS),
    Key("tool.result", "AgentOps semantic conventions (ToolAttributes: a tool call's result)"),
)
# The resource attribute AgentOps sets on every span it exports: the AgentOps keys above are read only on such spans.
AGENTOPS_RESOURCE = Key("agentops.project.id", "AgentOps SDK (resource attribute of every exported span)")
# A trace exported by these clients is a session of its own when none of its spans names a session id: AgentOps shows
# each trace (agentops.init's auto-started trace, or start_trace ... end_trace) as one session, so its session id is
# the trace id. Resource attributes.
TRACE_IS_SESSION: tuple[Key, ...] = (AGENTOPS_RESOURCE,)
