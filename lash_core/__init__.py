"""lash: a runtime for durable LLM agents.

The public facade: compose a :class:`Runtime`, open a :class:`Session`, run turns.
Data types live in :mod:`lash_core.model`; hook contexts and directives in
:mod:`lash_core.hooks`; the testing kit in :mod:`lash_core.testing`.
"""

from lash_core.clock import Clock, SystemClock
from lash_core.config import ComponentConfig, RuntimeConfig
from lash_core.effects import DurabilityTier, Effect, EffectController, EffectHost, EffectKind
from lash_core.errors import LashError
from lash_core.hooks import hookimpl
from lash_core.model import AssembledTurn, ModelSpec, SessionPolicy, TurnActivity, TurnInput
from lash_core.providers import Provider
from lash_core.runtime import Runtime
from lash_core.session import Session, Turn, TurnStream
from lash_core.tools import ToolContext, ToolManifest, ToolProvider, tool

__all__ = [
    "AssembledTurn",
    "Clock",
    "ComponentConfig",
    "DurabilityTier",
    "Effect",
    "EffectController",
    "EffectHost",
    "EffectKind",
    "LashError",
    "ModelSpec",
    "Provider",
    "Runtime",
    "RuntimeConfig",
    "Session",
    "SessionPolicy",
    "SystemClock",
    "ToolContext",
    "ToolManifest",
    "ToolProvider",
    "Turn",
    "TurnActivity",
    "TurnInput",
    "TurnStream",
    "hookimpl",
    "tool",
]
