"""What turn-phase hooks may return.

Which hook accepts which directive:

=================  ============  ==========  =============  ================  ===============
directive          prepare_turn  checkpoint  finalize_turn  before_tool_call  after_tool_call
=================  ============  ==========  =============  ================  ===============
AbortTurn          abort         abort       refused        error result      refused
EnqueueMessages    add to turn   deliver     commit         refused           next checkpoint
EmitEvent          emit          emit        emit           emit              emit
SwitchAgentFrame   switch frame  refused     refused        refused           refused
ReplaceToolArgs    refused       refused     refused        replace args      refused
ShortCircuitTool   refused       refused     refused        skip the tool     refused
ReplaceToolResult  refused       refused     refused        refused           replace result
=================  ============  ==========  =============  ================  ===============

``SwitchAgentFrame`` from ``prepare_turn`` runs the turn in a new agent frame, opened
before the model is called and committed with the turn (see :class:`SwitchAgentFrame`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import evolve, frozen

from lash_core.model import (
    Message,
    Part,
    PartKind,
    PluginCustomEvent,
    PluginOrigin,
    PluginRuntimeEvent,
    PluginStatusEvent,
    Role,
    ToolCallOutput,
)

__all__ = [
    "AbortTurn",
    "Directive",
    "EmitEvent",
    "EnqueueMessages",
    "ReplaceToolArgs",
    "ReplaceToolResult",
    "ShortCircuitTool",
    "SwitchAgentFrame",
    "as_directives",
]


@frozen
class AbortTurn:
    """Stop the turn (``Stopped(PluginAbort)``) with a code and a message for the host."""

    code: str
    message: str


@frozen
class EnqueueMessages:
    """Add user or system messages; transient ones reach the model but are never committed."""

    messages: tuple[Message, ...]
    transient: bool = False

    @classmethod
    def text(cls, text: str, *, role: Role = Role.USER, transient: bool = False) -> EnqueueMessages:
        """One message holding ``text``."""
        message = Message(id="", role=role, parts=(Part(id="", kind=PartKind.TEXT, content=text),))
        return cls((message,), transient)


@frozen
class EmitEvent:
    """Emit a ``plugin_runtime`` activity."""

    event: PluginRuntimeEvent

    @classmethod
    def status(cls, key: str, label: str, detail: str | None = None) -> EmitEvent:
        """A status event."""
        return cls(PluginStatusEvent(key, label, detail))

    @classmethod
    def custom(cls, name: str, payload: Any = None) -> EmitEvent:
        """A custom event."""
        return cls(PluginCustomEvent(name, payload))


@frozen
class SwitchAgentFrame:
    """Run this turn in a new agent frame (accepted from ``prepare_turn`` only).

    Before the model is called, the session's current frame is superseded and
    ``frame_id`` is opened (its record names ``reason``, the previous frame and the turn),
    seeded with ``initial_messages``. The model then sees the seed, the turn's user message
    and the messages ``prepare_turn`` added, nothing of the older frame; the turn's
    messages belong to the new frame. All of it is committed atomically with the turn; the
    old frame's messages stay in the store. An empty ``frame_id``, or the current one,
    changes nothing; the id of an earlier frame of the session is refused. When several are
    returned the last one wins; an ``AbortTurn`` drops it. Seed messages get fresh ids and,
    unless they carry an origin, the switching plugin as their origin.
    """

    frame_id: str
    initial_messages: tuple[Message, ...] = ()
    reason: str = "compaction"


@frozen
class ReplaceToolArgs:
    """Run the tool with these arguments instead (the last one wins)."""

    args: dict[str, Any]


@frozen
class ShortCircuitTool:
    """Do not run the tool; use ``output`` as its result."""

    output: ToolCallOutput


@frozen
class ReplaceToolResult:
    """Replace the tool's output (the last one wins)."""

    output: ToolCallOutput


Directive = (
    AbortTurn
    | EnqueueMessages
    | EmitEvent
    | SwitchAgentFrame
    | ReplaceToolArgs
    | ShortCircuitTool
    | ReplaceToolResult
)


def as_directives(result: Any) -> Sequence[Any]:
    """A hook result as a list of directives (``None`` is none, a single one a list of one)."""
    if result is None:
        return ()
    if isinstance(result, list | tuple):
        return result
    return (result,)


def stamp_plugin_messages(plugin: str, directive: EnqueueMessages, new_id: Any) -> list[Message]:
    """Give a plugin's enqueued messages ids and a plugin origin; keep only user and system roles."""
    stamped = []
    for message in directive.messages:
        if message.role not in (Role.USER, Role.SYSTEM):
            raise ValueError(f"plugins may enqueue only user or system messages, not {message.role.value!r}")
        message_id = new_id()
        parts = tuple(
            Part(id=f"{message_id}.p{i}", kind=p.kind, content=p.content, attachment=p.attachment)
            for i, p in enumerate(message.parts)
        )
        stamped.append(Message(message_id, message.role, parts, PluginOrigin(plugin, directive.transient)))
    return stamped


def stamp_frame_seed(plugin: str, directive: SwitchAgentFrame, new_id: Any) -> list[Message]:
    """Give the seed messages of a plugin's frame switch fresh ids and a plugin origin (any role)."""
    stamped = []
    for message in directive.initial_messages:
        message_id = new_id()
        parts = tuple(evolve(p, id=f"{message_id}.p{i}") for i, p in enumerate(message.parts))
        stamped.append(Message(message_id, message.role, parts, message.origin or PluginOrigin(plugin)))
    return stamped
