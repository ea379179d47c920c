"""What plugin hooks receive and return: context objects and directives."""

from lash_core.hooks.context import (
    CheckpointHookContext,
    PromptContext,
    SessionHookContext,
    ToolHookContext,
    ToolResultHookContext,
    TurnHookContext,
    TurnSummary,
)
from lash_core.hooks.directives import (
    AbortTurn,
    Directive,
    EmitEvent,
    EnqueueMessages,
    ReplaceToolArgs,
    ReplaceToolResult,
    ShortCircuitTool,
    SwitchAgentFrame,
)
from lash_hookspecs import hookimpl

__all__ = [
    "AbortTurn",
    "CheckpointHookContext",
    "Directive",
    "EmitEvent",
    "EnqueueMessages",
    "PromptContext",
    "ReplaceToolArgs",
    "ReplaceToolResult",
    "SessionHookContext",
    "ShortCircuitTool",
    "SwitchAgentFrame",
    "ToolHookContext",
    "ToolResultHookContext",
    "TurnHookContext",
    "TurnSummary",
    "hookimpl",
]
