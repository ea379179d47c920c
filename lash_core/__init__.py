"""lash: a runtime for durable LLM agents.

The public facade: compose a :class:`Runtime`, open a :class:`Session`, run turns.
Data types live in :mod:`lash_core.model`; hook contexts and directives in
:mod:`lash_core.hooks`; the testing kit in :mod:`lash_core.testing`.

Names are imported on first use (PEP 562), so ``import lash_core`` — and every import of a
submodule such as ``lash_core.hooks`` by a plugin — stays cheap; ``from lash_core import
Runtime`` loads the runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "AssembledTurn": "lash_core.model",
    "Clock": "lash_core.clock",
    "ComponentConfig": "lash_core.config",
    "DurabilityTier": "lash_core.effects",
    "Effect": "lash_core.effects",
    "EffectController": "lash_core.effects",
    "EffectHost": "lash_core.effects",
    "EffectKind": "lash_core.effects",
    "LashError": "lash_core.errors",
    "ModelSpec": "lash_core.model",
    "Provider": "lash_core.providers",
    "Runtime": "lash_core.runtime",
    "RuntimeConfig": "lash_core.config",
    "Session": "lash_core.session",
    "SessionPolicy": "lash_core.model",
    "SystemClock": "lash_core.clock",
    "ToolContext": "lash_core.tools",
    "ToolManifest": "lash_core.tools",
    "ToolProvider": "lash_core.tools",
    "Turn": "lash_core.session",
    "TurnActivity": "lash_core.model",
    "TurnInput": "lash_core.model",
    "TurnStream": "lash_core.session",
    "hookimpl": "lash_core.hooks",
    "tool": "lash_core.tools",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lash_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
