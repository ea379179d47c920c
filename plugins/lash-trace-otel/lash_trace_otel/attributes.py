"""Span and attribute names the ``otel`` trace sink writes.

The ``gen_ai.*`` names follow the OpenTelemetry GenAI semantic conventions; ``lash.*`` names
carry what the conventions have no name for. They are plain strings here (not imported from
``opentelemetry-semantic-conventions``, whose GenAI module is incubating and moves between
releases), so the attribute reference in the README is this file.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ERROR_TYPE",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_SYSTEM",
    "GEN_AI_TOOL_CALL_ID",
    "GEN_AI_TOOL_NAME",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "LASH_AGENT_FRAME_SWITCH",
    "LASH_CUSTOM_NAME",
    "LASH_DURATION_MS",
    "LASH_LLM_TERMINAL_REASON",
    "LASH_PROMPT_CHARS",
    "LASH_PROMPT_HASH",
    "LASH_PROMPT_MESSAGE_COUNT",
    "LASH_PROMPT_TOOL_COUNT",
    "LASH_PROVIDER_ID",
    "LASH_RECORD_ID",
    "LASH_SESSION_ID",
    "LASH_TOOL_OUTCOME",
    "LASH_TURN_DONE_REASON",
    "LASH_TURN_ID",
    "LASH_TURN_INPUT_ITEM_COUNT",
    "LASH_TURN_STATUS",
    "LASH_TURN_UNFINISHED",
    "LASH_USAGE_UNCACHED_INPUT_TOKENS",
    "OPERATION_CHAT",
    "OPERATION_EXECUTE_TOOL",
    "OPERATION_INVOKE_AGENT",
    "TURN_SPAN_NAME",
]

# Span names. Model and tool spans are named "<operation> <model|tool>" as the conventions ask.
TURN_SPAN_NAME: Final = "lash.turn"

# gen_ai.operation.name values.
OPERATION_CHAT: Final = "chat"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"

# GenAI semantic conventions.
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # the older name of gen_ai.provider.name, still read by many backends
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"  # includes cached input, per the conventions
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
ERROR_TYPE: Final = "error.type"

# lash's own.
LASH_SESSION_ID: Final = "lash.session.id"
LASH_TURN_ID: Final = "lash.turn.id"
LASH_RECORD_ID: Final = "lash.record.id"
LASH_DURATION_MS: Final = "lash.duration_ms"
LASH_TURN_STATUS: Final = "lash.turn.status"
LASH_TURN_DONE_REASON: Final = "lash.turn.done_reason"
LASH_TURN_INPUT_ITEM_COUNT: Final = "lash.turn.input_item_count"
LASH_TURN_UNFINISHED: Final = "lash.turn.unfinished"
LASH_AGENT_FRAME_SWITCH: Final = "lash.turn.agent_frame_switch"
LASH_PROVIDER_ID: Final = "lash.provider.id"
LASH_LLM_TERMINAL_REASON: Final = "lash.llm.terminal_reason"
LASH_USAGE_UNCACHED_INPUT_TOKENS: Final = "lash.usage.uncached_input_tokens"
LASH_TOOL_OUTCOME: Final = "lash.tool.outcome"
LASH_CUSTOM_NAME: Final = "lash.custom.name"
LASH_PROMPT_HASH: Final = "lash.prompt.hash"
LASH_PROMPT_CHARS: Final = "lash.prompt.chars"
LASH_PROMPT_TOOL_COUNT: Final = "lash.prompt.tool_count"
LASH_PROMPT_MESSAGE_COUNT: Final = "lash.prompt.message_count"
