"""The runtime: plugins composed into a store, providers, a protocol, an effect host and
trace sinks, serving sessions.

::

    async with Runtime(config={...}) as runtime:
        session = await runtime.session("s1")
        result = await session.turn("hello").run()
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lash_hookspecs
from lash_core.clock import Clock, SystemClock
from lash_core.config import (
    ComponentConfig,
    RuntimeConfig,
    installed_plugin_names,
    load_runtime_config,
    plugin_environ,
    plugin_problems,
    structure_settings,
)
from lash_core.effects import DurabilityTier, EffectHost
from lash_core.errors import ConfigError, DurableStoreRequired, PluginRegistrationError
from lash_core.leasing import runtime_lease_owner
from lash_core.model import AssembledTurn, SessionPolicy, ToolSpec
from lash_core.plugins.caller import HookCaller
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import ComponentRegistration, Registry, ToolRegistration, build_registry
from lash_core.plugins.report import plugins_report
from lash_core.providers import Provider
from lash_core.session import Session
from lash_core.store.contract import SessionStore
from lash_core.store.leases import LeaseTimings
from lash_core.tools.contract import ToolResultProjector
from lash_core.tracing import Tracer, TraceSink

__all__ = ["PhaseProbe", "Runtime"]

PhaseProbe = Callable[[str, float, float], None]


class Runtime:
    """Composes plugins into a runtime and opens sessions. Use as an async context manager."""

    def __init__(
        self,
        config: RuntimeConfig | Mapping[str, Any] | None = None,
        *,
        plugins: Iterable[object] | Mapping[str, object] = (),
        load_entry_points: bool = True,
        clock: Clock | None = None,
        phase_probe: PhaseProbe | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = load_runtime_config(config)
        self.workspace = self.config.workspace_path()
        self.loaded = create_plugin_manager(
            plugins=plugins, load_entry_points=load_entry_points, environ=plugin_environ(self.config, environ)
        )
        self.registry: Registry = build_registry(self.loaded, self.config.plugins, workspace=self.workspace)
        problems = plugin_problems(
            self.config,
            self.loaded,
            self.registry,
            installed=(
                installed_plugin_names()
                if load_entry_points and (self.config.plugins or self.config.enable_plugins is not None)
                else None
            ),
        )
        if problems:
            raise ConfigError("invalid plugin configuration:\n" + "\n".join(f"  {p}" for p in problems))
        self.caller: HookCaller = self.loaded.caller
        for hook in lash_hookspecs.TURN_PHASE_HOOKS:
            self.caller.impls(hook)  # refuse hook wrappers now, not in the middle of a turn
        self.clock: Clock = clock or SystemClock()
        self.phase_probe = phase_probe
        self.max_attachment_bytes = self.config.max_attachment_bytes
        self.commit_timeout = self.config.commit_timeout_seconds
        try:
            self.lease_timings = LeaseTimings(self.config.lease_ttl_ms, self.config.lease_renew_interval_ms)
        except ValueError as exc:
            raise ConfigError(f"invalid lease timings: {exc}") from exc
        self.lease_owner = runtime_lease_owner(self.config.owner_id)
        self.tools: dict[str, ToolRegistration] = dict(self.registry.tools)
        self.tool_specs: tuple[ToolSpec, ...] = tuple(
            ToolSpec(r.manifest.name, r.manifest.description, r.manifest.input_schema)
            for r in self.tools.values()
        )
        self.projector: ToolResultProjector | None = (
            self.registry.result_projector[1] if self.registry.result_projector else None
        )
        self._protocol_registration = self._choose_protocol()
        self._opened = False
        self._sessions: dict[str, Session] = {}
        self._providers: dict[str, Provider] = {}

    @classmethod
    def from_config(
        cls,
        config: RuntimeConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Runtime:
        """The one way to compose a runtime from configuration (the CLI uses it too).

        ``config`` is a ``lash.toml`` path, a mapping of the same shape, a ready
        :class:`RuntimeConfig`, or ``None`` to find ``$LASH_CONFIG`` or ``./lash.toml``
        (the embedded defaults when there is none). Files and mappings get the embedded
        defaults for the top-level keys they leave out and their ``$env:`` / ``$file:``
        secrets resolved (:func:`lash_core.config_file.load_config`). Every component's
        settings are checked now, so a bad key fails here, naming its path.
        """
        from lash_core.config_file import component_problems, load_config

        if not isinstance(config, RuntimeConfig):
            config = load_config(config, environ=environ)
        runtime = cls(config, environ=environ, **kwargs)
        problems = component_problems(runtime.config, runtime.registry)
        if problems:
            raise ConfigError("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))
        return runtime

    def _choose_protocol(self) -> ComponentRegistration:
        protocols = self.registry.components["protocols"]
        if self.config.protocol is not None:
            return self.registry.component("protocols", self.config.protocol.type)
        if not protocols:
            raise ConfigError(
                "no protocol is registered: install one (pip install lash-protocol-standard) or check "
                "LASH_LOAD_PLUGINS / LASH_DISABLE_PLUGINS"
            )
        if len(protocols) > 1:
            claims = ", ".join(f"{name!r} (plugin {reg.plugin!r})" for name, reg in sorted(protocols.items()))
            raise PluginRegistrationError(
                f"the session protocol is an exclusive slot and several protocols are registered: {claims}; "
                'choose one with protocol = {type = "..."} in the configuration'
            )
        return next(iter(protocols.values()))

    def _build(self, registration: ComponentRegistration, component: ComponentConfig, where: str) -> Any:
        settings: Any = component.settings
        if registration.settings is not None:
            settings, problems = structure_settings(
                dict(component.settings), registration.settings, f"{where}.settings"
            )
            if problems:
                raise ConfigError(
                    f"invalid settings for {where} (type {registration.name!r}): " + "; ".join(problems)
                )
        elif not component.settings:
            try:
                if not inspect.signature(registration.factory).parameters:
                    return registration.factory()
            except (TypeError, ValueError):
                pass
        return registration.factory(settings)

    async def __aenter__(self) -> Runtime:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Build and open the configured components."""
        if self._opened:
            return
        cfg = self.config
        self.store: SessionStore = self._build(
            self.registry.component("stores", cfg.store.type), cfg.store, "store"
        )
        self.effect_host: EffectHost = self._build(
            self.registry.component("effect_hosts", cfg.effect_host.type), cfg.effect_host, "effect_host"
        )
        if (
            self.effect_host.durability is DurabilityTier.DURABLE
            and self.store.durability is not DurabilityTier.DURABLE
        ):
            raise DurableStoreRequired("session store", cfg.store.type)
        self.protocol = self._build(
            self._protocol_registration,
            cfg.protocol or ComponentConfig(self._protocol_registration.name),
            "protocol",
        )
        sinks: list[TraceSink] = [
            self._build(self.registry.component("trace_sinks", sink.type), sink, f"trace_sinks[{i}]")
            for i, sink in enumerate(cfg.trace_sinks)
        ]
        if cfg.redact:
            from lash_core.config_file import redacting_sink

            sinks = [redacting_sink(sink, cfg.redact) for sink in sinks]
        self.tracer = Tracer(sinks, self.clock)
        await self.store.open()
        self._opened = True

    async def aclose(self) -> None:
        """Close providers and the store; flush trace sinks."""
        if not self._opened:
            return
        self._opened = False
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        self._providers.clear()
        self._sessions.clear()
        self.tracer.flush()
        await self.store.close()

    def provider(self, provider_id: str) -> Provider:
        """The live provider configured under ``provider_id`` (built on first use)."""
        provider = self._providers.get(provider_id)
        if provider is None:
            component = self.config.providers.get(provider_id)
            if component is None:
                known = ", ".join(sorted(self.config.providers)) or "none"
                raise ConfigError(
                    f"no provider is configured with id {provider_id!r} (configured: {known}); add "
                    f'[providers.{provider_id}] with a type such as "openai" to the configuration'
                )
            registration = self.registry.component("providers", component.type)
            provider = self._providers[provider_id] = self._build(
                registration, component, f"providers.{provider_id}"
            )
        return provider

    def default_policy(self) -> SessionPolicy:
        """The policy new sessions get from the configuration."""
        cfg = self.config
        return SessionPolicy(
            model=cfg.model,
            provider_id=cfg.provider,
            max_turns=cfg.max_turns,
            system_prompt=cfg.system_prompt,
        )

    async def session(self, session_id: str | None = None, *, policy: SessionPolicy | None = None) -> Session:
        """Open the session ``session_id`` (creating it when the store has none).

        One live handle per session id per runtime: opening it again returns the same
        handle. Plugins get their committed state back (``restore_state``).
        """
        if not self._opened:
            raise RuntimeError("the runtime is not open: use `async with Runtime(...) as runtime:`")
        import uuid

        session_id = session_id or uuid.uuid4().hex
        existing = self._sessions.get(session_id)
        if existing is not None:
            if policy is not None:
                await existing.configure(policy)
            return existing
        record = await self.store.load_session(session_id)
        session = Session(self, session_id, policy or self.default_policy(), record)
        self._sessions[session_id] = session
        session.restore_plugin_state()
        if record is not None:
            await session.notify_restored()
        return session

    async def drain(self, session_id: str, *, max_turns: int | None = None) -> list[AssembledTurn]:
        """Claim and run what is pending for ``session_id`` (see :meth:`Session.drain`)."""
        session = await self.session(session_id)
        return await session.drain(max_turns=max_turns)

    def open_session_ids(self) -> list[str]:
        """The ids of the sessions with a live handle in this runtime."""
        return list(self._sessions)

    def park(self, session_id: str) -> bool:
        """Drop the live handle of an idle session (its state is in the store; opening it
        again rebuilds it). ``False`` when it was not open; a running session stays."""
        session = self._sessions.get(session_id)
        if session is None or session.is_running:
            return False
        del self._sessions[session_id]
        return True

    def plugins_report(self) -> list[dict[str, Any]]:
        """What each plugin is, which hooks it implements and what it registered (``lash plugins``)."""
        return plugins_report(self.loaded, self.registry)
