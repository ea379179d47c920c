"""What a host gives a turn: input items, attachments and the per-turn context."""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import field, frozen

from lash_core.model._record import Record
from lash_core.model.messages import AttachmentRef
from lash_core.model.output_spec import OutputSpec

__all__ = [
    "AttachmentItem",
    "AttachmentSource",
    "InlineAttachment",
    "InputItem",
    "PromptContribution",
    "PromptLayer",
    "StoredAttachment",
    "TextItem",
    "TurnContext",
    "TurnInput",
]


@frozen(repr=False)
class InlineAttachment(Record):
    """Attachment bytes given inline; stored content-addressed before the turn uses them."""

    TAG: ClassVar[str] = "inline"
    data: bytes
    media_type: str
    name: str | None = None


@frozen(repr=False)
class StoredAttachment(Record):
    """An attachment already held by the session's attachment store."""

    TAG: ClassVar[str] = "stored"
    ref: AttachmentRef


AttachmentSource = InlineAttachment | StoredAttachment


@frozen(repr=False)
class TextItem(Record):
    """Plain text input."""

    TAG: ClassVar[str] = "text"
    text: str


@frozen(repr=False)
class AttachmentItem(Record):
    """An image or file attachment."""

    TAG: ClassVar[str] = "attachment"
    source: AttachmentSource


InputItem = TextItem | AttachmentItem


@frozen(repr=False)
class PromptContribution(Record):
    """A piece of system prompt text placed in a named slot, ordered by priority.

    When ``tools`` is non-empty the contribution is dropped unless one of those tools is
    in the catalog.
    """

    slot: str
    content: str
    priority: int = 0
    tools: tuple[str, ...] = ()


@frozen(repr=False)
class PromptLayer(Record):
    """A layer of prompt configuration: template override, contributions, slot edits."""

    template: str | None = None
    contributions: tuple[PromptContribution, ...] = ()
    replace_slots: dict[str, str] = field(factory=dict)
    clear_slots: tuple[str, ...] = ()


@frozen(repr=False)
class TurnContext(Record):
    """Per-turn context. ``output_spec`` asks every model call of the turn for structured
    output (JSON, or JSON valid against a schema). ``plugin_inputs`` are live values keyed
    by plugin name: they are never serialized and are refused when the session has a
    durable store."""

    provider_override: str | None = None
    prompt: PromptLayer | None = None
    output_spec: OutputSpec | None = None
    plugin_inputs: dict[str, Any] = field(factory=dict, eq=False, metadata={"live": True})


@frozen(repr=False)
class TurnInput(Record):
    """The input of one turn.

    ``protocol_extension`` is a live object handed to the protocol for this turn only;
    like live plugin inputs it is never serialized and is refused with a durable store.
    """

    items: tuple[InputItem, ...] = ()
    protocol_turn_options: dict[str, Any] | None = None
    trace_turn_id: str | None = None
    context: TurnContext | None = None
    protocol_extension: Any = field(default=None, eq=False, metadata={"live": True})

    @classmethod
    def text(cls, text: str, **kwargs: Any) -> TurnInput:
        """A turn input holding one text item."""
        return cls(items=(TextItem(text),), **kwargs)
