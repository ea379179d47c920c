"""Registration hooks: called once, synchronously, when a runtime is composed.

Each receives a ``register`` callable bound to the calling plugin, so lash knows who
registered what (``lash plugins`` prints it) and can name both plugins when two claim the
same name. Every ``register`` also offers ``register.settings(SettingsClass)``: the
plugin's ``[plugins.<name>]`` configuration section structured into the given attrs class
(defaults when absent; errors name the key path), and ``register.workspace``: the
runtime's workspace root.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import calling, hookspec

HOOKS: tuple[str, ...] = (
    "register_providers",
    "register_stores",
    "register_tools",
    "register_protocols",
    "register_effect_hosts",
    "register_trace_sinks",
    "register_commands",
)


@hookspec
@calling("register", may_be_async=False)
def register_providers(register: Any) -> None:
    """Register model providers.

    When: once per runtime, while it is composed, before any session opens.
    Args: ``register(name, factory, *, settings=None, description="")``. ``factory``
        is called with the provider's settings (an instance of the attrs class
        ``settings``, or the raw mapping when ``settings`` is None) and returns an object
        with ``async complete(request, on_event) -> LlmResponse``.
    Returns: nothing; results are ignored.
    Calling: register: every implementation is called once with its own ``register``.
    Async: no; implementations must be plain functions.
    Errors: an exception is reported as a load error of this plugin and its
        registrations are dropped; the other plugins keep working. A name another
        plugin already registered raises ``PluginRegistrationError`` naming both.
    """


@hookspec
@calling("register", may_be_async=False)
def register_stores(register: Any) -> None:
    """Register session stores.

    When: once per runtime, while it is composed.
    Args: ``register(name, factory, *, settings=None, description="")``; ``factory``
        returns an object implementing ``lash_core.store.SessionStore``.
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's registrations and is reported; a duplicate
        name raises ``PluginRegistrationError`` naming both plugins.
    """


@hookspec
@calling("register", may_be_async=False)
def register_tools(register: Any) -> None:
    """Register tools and, optionally, the tool-result projector.

    When: once per runtime, while it is composed.
    Args: ``register(tool)`` adds a tool or a tool provider (anything with
        ``manifests()`` and ``async execute(call, context)``; ``lash_core.tool`` builds
        one from a typed function). ``register.result_projector(projector)`` claims the
        exclusive tool-result projector slot.
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's registrations and is reported; a tool name
        another plugin registered, or a second projector, raises
        ``PluginRegistrationError`` naming both plugins.
    """


@hookspec
@calling("register", may_be_async=False)
def register_protocols(register: Any) -> None:
    """Register protocols (execution modes).

    When: once per runtime, while it is composed.
    Args: ``register(name, factory, *, settings=None, description="")``; ``factory``
        returns an object with ``async run(driver) -> TurnOutcome`` that drives one
        physical turn through the ``lash_core.protocol.TurnDriver`` it is given.
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's registrations and is reported; a duplicate
        name raises ``PluginRegistrationError``. A session's protocol is an exclusive
        slot: when none is configured and two protocols are registered, composing the
        runtime fails naming both.
    """


@hookspec
@calling("register", may_be_async=False)
def register_effect_hosts(register: Any) -> None:
    """Register effect hosts (the durability seam).

    When: once per runtime, while it is composed.
    Args: ``register(name, factory, *, settings=None, description="")``; ``factory``
        returns an object implementing ``lash_core.effects.EffectHost``.
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's registrations and is reported; a duplicate
        name raises ``PluginRegistrationError`` naming both plugins.
    """


@hookspec
@calling("register", may_be_async=False)
def register_trace_sinks(register: Any) -> None:
    """Register trace sinks.

    When: once per runtime, while it is composed.
    Args: ``register(name, factory, *, settings=None, description="")``; ``factory``
        returns an object with a synchronous ``append(record)`` and ``flush()``.
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's registrations and is reported; a duplicate
        name raises ``PluginRegistrationError`` naming both plugins.
    """


@hookspec
@calling("register", may_be_async=False)
def register_commands(register: Any) -> None:
    """Register subcommands of the ``lash`` command line.

    When: once, when the ``lash`` CLI starts.
    Args: ``register(command)`` adds a ``click.Command`` (its name is the subcommand).
    Returns: nothing.
    Calling: register: every implementation is called once.
    Async: no.
    Errors: an exception drops this plugin's commands and is reported; a command name
        that already exists raises ``PluginRegistrationError`` naming both plugins.
    """
