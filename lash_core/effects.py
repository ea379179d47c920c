"""Effects: the durability seam.

Every nondeterministic step of a turn (a model call, a tool attempt, a checkpoint, a
direct completion) is an :class:`Effect` with a stable replay key, executed through the
turn's :class:`EffectController`. The protocol code is deterministic given effect
results, so a durable controller can journal results and replay them after a crash
instead of calling the model or the tool again.

Replay keys: ``<session>:<turn_id>:<kind>:<n>`` for turn effects (``n`` counts the
turn's effects from 1, in the deterministic order the protocol asks for them), and
``<turn_id>:<phase>:direct:<n>`` for direct completions made by hooks.

Effect hosts are plugins (``register_effect_hosts``); ``inline`` is the default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Protocol, TypeVar

from attrs import define, field

__all__ = [
    "DurabilityTier",
    "Effect",
    "EffectController",
    "EffectHost",
    "EffectKind",
    "InlineEffectController",
    "InlineEffectHost",
]

T = TypeVar("T")


class DurabilityTier(Enum):
    """Whether a component survives a process crash."""

    INLINE = "inline"
    DURABLE = "durable"


class EffectKind(Enum):
    """What an effect does."""

    LLM_CALL = "llm_call"
    TOOL_ATTEMPT = "tool_attempt"
    CHECKPOINT = "checkpoint"
    DIRECT = "direct"


@define
class Effect:
    """One nondeterministic step. ``describe`` returns a JSON-compatible description of
    the request; :meth:`fingerprint` hashes it (only computed when a controller asks)."""

    kind: EffectKind
    replay_key: str
    session_id: str
    turn_id: str
    result_type: Any
    describe: Callable[[], Any] = field(default=lambda: None, repr=False)

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the effect's kind and description."""
        payload = {"kind": self.kind.value, "request": self.describe()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


class EffectController(Protocol):
    """Executes the effects of one turn. ``run`` is the real implementation; a durable
    controller may journal its result, or skip it and return the recorded result."""

    durability: DurabilityTier
    supports_concurrent_effects: bool

    async def execute(self, effect: Effect, run: Callable[[], Awaitable[T]]) -> T:
        """Execute ``effect``, usually by awaiting ``run()``."""
        ...


class EffectHost(Protocol):
    """Hands out one controller per turn scope."""

    durability: DurabilityTier

    def scoped(self, session_id: str, turn_id: str) -> EffectController:
        """The controller of one turn."""
        ...


class InlineEffectController:
    """Runs every effect directly; nothing is journaled (a crash loses the running turn)."""

    durability = DurabilityTier.INLINE
    supports_concurrent_effects = True

    async def execute(self, effect: Effect, run: Callable[[], Awaitable[T]]) -> T:
        """Await ``run()``."""
        return await run()


class InlineEffectHost:
    """The default effect host: every turn gets the inline controller."""

    durability = DurabilityTier.INLINE
    _controller = InlineEffectController()

    def scoped(self, session_id: str, turn_id: str) -> EffectController:
        """The shared inline controller."""
        return self._controller
