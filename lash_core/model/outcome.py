"""How a turn ends."""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import frozen

from lash_core.model.messages import Message

__all__ = [
    "AgentFrameSwitch",
    "AssistantMessage",
    "Cancelled",
    "FinalValue",
    "Finished",
    "Incomplete",
    "InvalidInput",
    "MaxTurns",
    "PluginAbort",
    "ProviderErrorStop",
    "RuntimeErrorStop",
    "Stopped",
    "SubmittedError",
    "ToolErrorStop",
    "ToolFailureStop",
    "ToolValueFinish",
    "TurnFinish",
    "TurnOutcome",
    "TurnStop",
]


@frozen
class AssistantMessage:
    """The model answered in prose."""

    TAG: ClassVar[str] = "assistant_message"
    text: str


@frozen
class FinalValue:
    """The protocol produced a typed final value."""

    TAG: ClassVar[str] = "final_value"
    value: Any


@frozen
class ToolValueFinish:
    """A tool's finish control ended the turn with its value."""

    TAG: ClassVar[str] = "tool_value"
    tool_name: str
    value: Any


TurnFinish = AssistantMessage | FinalValue | ToolValueFinish


@frozen
class Cancelled:
    """The turn was cancelled."""

    TAG: ClassVar[str] = "cancelled"


@frozen
class Incomplete:
    """The model hit its output limit."""

    TAG: ClassVar[str] = "incomplete"


@frozen
class InvalidInput:
    """The turn input was invalid."""

    TAG: ClassVar[str] = "invalid_input"


@frozen
class MaxTurns:
    """The protocol reached ``max_turns`` iterations without a final answer."""

    TAG: ClassVar[str] = "max_turns"


@frozen
class ToolFailureStop:
    """A tool failure blocked the turn."""

    TAG: ClassVar[str] = "tool_failure"


@frozen
class ProviderErrorStop:
    """The model provider failed (overflow, content filter, transport...)."""

    TAG: ClassVar[str] = "provider_error"


@frozen
class PluginAbort:
    """A plugin aborted the turn."""

    TAG: ClassVar[str] = "plugin_abort"
    plugin: str | None = None
    code: str | None = None
    message: str | None = None


@frozen
class RuntimeErrorStop:
    """The runtime itself failed during the turn."""

    TAG: ClassVar[str] = "runtime_error"


@frozen
class SubmittedError:
    """The protocol submitted an error value."""

    TAG: ClassVar[str] = "submitted_error"
    value: Any


@frozen
class ToolErrorStop:
    """A tool's fail control ended the turn."""

    TAG: ClassVar[str] = "tool_error"
    tool_name: str
    value: Any


TurnStop = (
    Cancelled
    | Incomplete
    | InvalidInput
    | MaxTurns
    | ToolFailureStop
    | ProviderErrorStop
    | PluginAbort
    | RuntimeErrorStop
    | SubmittedError
    | ToolErrorStop
)


@frozen
class Finished:
    """The turn finished."""

    TAG: ClassVar[str] = "finished"
    finish: TurnFinish


@frozen
class AgentFrameSwitch:
    """The turn continues in a new agent frame; followed automatically by the runtime."""

    TAG: ClassVar[str] = "agent_frame_switch"
    frame_id: str
    task: str | None = None
    initial_messages: tuple[Message, ...] = ()


@frozen
class Stopped:
    """The turn stopped before finishing."""

    TAG: ClassVar[str] = "stopped"
    stop: TurnStop


TurnOutcome = Finished | AgentFrameSwitch | Stopped


def outcome_status(outcome: TurnOutcome) -> tuple[str, str]:
    """Trace status and done reason of an outcome: ``completed`` or ``failed`` plus the variant tag."""
    if isinstance(outcome, Finished):
        return "completed", outcome.finish.TAG
    if isinstance(outcome, AgentFrameSwitch):
        return "completed", outcome.TAG
    return "failed", outcome.stop.TAG
