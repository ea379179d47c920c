"""What plugins registered: providers, stores, tools, protocols, effect hosts, trace sinks,
commands and the exclusive tool-result projector.

Names are the host's and end up in durable history, so a second plugin registering a
taken name is an error naming both, never a silent rename.

Every ``register`` a registration hook receives also answers
``register.settings(SettingsClass)``: the plugin's own settings, an instance of that
attrs class structured from the configuration's ``[plugins.<plugin name>]`` table
(defaults when absent), and ``register.workspace``: the runtime's workspace root.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from attrs import define, field

from lash_core.errors import ConfigError, PluginLoadError, PluginRegistrationError
from lash_core.plugins.manager import LoadedPlugins
from lash_core.tools.contract import ToolManifest, ToolProvider, ToolResultProjector
from lash_core.tools.validation import ArgumentValidator, validator_for

__all__ = ["COMPONENT_KINDS", "ComponentRegistration", "Registry", "ToolRegistration", "build_registry"]

S = TypeVar("S")

COMPONENT_KINDS = {
    "register_providers": "providers",
    "register_stores": "stores",
    "register_protocols": "protocols",
    "register_effect_hosts": "effect_hosts",
    "register_trace_sinks": "trace_sinks",
}


@define(frozen=True)
class ComponentRegistration:
    """A named factory a plugin registered (a provider, store, protocol, effect host or sink)."""

    kind: str
    name: str
    plugin: str
    factory: Callable[..., Any]
    settings: type | None = None
    description: str = ""


@define(frozen=True)
class ToolRegistration:
    """A tool: its manifest, the provider that executes it, the plugin that registered it and
    the compiled validator of its arguments."""

    manifest: ToolManifest
    provider: ToolProvider
    plugin: str
    validator: ArgumentValidator


@define
class Registry:
    """Everything registered by the plugins of one runtime."""

    components: dict[str, dict[str, ComponentRegistration]] = field(
        factory=lambda: {kind: {} for kind in COMPONENT_KINDS.values()}
    )
    tools: dict[str, ToolRegistration] = field(factory=dict)
    result_projector: tuple[str, ToolResultProjector] | None = None
    commands: dict[str, tuple[str, Any]] = field(factory=dict)
    errors: list[PluginLoadError] = field(factory=list)
    plugin_settings: dict[str, type] = field(factory=dict)
    """The settings class each plugin asked for with ``register.settings(...)``."""
    settings_problems: list[str] = field(factory=list)
    """Problems with the plugins' settings tables, each naming its key path."""

    def component(self, kind: str, name: str) -> ComponentRegistration:
        """The registration of ``name`` among ``kind`` (``providers``, ``stores``...).

        Raises :class:`PluginRegistrationError` listing what is registered when absent.
        """
        found = self.components[kind].get(name)
        if found is None:
            known = ", ".join(sorted(self.components[kind])) or "none"
            singular = kind.rstrip("s").replace("_", " ")
            raise PluginRegistrationError(
                f"no {singular} named {name!r} is registered (registered: {known}); install the plugin "
                f"that provides it, or check LASH_LOAD_PLUGINS / LASH_DISABLE_PLUGINS"
            )
        return found

    def registered_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, by kind (only kinds it registered something in)."""
        found: dict[str, list[str]] = {}
        for kind, entries in self.components.items():
            names = sorted(name for name, reg in entries.items() if reg.plugin == plugin)
            if names:
                found[kind] = names
        tools = sorted(name for name, reg in self.tools.items() if reg.plugin == plugin)
        if tools:
            found["tools"] = tools
        if self.result_projector and self.result_projector[0] == plugin:
            found["result_projector"] = [type(self.result_projector[1]).__name__]
        commands = sorted(name for name, (owner, _) in self.commands.items() if owner == plugin)
        if commands:
            found["commands"] = commands
        return found


class _Staging:
    """Collects one plugin's registrations so a failing plugin contributes nothing."""

    def __init__(
        self, plugin: str, section: Mapping[str, Any] | None, workspace: Path, registry: Registry
    ) -> None:
        self.plugin = plugin
        self.section = section
        self.workspace = workspace
        self.registry = registry
        self.components: list[ComponentRegistration] = []
        self.tools: list[ToolRegistration] = []
        self.projectors: list[ToolResultProjector] = []
        self.commands: list[Any] = []
        self.settings_value: tuple[type, Any] | None = None

    def settings(self, cls: type[S]) -> S:
        """The plugin's settings as ``cls``, from its ``[plugins.<name>]`` table."""
        from lash_core.config import structure_settings  # deferred: config imports the model

        if self.settings_value is not None:
            if self.settings_value[0] is not cls:
                raise TypeError(
                    f"plugin {self.plugin!r} asked for its settings as {self.settings_value[0].__name__} "
                    f"and as {cls.__name__}; ask with one settings class in every hook"
                )
            return typing.cast(S, self.settings_value[1])
        self.registry.plugin_settings.setdefault(self.plugin, cls)
        value, problems = structure_settings(dict(self.section or {}), cls, f"plugins.{self.plugin}")
        if problems:
            self.registry.settings_problems.extend(problems)
            raise ConfigError("; ".join(problems))
        self.settings_value = (cls, value)
        return typing.cast(S, value)

    def component_registrar(self, kind: str) -> _Registrar:
        return _ComponentRegistrar(self, kind)

    def tool_registrar(self) -> Any:
        staging = self

        class ToolRegistrar(_Registrar):
            """``register(tool)`` adds a tool provider; ``register.result_projector(p)`` claims the slot."""

            def __call__(self, provider: Any) -> None:
                if not isinstance(provider, ToolProvider):
                    raise TypeError(
                        f"{provider!r} is not a tool provider: it needs manifests() and async execute(call, context); "
                        "decorate a function with lash_core.tool to make one"
                    )
                for manifest in provider.manifests():
                    staging.tools.append(
                        ToolRegistration(
                            manifest, provider, staging.plugin, validator_for(manifest.input_schema)
                        )
                    )

            def result_projector(self, projector: ToolResultProjector) -> None:
                if not isinstance(projector, ToolResultProjector):
                    raise TypeError(f"{projector!r} has no project(call, output) method")
                staging.projectors.append(projector)

        return ToolRegistrar(staging)

    def command_registrar(self) -> _Registrar:
        return _CommandRegistrar(self)


