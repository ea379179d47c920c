"""How a turn ends."""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import frozen

from lash_core.model._record import Record
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


@frozen(repr=False)
class AssistantMessage(Record):
    """The model answered in prose."""

    TAG: ClassVar[str] = "assistant_message"
    text: str


@frozen(repr=False)
class FinalValue(Record):
    """The protocol produced a typed final value."""

    TAG: ClassVar[str] = "final_value"
    value: Any


@frozen(repr=False)
class ToolValueFinish(Record):
    """A tool's finish control ended the turn with its value."""

    TAG: ClassVar[str] = "tool_value"
    tool_name: str
    value: Any


TurnFinish = AssistantMessage | FinalValue | ToolValueFinish


@frozen(repr=False)
class Cancelled(Record):
    """The turn was cancelled."""

    TAG: ClassVar[str] = "cancelled"


@frozen(repr=False)
class Incomplete(Record):
    """The model hit its output limit."""

    TAG: ClassVar[str] = "incomplete"


@frozen(repr=False)
class InvalidInput(Record):
    """The turn input was invalid."""

    TAG: ClassVar[str] = "invalid_input"


@frozen(repr=False)
class MaxTurns(Record):
    """The protocol reached ``max_turns`` iterations without a final answer."""

    TAG: ClassVar[str] = "max_turns"


@frozen(repr=False)
class ToolFailureStop(Record):
    """A tool failure blocked the turn."""

    TAG: ClassVar[str] = "tool_failure"


@frozen(repr=False)
class ProviderErrorStop(Record):
    """The model provider failed (overflow, content filter, transport...)."""

    TAG: ClassVar[str] = "provider_error"


@frozen(repr=False)
class PluginAbort(Record):
    """A plugin aborted the turn."""

    TAG: ClassVar[str] = "plugin_abort"
    plugin: str | None = None
    code: str | None = None
    message: str | None = None


@frozen(repr=False)
class RuntimeErrorStop(Record):
    """The runtime itself failed during the turn."""

    TAG: ClassVar[str] = "runtime_error"


@frozen(repr=False)
class SubmittedError(Record):
    """The protocol submitted an error value."""

    TAG: ClassVar[str] = "submitted_error"
    value: Any


@frozen(repr=False)
class ToolErrorStop(Record):
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


@frozen(repr=False)
class Finished(Record):
    """The turn finished."""

    TAG: ClassVar[str] = "finished"
    finish: TurnFinish


@frozen(repr=False)
class AgentFrameSwitch(Record):
    """The turn continues in a new agent frame; followed automatically by the runtime."""

    TAG: ClassVar[str] = "agent_frame_switch"
    frame_id: str
    task: str | None = None
    initial_messages: tuple[Message, ...] = ()


@frozen(repr=False)
class Stopped(Record):
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
