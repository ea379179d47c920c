"""Turn activity: the app-facing stream of what happens during a turn.

Each :class:`TurnActivity` wraps one :data:`TurnEvent`. Activities that share a
``correlation_id`` belong to the same logical UI row (the deltas of one prose block,
the start and completion of one tool call). The stream is a preview; the committed
history is the transcript.
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import frozen

from lash_core.model._record import Record
from lash_core.model.messages import Message
from lash_core.model.tools import ToolCallOutput
from lash_core.model.usage import TokenUsage

__all__ = [
    "AssistantProseDelta",
    "ChildUsage",
    "CodeBlockCompleted",
    "CodeBlockStarted",
    "ErrorEvent",
    "FinalValueEvent",
    "ModelAttemptReset",
    "ModelRequestStarted",
    "PluginCustomEvent",
    "PluginRuntime",
    "PluginRuntimeEvent",
    "PluginStatusEvent",
    "QueuedInputAccepted",
    "QueuedMessagesCommitted",
    "QueuedWorkStarted",
    "ReasoningDelta",
    "RetryStatus",
    "ToolCallCompleted",
    "ToolCallStarted",
    "ToolValueEvent",
    "TurnActivity",
    "TurnEvent",
    "UsageEvent",
]


@frozen(repr=False)
class PluginStatusEvent(Record):
    """A plugin's status line (shown and replaced by key)."""

    TAG: ClassVar[str] = "status"
    key: str
    label: str
    detail: str | None = None


@frozen(repr=False)
class PluginCustomEvent(Record):
    """A plugin-defined event with a JSON payload."""

    TAG: ClassVar[str] = "custom"
    name: str
    payload: Any = None


PluginRuntimeEvent = PluginStatusEvent | PluginCustomEvent


@frozen(repr=False)
class QueuedWorkStarted(Record):
    """Queued work started the turn or was delivered at a checkpoint."""

    TAG: ClassVar[str] = "queued_work_started"
    boundary: str
    batch_ids: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()


@frozen(repr=False)
class ModelRequestStarted(Record):
    """A model call started."""

    TAG: ClassVar[str] = "model_request_started"
    protocol_iteration: int


@frozen(repr=False)
class AssistantProseDelta(Record):
    """A piece of streamed assistant prose."""

    TAG: ClassVar[str] = "assistant_prose_delta"
    text: str


@frozen(repr=False)
class ReasoningDelta(Record):
    """A piece of streamed reasoning."""

    TAG: ClassVar[str] = "reasoning_delta"
    text: str


@frozen(repr=False)
class ModelAttemptReset(Record):
    """A model call is being retried: retract the prose and reasoning rows with these ids."""

    TAG: ClassVar[str] = "model_attempt_reset"
    assistant_prose_correlation_ids: tuple[str, ...] = ()
    reasoning_correlation_ids: tuple[str, ...] = ()


@frozen(repr=False)
class CodeBlockStarted(Record):
    """A code-executing protocol started a block."""

    TAG: ClassVar[str] = "code_block_started"
    language: str
    code: str
    graph_key: str | None = None


@frozen(repr=False)
class CodeBlockCompleted(Record):
    """A code block finished."""

    TAG: ClassVar[str] = "code_block_completed"
    language: str
    output: str
    success: bool
    duration_ms: int
    error: str | None = None
    tool_call_ids: tuple[str, ...] = ()
    graph_key: str | None = None


@frozen(repr=False)
class ToolCallStarted(Record):
    """A tool call started."""

    TAG: ClassVar[str] = "tool_call_started"
    call_id: str | None
    name: str
    args: Any = None
    graph_key: str | None = None
    parent_call_id: str | None = None


@frozen(repr=False)
class ToolCallCompleted(Record):
    """A tool call finished."""

    TAG: ClassVar[str] = "tool_call_completed"
    call_id: str | None
    name: str
    args: Any
    output: ToolCallOutput
    duration_ms: int
    graph_key: str | None = None
    parent_call_id: str | None = None


@frozen(repr=False)
class FinalValueEvent(Record):
    """The turn finished with a typed final value."""

    TAG: ClassVar[str] = "final_value"
    value: Any


@frozen(repr=False)
class ToolValueEvent(Record):
    """The turn finished with a tool's value."""

    TAG: ClassVar[str] = "tool_value"
    tool_name: str
    value: Any


@frozen(repr=False)
class UsageEvent(Record):
    """Usage of one model call, and the turn's cumulative usage."""

    TAG: ClassVar[str] = "usage"
    protocol_iteration: int
    usage: TokenUsage
    cumulative: TokenUsage


@frozen(repr=False)
class ChildUsage(Record):
    """Usage recorded under a child source (a hook's direct completion, a subagent...)."""

    TAG: ClassVar[str] = "child_usage"
    session_id: str
    source: str
    model: str
    protocol_iteration: int
    usage: TokenUsage
    cumulative: TokenUsage


@frozen(repr=False)
class RetryStatus(Record):
    """The provider is waiting before an attempt of a model call: a retry of a failed attempt,
    or, when ``reason`` starts with ``lash_core.providers.RATE_LIMIT_WAIT``, admission by the
    provider's own rate limit (``wait_seconds`` 0: waiting for a concurrency slot)."""

    TAG: ClassVar[str] = "retry_status"
    wait_seconds: float
    attempt: int
    max_attempts: int
    reason: str


@frozen(repr=False)
class PluginRuntime(Record):
    """An event emitted by a plugin."""

    TAG: ClassVar[str] = "plugin_runtime"
    plugin_id: str
    event: PluginRuntimeEvent


@frozen(repr=False)
class QueuedInputAccepted(Record):
    """Input submitted during the turn was accepted at a checkpoint."""

    TAG: ClassVar[str] = "queued_input_accepted"
    checkpoint: str
    inputs: tuple[str, ...] = ()


@frozen(repr=False)
class QueuedMessagesCommitted(Record):
    """Messages were injected into the turn at a checkpoint."""

    TAG: ClassVar[str] = "queued_messages_committed"
    checkpoint: str
    messages: tuple[Message, ...] = ()


@frozen(repr=False)
class ErrorEvent(Record):
    """An error the turn reports (it may still finish)."""

    TAG: ClassVar[str] = "error"
    message: str
    code: str | None = None


TurnEvent = (
    QueuedWorkStarted
    | ModelRequestStarted
    | AssistantProseDelta
    | ReasoningDelta
    | ModelAttemptReset
    | CodeBlockStarted
    | CodeBlockCompleted
    | ToolCallStarted
    | ToolCallCompleted
    | FinalValueEvent
    | ToolValueEvent
    | UsageEvent
    | ChildUsage
    | RetryStatus
    | PluginRuntime
    | QueuedInputAccepted
    | QueuedMessagesCommitted
    | ErrorEvent
)


@frozen(repr=False)
class TurnActivity(Record):
    """One event of a turn's activity stream."""

    id: str
    correlation_id: str
    event: TurnEvent
