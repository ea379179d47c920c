"""Building the plugin manager of one runtime.

One ``pluggy.PluginManager("lash")`` per runtime, made by :func:`create_plugin_manager`:
no module-global manager, no import-time side effects. Plugins come from the ``lash``
entry-point group (the built-in defaults too) and from objects the host passes in.

Environment:

* ``LASH_LOAD_PLUGINS``: unset loads every entry point, empty loads none, ``a,b`` only those;
* ``LASH_DISABLE_PLUGINS=a,b``: never load these;
* ``LASH_TRACE_PLUGINS=1``: print every hook call to stderr.

A plugin that fails to import or to register is reported (:class:`PluginLoadError`,
with its name and the error) and the others keep working.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy
from attrs import define, field

import lash_hookspecs
from lash_core.errors import PluginLoadError
from lash_core.plugins.api import check_plugin_api
from lash_core.plugins.caller import HookCaller

__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugins", "PluginInfo", "create_plugin_manager"]

ENTRY_POINT_GROUP = "lash"


@define
class PluginInfo:
    """A loaded plugin: its name, where it came from and its distribution version."""

    name: str
    module: str
    version: str | None = None
    distribution: str | None = None


@define
class LoadedPlugins:
    """The manager, its hook caller, what loaded and what failed."""

    pm: pluggy.PluginManager
    caller: HookCaller
    plugins: dict[str, PluginInfo] = field(factory=dict)
    errors: list[PluginLoadError] = field(factory=list)

    def hooks_of(self, name: str) -> list[str]:
        """The hook names a plugin implements, sorted."""
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def create_plugin_manager(
    *,
    plugins: Iterable[object] | Mapping[str, object] = (),
    load_entry_points: bool = True,
    environ: Mapping[str, str] | None = None,
) -> LoadedPlugins:
    """Make the plugin manager of one runtime.

    ``plugins`` are extra plugin objects (a mapping gives them names); they are always
    registered, after the entry points, so they are called first. Entry points are
    filtered by ``LASH_LOAD_PLUGINS`` / ``LASH_DISABLE_PLUGINS``.
    """
    import importlib.metadata  # deferred: only composing a runtime needs entry points

    env = os.environ if environ is None else environ
    pm = pluggy.PluginManager(lash_hookspecs.PROJECT_NAME)
    pm.add_hookspecs(lash_hookspecs.registration)
    pm.add_hookspecs(lash_hookspecs.turn_phases)
    loaded = LoadedPlugins(
        pm=pm, caller=HookCaller(pm, trace=env.get("LASH_TRACE_PLUGINS", "") not in ("", "0"))
    )

    if load_entry_points:
        only = _names(env.get("LASH_LOAD_PLUGINS"))
        disabled = _names(env.get("LASH_DISABLE_PLUGINS")) or set()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in disabled or (only is not None and ep.name not in only):
                continue
            if pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                version=dist.version if dist else None,
                distribution=dist.metadata["Name"] if dist else None,
            )
            _register(loaded, ep.name, info, ep.load)

    items = plugins.items() if isinstance(plugins, Mapping) else ((None, p) for p in plugins)
    for name, plugin in items:
        plugin_name = name or _default_name(plugin)
        info = PluginInfo(name=plugin_name, module=getattr(plugin, "__name__", type(plugin).__qualname__))
        _register(loaded, plugin_name, info, lambda plugin=plugin: plugin)
    loaded.caller.invalidate()
    return loaded


def _default_name(plugin: object) -> str:
    name = getattr(plugin, "lash_plugin_name", None) or getattr(plugin, "__name__", None)
    return str(name) if name else f"{type(plugin).__qualname__}@{id(plugin):x}"


def _register(loaded: LoadedPlugins, name: str, info: PluginInfo, load: Any) -> None:
    try:
        plugin = load()
        check_plugin_api(name, plugin)
        loaded.pm.register(plugin, name=name)
    except Exception as exc:  # an import error, an incompatible API range, a registration error
        loaded.errors.append(PluginLoadError(name, exc))
        return
    loaded.plugins[name] = info
