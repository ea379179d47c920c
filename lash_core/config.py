"""Runtime configuration: which store, providers, model, protocol, effect host and trace
sinks a runtime is composed of, and each component's settings.

The same structure comes from a Python mapping (``Runtime(config={...})``) or, in the
CLI, from ``lash.toml``. Unknown keys and wrong types are errors naming the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from lash_core.converter import structure
from lash_core.errors import ConfigError, DecodeError
from lash_core.model import ModelSpec

__all__ = ["ComponentConfig", "RuntimeConfig", "load_runtime_config"]


@frozen
class ComponentConfig:
    """A registered component by ``type`` (its registered name) with its settings."""

    type: str
    settings: dict[str, Any] = field(factory=dict)


@frozen
class RuntimeConfig:
    """How a runtime is composed.

    ``providers`` maps provider ids (used by sessions and per-turn overrides) to a
    registered provider type with settings; ``provider`` is the id sessions use.
    ``protocol`` may be left out when exactly one protocol is registered.
    """

    model: ModelSpec = field(factory=lambda: ModelSpec("default"))
    provider: str = "default"
    providers: dict[str, ComponentConfig] = field(factory=dict)
    store: ComponentConfig = field(factory=lambda: ComponentConfig("memory"))
    protocol: ComponentConfig | None = None
    effect_host: ComponentConfig = field(factory=lambda: ComponentConfig("inline"))
    trace_sinks: tuple[ComponentConfig, ...] = ()
    system_prompt: str = ""
    max_turns: int | None = None
    max_attachment_bytes: int = 20 * 1024 * 1024
    commit_timeout_seconds: float = 30.0  # how long a durable store may take to commit a turn
    owner_id: str | None = None  # this runtime's name in session leases (default "<host>:<pid>")
    lease_ttl_ms: int = 30_000
    lease_renew_interval_ms: int = 10_000


def load_runtime_config(data: RuntimeConfig | Mapping[str, Any] | None) -> RuntimeConfig:
    """A :class:`RuntimeConfig` from a mapping; errors name the key path (``$.store.type``)."""
    if data is None:
        return RuntimeConfig()
    if isinstance(data, RuntimeConfig):
        return data
    try:
        return structure(dict(data), RuntimeConfig)
    except DecodeError as exc:
        raise ConfigError(f"invalid runtime configuration: {'; '.join(exc.problems) or exc}") from exc
