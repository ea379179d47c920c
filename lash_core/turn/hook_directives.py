"""The directives every turn-level hook that runs outside the effect loop applies alike.

``prepare_turn`` and ``finalize_turn`` both take ``EnqueueMessages`` (stamped with ids and
the plugin's origin; where they go differs by hook) and ``EmitEvent``; each handles its own
extra directives first (see the table in :mod:`lash_core.hooks.directives`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lash_core.errors import HookError
from lash_core.hooks.directives import EmitEvent, EnqueueMessages, stamp_plugin_messages
from lash_core.model import Message, PluginRuntime

if TYPE_CHECKING:
    from lash_core.turn.state import TurnState

__all__ = ["apply_directive"]


async def apply_directive(state: TurnState, plugin: str, hook: str, directive: object) -> list[Message]:
    """Apply ``plugin``'s ``directive`` from ``hook``: the stamped messages of ``EnqueueMessages``
    (for the caller to place), none for ``EmitEvent`` (emitted); any other directive is refused
    with a :class:`~lash_core.errors.HookError`."""
    if isinstance(directive, EnqueueMessages):
        try:
            return stamp_plugin_messages(plugin, directive, state.new_message_id)
        except ValueError as exc:
            raise HookError(plugin, hook, exc) from None
    if isinstance(directive, EmitEvent):
        await state.emit(PluginRuntime(plugin, directive.event))
        return []
    raise HookError(plugin, hook, TypeError(f"{hook} may not return {type(directive).__name__}"))
