"""What plugins registered: providers, stores, tools, protocols, effect hosts, trace sinks,
commands and the exclusive tool-result projector.

Names are the host's and end up in durable history, so a second plugin registering a
taken name is an error naming both, never a silent rename.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import define, field

from lash_core.errors import PluginLoadError, PluginRegistrationError
from lash_core.plugins.manager import LoadedPlugins
from lash_core.tools.contract import ToolManifest, ToolProvider, ToolResultProjector
from lash_core.tools.validation import ArgumentValidator, validator_for

__all__ = ["COMPONENT_KINDS", "ComponentRegistration", "Registry", "ToolRegistration", "build_registry"]

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

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.components: list[ComponentRegistration] = []
        self.tools: list[ToolRegistration] = []
        self.projectors: list[ToolResultProjector] = []
        self.commands: list[Any] = []

    def component_registrar(self, kind: str) -> Callable[..., None]:
        def register(
            name: str, factory: Callable[..., Any], *, settings: type | None = None, description: str = ""
        ) -> None:
            """Register ``factory`` under ``name``."""
            if not isinstance(name, str) or not name:
                raise ValueError("a registered name must be a non-empty string")
            if not callable(factory):
                raise TypeError(f"the factory registered as {name!r} is not callable")
            self.components.append(
                ComponentRegistration(kind, name, self.plugin, factory, settings, description)
            )

        return register

    def tool_registrar(self) -> Any:
        staging = self

        class ToolRegistrar:
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

        return ToolRegistrar()

    def command_registrar(self) -> Callable[[Any], None]:
        def register(command: Any) -> None:
            """Register a click command."""
            if not getattr(command, "name", None):
                raise TypeError(f"{command!r} is not a named click command")
            self.commands.append(command)

        return register


def build_registry(loaded: LoadedPlugins) -> Registry:
    """Call every registration hook of every plugin and collect what they registered.

    A plugin whose registration raises is reported in ``errors`` and contributes nothing;
    a name registered twice raises :class:`PluginRegistrationError` naming both plugins.
    """
    registry = Registry(errors=list(loaded.errors))
    plugins = [name for name, _ in loaded.pm.list_name_plugin()]
    for plugin in reversed(plugins):
        staging = _Staging(plugin)
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
            impl.function(register)


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
