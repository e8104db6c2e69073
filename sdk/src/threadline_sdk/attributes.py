"""Span attribute keys the SDK writes, each the first key Threadline reads for its field (server:
``threadline.ingest.keys``), so other OpenTelemetry backends understand them too.
"""

from __future__ import annotations

from typing import Final

# Sessions (OpenInference semantic conventions; OpenTelemetry session and user attributes).
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
PREVIOUS_SESSION_ID: Final = "session.previous_id"
METADATA: Final = "metadata"  # OpenInference: a JSON object, as a string
TAGS: Final = "tag.tags"  # OpenInference: a JSON list of strings, as a string
END_STATE: Final = "session.end_state"  # Threadline convention: success | failure | indeterminate
END_REASON: Final = "session.end_reason"  # Threadline convention: free text beside the end state

# Span type (OpenInference): LLM, TOOL, RETRIEVER, AGENT, CHAIN, EMBEDDING...
SPAN_KIND: Final = "openinference.span.kind"

# Input / output (OpenInference).
INPUT_VALUE: Final = "input.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_VALUE: Final = "output.value"
OUTPUT_MIME_TYPE: Final = "output.mime_type"

# LLM calls (OpenTelemetry GenAI semantic conventions).
GEN_AI_OPERATION: Final = "gen_ai.operation.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_COST: Final = "gen_ai.usage.cost"  # USD, as reported by the application
LLM_TOTAL_TOKENS: Final = "llm.token_count.total"  # OpenInference; GenAI has no total
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_NAME: Final = "tool.name"  # OpenInference

# ``observe(as_type=...)`` → OpenInference span kind and GenAI operation name.
SPAN_KINDS: Final[dict[str, str]] = {
    "span": "CHAIN",
    "generation": "LLM",
    "tool": "TOOL",
    "retriever": "RETRIEVER",
    "agent": "AGENT",
    "embedding": "EMBEDDING",
}
GEN_AI_OPERATIONS: Final[dict[str, str]] = {
    "generation": "chat",
    "tool": "execute_tool",
    "agent": "invoke_agent",
    "embedding": "embeddings",
}

END_STATES: Final = frozenset({"success", "failure", "indeterminate"})
