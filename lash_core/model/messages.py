"""Messages and parts: the durable conversation history."""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from attrs import frozen

from lash_core.model._record import Record
from lash_core.model.tools import ToolCallOutput

__all__ = [
    "AttachmentRef",
    "Cleared",
    "Deleted",
    "Intact",
    "Message",
    "MessageOrigin",
    "Part",
    "PartKind",
    "PluginOrigin",
    "ProcessOrigin",
    "PruneState",
    "Role",
    "Summarized",
]


class Role(Enum):
    """Who a message is from."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    EVENT = "event"


class PartKind(Enum):
    """What a part holds. Reasoning parts never render into flat prompts."""

    TEXT = "text"
    ATTACHMENT = "attachment"
    CODE = "code"
    OUTPUT = "output"
    ERROR = "error"
    PROSE = "prose"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    REASONING = "reasoning"


@frozen(repr=False)
class Intact(Record):
    """The part is shown as it is."""

    TAG: ClassVar[str] = "intact"


@frozen(repr=False)
class Cleared(Record):
    """The part's content is replaced by a short marker in prompts."""

    TAG: ClassVar[str] = "cleared"


@frozen(repr=False)
class Deleted(Record):
    """The part is replaced by a breadcrumb naming the archived original."""

    TAG: ClassVar[str] = "deleted"
    breadcrumb: str
    archive_hash: str


@frozen(repr=False)
class Summarized(Record):
    """The part is replaced by a summary of the archived original."""

    TAG: ClassVar[str] = "summarized"
    summary: str
    archive_hash: str


PruneState = Intact | Cleared | Deleted | Summarized
INTACT = Intact()


@frozen(repr=False)
class PluginOrigin(Record):
    """The message was injected by a plugin; transient ones are not committed."""

    TAG: ClassVar[str] = "plugin"
    plugin_id: str
    transient: bool = False


@frozen(repr=False)
class ProcessOrigin(Record):
    """The message came from a background process event."""

    TAG: ClassVar[str] = "process"
    process_id: str
    event_type: str
    sequence: int
    wake_id: str | None = None
    caused_by: str | None = None


MessageOrigin = PluginOrigin | ProcessOrigin


@frozen(repr=False)
class AttachmentRef(Record):
    """A content-addressed attachment held by the session's attachment store."""

    attachment_id: str
    media_type: str
    size: int
    name: str | None = None


@frozen(repr=False)
class Part(Record):
    """One piece of a message. ``id`` is ``<message_id>.p<index>``.

    Tool-call parts carry ``tool_call_id``, ``tool_name`` and the raw JSON arguments in
    ``content``; tool-result parts carry the model-visible (projected) text in ``content``
    and the full output in ``tool_output``. ``visible`` is false for prose kept for the
    provider's replay but not part of the answer (OpenAI ``commentary`` beside a
    ``final_answer``); :attr:`Message.text` leaves it out.
    """

    id: str
    kind: PartKind
    content: str = ""
    attachment: AttachmentRef | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    tool_output: ToolCallOutput | None = None
    tool_replay: Any = None
    prune_state: PruneState = INTACT
    reasoning_meta: Any = None
    response_meta: Any = None
    visible: bool = True


@frozen(repr=False)
class Message(Record):
    """A message in the session history."""

    id: str
    role: Role
    parts: tuple[Part, ...] = ()
    origin: MessageOrigin | None = None

    @property
    def text(self) -> str:
        """The concatenated text and visible prose of the message."""
        return "".join(
            part.content
            for part in self.parts
            if part.kind in (PartKind.TEXT, PartKind.PROSE) and part.visible
        )
