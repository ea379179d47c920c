"""Tool calls and their results: what a tool returns and what the turn records."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from attrs import frozen

from lash_core.model._record import Record

if TYPE_CHECKING:
    from lash_core.model.messages import Message

__all__ = [
    "CancelledOutcome",
    "FailureOutcome",
    "FailureSource",
    "FinishControl",
    "FailControl",
    "SwitchAgentFrameControl",
    "SuccessOutcome",
    "ToolCall",
    "ToolCallOutput",
    "ToolCallRecord",
    "ToolControl",
    "ToolFailure",
    "ToolFailureClass",
    "ToolOutcome",
    "ToolRetry",
    "ToolRetryExhausted",
    "ToolRetryNever",
    "ToolRetrySafe",
]


class ToolFailureClass(Enum):
    """What kind of failure a tool reported."""

    INVALID_REQUEST = "invalid_request"
    UNAVAILABLE = "unavailable"
    PERMISSION_DENIED = "permission_denied"
    TIMEOUT = "timeout"
    EXECUTION = "execution"
    EXTERNAL = "external"
    RESOURCE_LIMIT = "resource_limit"
    INTERNAL = "internal"


class FailureSource(Enum):
    """Who produced a tool failure."""

    RUNTIME = "runtime"
    TOOL = "tool"
    PLUGIN = "plugin"
    POLICY = "policy"
    CANCELLATION = "cancellation"


@frozen(repr=False)
class ToolRetryNever(Record):
    """The failed call must not be retried."""

    TAG: ClassVar[str] = "never"


@frozen(repr=False)
class ToolRetrySafe(Record):
    """The failed call may be retried, optionally after a delay."""

    TAG: ClassVar[str] = "safe"
    after_ms: int | None = None


@frozen(repr=False)
class ToolRetryExhausted(Record):
    """The call was retried and ran out of attempts."""

    TAG: ClassVar[str] = "exhausted"
    attempts: int


ToolRetry = ToolRetryNever | ToolRetrySafe | ToolRetryExhausted


@frozen(repr=False)
class ToolFailure(Record):
    """A tool failure the model sees as an error result. ``failure_class`` is ``class`` on the wire."""

    failure_class: ToolFailureClass
    code: str
    message: str
    source: FailureSource = FailureSource.TOOL
    retry: ToolRetry = ToolRetryNever()
    raw: str | None = None


@frozen(repr=False)
class SuccessOutcome(Record):
    """The tool succeeded with a JSON-like value."""

    TAG: ClassVar[str] = "success"
    value: Any = None


@frozen(repr=False)
class FailureOutcome(Record):
    """The tool failed."""

    TAG: ClassVar[str] = "failure"
    failure: ToolFailure


@frozen(repr=False)
class CancelledOutcome(Record):
    """The call was cancelled before it finished (synthetic for in-flight calls of a cancelled turn)."""

    TAG: ClassVar[str] = "cancelled"
    reason: str = "cancelled"


ToolOutcome = SuccessOutcome | FailureOutcome | CancelledOutcome


@frozen(repr=False)
class FinishControl(Record):
    """End the turn with ``Finished(ToolValue)``."""

    TAG: ClassVar[str] = "finish"
    value: Any = None


@frozen(repr=False)
class FailControl(Record):
    """End the turn with ``Stopped(ToolError)``."""

    TAG: ClassVar[str] = "fail"
    failure: ToolFailure


@frozen(repr=False)
class SwitchAgentFrameControl(Record):
    """Continue in a fresh agent frame seeded with ``initial_messages`` and ``task``."""

    TAG: ClassVar[str] = "switch_agent_frame"
    frame_id: str
    task: str | None = None
    initial_messages: tuple[Message, ...] = ()


ToolControl = FinishControl | FailControl | SwitchAgentFrameControl


@frozen(repr=False)
class ToolCallOutput(Record):
    """What a tool call produced, plus an optional control that ends the turn."""

    outcome: ToolOutcome
    control: ToolControl | None = None

    @property
    def is_success(self) -> bool:
        """True when the outcome is a success."""
        return isinstance(self.outcome, SuccessOutcome)


@frozen(repr=False)
class ToolCall(Record):
    """A call the model asked for. ``arguments`` is the raw JSON text as the model sent it."""

    call_id: str
    name: str
    arguments: str = "{}"


@frozen(repr=False)
class ToolCallRecord(Record):
    """A finished tool call, as the assembled turn reports it."""

    call_id: str
    tool: str
    args: Any
    output: ToolCallOutput
    duration_ms: int
