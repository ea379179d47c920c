"""What the runtime sends a model provider and what it gets back.

A provider receives an :class:`LlmRequest`, may report :data:`LlmStreamEvent` values as
they arrive, and returns an :class:`LlmResponse` or raises
:class:`~lash_core.errors.ProviderError` carrying a :class:`ProviderFailure`.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from attrs import field, frozen

from lash_core.model._record import Record
from lash_core.model.messages import Message
from lash_core.model.output_spec import OutputSpec
from lash_core.model.policy import ModelSpec
from lash_core.model.usage import TokenUsage

__all__ = [
    "LlmPart",
    "LlmReasoningPart",
    "LlmRequest",
    "LlmResponse",
    "LlmStreamEvent",
    "LlmTextPart",
    "LlmToolCallPart",
    "ProviderFailure",
    "ProviderFailureKind",
    "StreamAttemptReset",
    "StreamReasoningDelta",
    "StreamRetry",
    "StreamTextDelta",
    "StreamToolCallDelta",
    "StreamToolCallStart",
    "StreamUsage",
    "TerminalReason",
    "ToolChoice",
    "ToolSpec",
]


class TerminalReason(Enum):
    """Why the model stopped producing output."""

    STOP = "stop"
    TOOL_USE = "tool_use"
    OUTPUT_LIMIT = "output_limit"
    CONTEXT_OVERFLOW = "context_overflow"
    CONTENT_FILTER = "content_filter"
    PROVIDER_ERROR = "provider_error"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class ProviderFailureKind(Enum):
    """Classification of a failed model call."""

    AUTH = "auth"
    VALIDATION = "validation"
    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    CONTEXT_OVERFLOW = "context_overflow"
    CONTENT_FILTER = "content_filter"
    TRANSPORT = "transport"
    TIMEOUT = "timeout"
    STREAM = "stream"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


class ToolChoice(Enum):
    """Whether the model may, must or must not call tools."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"


@frozen(repr=False)
class ToolSpec(Record):
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    strict: bool = False


@frozen(repr=False)
class LlmRequest(Record):
    """One model call: system prompt, history, tools and generation options.

    ``output_spec`` asks for structured output (see :mod:`lash_core.model.output_spec`);
    a provider that cannot honour it fails before sending anything, never silently.
    ``attachment_data`` maps the attachment id of every attachment part in ``messages``
    to its bytes, loaded by the runtime from the session's store: a live field, never
    serialized (journals and fingerprints carry the ids only).
    """

    model: ModelSpec
    system_prompt: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = ToolChoice.AUTO
    max_output_tokens: int | None = None
    temperature: float | None = None
    reasoning_effort: str | None = None
    output_spec: OutputSpec | None = None
    session_id: str = ""
    request_id: str = ""
    attachment_data: dict[str, bytes] = field(factory=dict, eq=False, repr=False, metadata={"live": True})


@frozen(repr=False)
class LlmTextPart(Record):
    """Text the model produced. ``visible`` is false for text kept for replay but not part
    of the answer (OpenAI Responses ``commentary`` beside a ``final_answer``): it is left
    out of :attr:`LlmResponse.text` and never streamed or shown as prose."""

    TAG: ClassVar[str] = "text"
    text: str
    response_meta: Any = None
    visible: bool = True


@frozen(repr=False)
class LlmReasoningPart(Record):
    """Reasoning the model produced; ``replay`` is the provider's opaque replay state
    (encrypted content, signatures) sent back on later requests."""

    TAG: ClassVar[str] = "reasoning"
    text: str
    replay: Any = None


@frozen(repr=False)
class LlmToolCallPart(Record):
    """A tool call; ``arguments`` is the raw JSON text as the model produced it."""

    TAG: ClassVar[str] = "tool_call"
    call_id: str
    name: str
    arguments: str
    replay: Any = None


LlmPart = LlmTextPart | LlmReasoningPart | LlmToolCallPart


@frozen(repr=False)
class LlmResponse(Record):
    """The final result of one model call."""

    parts: tuple[LlmPart, ...] = ()
    usage: TokenUsage = field(factory=TokenUsage)
    terminal_reason: TerminalReason = TerminalReason.STOP
    model: str | None = None
    response_id: str | None = None
    provider_finish_reason: str | None = None
    terminal_diagnostic: str | None = None

    @property
    def text(self) -> str:
        """The answer: every visible text part, joined."""
        return "".join(p.text for p in self.parts if isinstance(p, LlmTextPart) and p.visible)

    @property
    def tool_calls(self) -> tuple[LlmToolCallPart, ...]:
        """The tool-call parts, in the model's order."""
        return tuple(p for p in self.parts if isinstance(p, LlmToolCallPart))


@frozen(repr=False)
class ProviderFailure(Record):
    """A classified provider failure. It never contains credentials."""

    kind: ProviderFailureKind
    message: str
    retryable: bool = False
    status: int | None = None
    code: str | None = None
    retry_after_seconds: float | None = None
    raw: str | None = None


@frozen(repr=False)
class StreamTextDelta(Record):
    """A piece of text."""

    TAG: ClassVar[str] = "text_delta"
    text: str


@frozen(repr=False)
class StreamReasoningDelta(Record):
    """A piece of reasoning text."""

    TAG: ClassVar[str] = "reasoning_delta"
    text: str


@frozen(repr=False)
class StreamToolCallStart(Record):
    """The model started a tool call."""

    TAG: ClassVar[str] = "tool_call_start"
    index: int
    call_id: str
    name: str


@frozen(repr=False)
class StreamToolCallDelta(Record):
    """A piece of a tool call's argument JSON."""

    TAG: ClassVar[str] = "tool_call_delta"
    index: int
    arguments: str


@frozen(repr=False)
class StreamUsage(Record):
    """Usage reported by the stream."""

    TAG: ClassVar[str] = "usage"
    usage: TokenUsage


@frozen(repr=False)
class StreamRetry(Record):
    """The provider will retry after a failure."""

    TAG: ClassVar[str] = "retry"
    wait_seconds: float
    attempt: int
    max_attempts: int
    reason: str


@frozen(repr=False)
class StreamAttemptReset(Record):
    """Discard everything streamed by the failed attempt."""

    TAG: ClassVar[str] = "attempt_reset"


LlmStreamEvent = (
    StreamTextDelta
    | StreamReasoningDelta
    | StreamToolCallStart
    | StreamToolCallDelta
    | StreamUsage
    | StreamRetry
    | StreamAttemptReset
)
