"""Composing a test runtime without entry-point discovery."""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any

from lash_core.builtin import inline_effects, memory_store, tool_output_budget
from lash_core.clock import Clock
from lash_core.runtime import Runtime
from lash_hookspecs import hookimpl

__all__ = ["provider_plugin", "scripted_runtime", "tools_plugin"]


def provider_plugin(provider: Any, name: str = "scripted") -> object:
    """A plugin object registering ``provider`` (an instance) as provider type ``name``."""

    class ProviderPlugin:
        lash_plugin_name = f"test-provider-{name}"

        @hookimpl
        def register_providers(self, register: Any) -> None:
            register(name, lambda settings=None: provider)

    return ProviderPlugin()


def tools_plugin(*tools: Any, name: str = "test-tools") -> object:
    """A plugin object registering ``tools`` (tool providers, e.g. ``@lash_core.tool`` functions)."""

    class ToolsPlugin:
        lash_plugin_name = name

        @hookimpl
        def register_tools(self, register: Any) -> None:
            for tool in tools:
                register(tool)

    return ToolsPlugin()


def _default_plugins() -> dict[str, object]:
    plugins: dict[str, object] = {
        "memory_store": memory_store,
        "inline_effects": inline_effects,
        "tool_output_budget": tool_output_budget,
    }
    try:
        from lash_protocol_standard import plugin as standard
    except ImportError:  # pragma: no cover - the standard protocol is a separate distribution
        return plugins
    plugins["standard"] = standard
    return plugins


def scripted_runtime(
    provider: Any,
    *,
    tools: Iterable[Any] = (),
    plugins: Iterable[object] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    phase_probe: Any = None,
) -> Runtime:
    """A runtime (not yet open) with the built-in defaults, the standard protocol, the given
    provider instance as provider ``default``, the given tools and extra plugins.
    ``config`` entries override the defaults (a mapping as ``Runtime`` takes)."""
    base: dict[str, Any] = {
        "model": {"id": "scripted-model", "context_window_tokens": 100_000},
        "provider": "default",
        "providers": {"default": {"type": "scripted"}},
    }
    base.update(config or {})
    named = _default_plugins()
    named["scripted-provider"] = provider_plugin(provider)
    if tools:
        named["test-tools"] = tools_plugin(*tools)
    for index, plugin in enumerate(plugins):
        name = getattr(plugin, "lash_plugin_name", None) or (
            plugin.__name__ if isinstance(plugin, types.ModuleType) else f"test-plugin-{index}"
        )
        named[name] = plugin
    return Runtime(base, plugins=named, load_entry_points=False, clock=clock, phase_probe=phase_probe)
