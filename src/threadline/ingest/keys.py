"""Attribute keys Threadline reads, as data: for each field, the keys in precedence order and where each comes from.

Per span the first key present wins; span attributes are tried before resource attributes (DESIGN.md,
"Session id extraction"). Change precedence here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    """One attribute key and the convention that defines it."""

    name: str
    source: str


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
    Key("agentops.session.end_state", "AgentOps"),
)

INPUT_TOKENS: tuple[Key, ...] = (
    Key("gen_ai.usage.input_tokens", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.token_count.prompt", "OpenInference semantic conventions"),
    Key("gen_ai.usage.prompt_tokens", "OpenTelemetry GenAI semantic conventions (before 1.27) / OpenLLMetry"),
)

OUTPUT_TOKENS: tuple[Key, ...] = (
    Key("gen_ai.usage.output_tokens", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.token_count.completion", "OpenInference semantic conventions"),
    Key("gen_ai.usage.completion_tokens", "OpenTelemetry GenAI semantic conventions (before 1.27) / OpenLLMetry"),
)

TOTAL_TOKENS: tuple[Key, ...] = (
    Key("llm.token_count.total", "OpenInference semantic conventions"),
    Key("gen_ai.usage.total_tokens", "OpenLLMetry"),
    Key("llm.usage.total_tokens", "OpenLLMetry"),
)

MODEL: tuple[Key, ...] = (
    Key("gen_ai.response.model", "OpenTelemetry GenAI semantic conventions"),
    Key("gen_ai.request.model", "OpenTelemetry GenAI semantic conventions"),
    Key("llm.model_name", "OpenInference semantic conventions"),
)

INPUT: tuple[Key, ...] = (
    Key("input.value", "OpenInference semantic conventions"),
    Key("gen_ai.prompt", "OpenTelemetry GenAI semantic conventions (span attribute form)"),
    Key("gen_ai.input.messages", "OpenTelemetry GenAI semantic conventions (1.37+)"),
    Key("gen_ai.prompt.0.content", "OpenLLMetry indexed prompts"),
    Key("langfuse.observation.input", "Langfuse OpenTelemetry attributes"),
)

OUTPUT: tuple[Key, ...] = (
    Key("output.value", "OpenInference semantic conventions"),
    Key("gen_ai.completion", "OpenTelemetry GenAI semantic conventions (span attribute form)"),
    Key("gen_ai.output.messages", "OpenTelemetry GenAI semantic conventions (1.37+)"),
    Key("gen_ai.completion.0.content", "OpenLLMetry indexed completions"),
    Key("langfuse.observation.output", "Langfuse OpenTelemetry attributes"),
)

# GenAI message events (OpenTelemetry GenAI semantic conventions): user/system messages are input, choices output.
INPUT_EVENTS: tuple[str, ...] = ("gen_ai.user.message", "gen_ai.system.message", "gen_ai.content.prompt")
OUTPUT_EVENTS: tuple[str, ...] = ("gen_ai.choice", "gen_ai.assistant.message", "gen_ai.content.completion")
EVENT_CONTENT: tuple[str, ...] = ("content", "gen_ai.prompt", "gen_ai.completion", "message")

COST: tuple[Key, ...] = (
    Key("gen_ai.usage.cost", "GenAI instrumentations reporting cost in USD"),
    Key("llm.cost.total", "OpenInference cost attributes (USD)"),
)

# A trace's own reported totals (DESIGN.md: the rollup takes GREATEST(reported, sum over spans)).
TRACE_TOTAL_COST: tuple[Key, ...] = (Key("threadline.trace.total_cost_usd", "Threadline convention"),)
TRACE_TOTAL_TOKENS: tuple[Key, ...] = (Key("threadline.trace.total_tokens", "Threadline convention"),)

SPAN_TYPE: tuple[Key, ...] = (
    Key("threadline.span.type", "Threadline SDK and native ingest"),
    Key("openinference.span.kind", "OpenInference semantic conventions (LLM, TOOL, RETRIEVER, AGENT, CHAIN...)"),
    Key("gen_ai.operation.name", "OpenTelemetry GenAI semantic conventions (chat, execute_tool, embeddings...)"),
    Key("traceloop.span.kind", "OpenLLMetry (workflow, task, agent, tool)"),
    Key("langfuse.observation.type", "Langfuse OpenTelemetry attributes"),
)

METADATA: tuple[Key, ...] = (Key("metadata", "OpenInference: JSON object string"),)
TAGS: tuple[Key, ...] = (Key("tag.tags", "OpenInference: JSON list string"),)

# Normalised span types, from the values the conventions above use.
SPAN_TYPE_VALUES: dict[str, str] = {
    "llm": "llm", "generation": "llm", "chat": "llm", "text_completion": "llm", "generate_content": "llm",
    "completion": "llm",
    "tool": "tool", "execute_tool": "tool",
    "retriever": "retriever", "retrieval": "retriever",
    "embedding": "embedding", "embeddings": "embedding",
    "agent": "agent", "invoke_agent": "agent", "create_agent": "agent",
    "chain": "chain", "workflow": "chain", "task": "chain",
    "reranker": "reranker", "guardrail": "guardrail", "evaluator": "evaluator",
    "span": "span", "event": "span",
}

# Time to first token of a streamed LLM call (read at query time, for session stats and metrics): a span attribute in
# seconds, else the time of a first-token span event minus the span's start.
TIME_TO_FIRST_TOKEN_S: tuple[Key, ...] = (
    Key("gen_ai.server.time_to_first_token", "OpenTelemetry GenAI semantic conventions (metric name, seconds)"),
)
FIRST_TOKEN_EVENTS: tuple[str, ...] = ("gen_ai.content.first_token", "first_token")