class _Registrar:
    """The ``register`` a registration hook receives; bound to one plugin."""

    def __init__(self, staging: _Staging) -> None:
        self._staging = staging

    def settings(self, cls: type[S]) -> S:
        """The plugin's own settings: an instance of the attrs class ``cls`` structured from
        the configuration's ``[plugins.<plugin name>]`` table (defaults when absent).

        Raises :class:`ConfigError` naming each bad key (``plugins.tools.root: expected a
        string, found an integer``); the plugin then registers nothing and the runtime
        refuses to compose.
        """
        return self._staging.settings(cls)

    @property
    def workspace(self) -> Path:
        """The runtime's workspace root (absolute): the directory file tools work in."""
        return self._staging.workspace

    @property
    def plugin(self) -> str:
        """The name of the plugin this ``register`` is bound to."""
        return self._staging.plugin


class _ComponentRegistrar(_Registrar):
    """``register(name, factory, *, settings=None, description="")``."""

    def __init__(self, staging: _Staging, kind: str) -> None:
        super().__init__(staging)
        self._kind = kind

    def __call__(
        self, name: str, factory: Callable[..., Any], *, settings: type | None = None, description: str = ""
    ) -> None:
        """Register ``factory`` under ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError("a registered name must be a non-empty string")
        if not callable(factory):
            raise TypeError(f"the factory registered as {name!r} is not callable")
        staging = self._staging
        staging.components.append(
            ComponentRegistration(self._kind, name, staging.plugin, factory, settings, description)
        )


class _CommandRegistrar(_Registrar):
    """``register(command)`` adds a click command to the ``lash`` CLI."""

    def __call__(self, command: Any) -> None:
        """Register a click command."""
        if not getattr(command, "name", None):
            raise TypeError(f"{command!r} is not a named click command")
        self._staging.commands.append(command)


def build_registry(
    loaded: LoadedPlugins,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    workspace: str | Path | None = None,
) -> Registry:
    """Call every registration hook of every plugin and collect what they registered.

    ``settings`` holds each plugin's settings table by plugin name (what
    ``register.settings(...)`` structures); ``workspace`` is the runtime's workspace root
    (default: the current directory). A plugin whose registration raises is reported in
    ``errors`` and contributes nothing (bad settings are also listed in
    ``settings_problems``); a name registered twice raises
    :class:`PluginRegistrationError` naming both plugins.
    """
    registry = Registry(errors=list(loaded.errors))
    sections = settings or {}
    root = Path(workspace if workspace is not None else ".").resolve()
    plugins = [name for name, _ in loaded.pm.list_name_plugin()]
    for plugin in reversed(plugins):
        staging = _Staging(plugin, sections.get(plugin), root, registry)
        try:
            for hook, kind in COMPONENT_KINDS.items():
                _call_registration(loaded, plugin, hook, staging.component_registrar(kind))
            _call_registration(loaded, plugin, "register_tools", staging.tool_registrar())
            _call_registration(loaded, plugin, "register_commands", staging.command_registrar())
        except Exception as exc:
            registry.errors.append(PluginLoadError(plugin, exc))
            continue
        _apply(registry, staging)
    return registry


def _call_registration(loaded: LoadedPlugins, plugin: str, hook: str, register: Any) -> None:
    # Ask pluggy for the plugin's implementations, so ``@hookimpl(specname=...)`` ones count too.
    for impl in getattr(loaded.pm.hook, hook).get_hookimpls():
        if impl.plugin_name == plugin:
            result = impl.function(register)
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # never awaited: do not leave a "coroutine was never awaited" warning
                raise TypeError(
                    f"{hook} must be a plain function, not async: registration runs once, synchronously"
                )


def _apply(registry: Registry, staging: _Staging) -> None:
    for reg in staging.components:
        taken = registry.components[reg.kind].get(reg.name)
        if taken is not None:
            raise PluginRegistrationError(
                f"{reg.kind.rstrip('s').replace('_', ' ')} name {reg.name!r} is registered by both plugin "
                f"{taken.plugin!r} and plugin {reg.plugin!r}; disable one of them (LASH_DISABLE_PLUGINS)"
            )
        registry.components[reg.kind][reg.name] = reg
    for tool in staging.tools:
        existing = registry.tools.get(tool.manifest.name)
        if existing is not None:
            raise PluginRegistrationError(
                f"tool name {tool.manifest.name!r} is registered by both plugin {existing.plugin!r} and "
                f"plugin {tool.plugin!r}; disable one of them (LASH_DISABLE_PLUGINS)"
            )
        registry.tools[tool.manifest.name] = tool
    for projector in staging.projectors:
        if registry.result_projector is not None:
            raise PluginRegistrationError(
                f"the tool-result projector slot is claimed by both plugin {registry.result_projector[0]!r} "
                f"and plugin {staging.plugin!r}; only one projector may be active: disable one of them"
            )
        registry.result_projector = (staging.plugin, projector)
    for command in staging.commands:
        existing_command = registry.commands.get(command.name)
        if existing_command is not None:
            raise PluginRegistrationError(
                f"command {command.name!r} is registered by both plugin {existing_command[0]!r} and plugin "
                f"{staging.plugin!r}"
            )
        registry.commands[command.name] = (staging.plugin, command)
