"""The context objects turn-phase hooks receive."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import define, field

from lash_core.model import (
    AssistantOutput,
    Message,
    PromptContribution,
    SessionPolicy,
    TokenUsage,
    ToolCallOutput,
    ToolCallRecord,
    TurnInput,
    TurnIssue,
    TurnOutcome,
)

if TYPE_CHECKING:
    from lash_core.completions import DirectCompletions

__all__ = [
    "CheckpointHookContext",
    "PromptContext",
    "SessionHookContext",
    "ToolHookContext",
    "ToolResultHookContext",
    "TurnHookContext",
    "TurnSummary",
]


@define
class TurnHookContext:
    """A running turn, as hooks see it.

    ``history`` is the committed history of the current agent frame (before this turn);
    ``completions`` lets a hook call the session's model (journaled as an effect, usage
    recorded under the source the hook names).
    """

    session_id: str
    turn_id: str
    input: TurnInput
    history: tuple[Message, ...]
    policy: SessionPolicy
    completions: DirectCompletions
    last_prompt_usage: TokenUsage | None = None

    def plugin_input(self, plugin: str) -> Any:
        """The live input the host passed for ``plugin`` in the turn context, or ``None``."""
        context = self.input.context
        return context.plugin_inputs.get(plugin) if context is not None else None


@define
class PromptContext:
    """What the model will see this turn: the messages and extra prompt contributions."""

    messages: tuple[Message, ...]
    contributions: tuple[PromptContribution, ...] = ()


@define
class ToolHookContext:
    """A tool call about to run."""

    turn: TurnHookContext
    call_id: str
    tool_name: str
    args: dict[str, Any]


@define
class ToolResultHookContext:
    """A tool call that ran."""

    turn: TurnHookContext
    call_id: str
    tool_name: str
    args: dict[str, Any]
    output: ToolCallOutput
    duration_ms: int


@define
class CheckpointHookContext:
    """A checkpoint of a running turn: ``after_work`` or ``before_completion``."""

    turn: TurnHookContext
    kind: str
    messages: tuple[Message, ...]


@define
class TurnSummary:
    """A finished turn, before its commit."""

    outcome: TurnOutcome
    assistant_output: AssistantOutput
    token_usage: TokenUsage
    tool_calls: tuple[ToolCallRecord, ...] = ()
    errors: tuple[TurnIssue, ...] = ()


@define
class SessionHookContext:
    """A session, outside a running turn."""

    session_id: str
    history: tuple[Message, ...]
    policy: SessionPolicy
    completions: DirectCompletions | None = field(default=None)
