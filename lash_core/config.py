"""Runtime configuration: which store, providers, model, protocol, effect host, trace
sinks and plugins a runtime is composed of, and each component's settings.

The same structure comes from a Python mapping (``Runtime(config={...})``) or from
``lash.toml`` (:mod:`lash_core.config_file`). Unknown keys, wrong types and missing
required values are errors naming the full key path and the expected type, such as
``store.settings.durability: invalid value: 'fast' (expected one of "full", "normal")``.

The mapping has the shape of the file: ``plugins`` holds ``enable`` / ``disable`` (which
entry points load) beside one table of settings per plugin (``plugins.tools.root``).
"""

from __future__ import annotations

import enum
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from lash_core.converter import structure
from lash_core.errors import ConfigError, DecodeError
from lash_core.model import ModelSpec

if TYPE_CHECKING:
    from lash_core.plugins.manager import LoadedPlugins
    from lash_core.plugins.registry import Registry

__all__ = [
    "ComponentConfig",
    "RuntimeConfig",
    "describe_type",
    "installed_plugin_names",
    "key_path",
    "load_runtime_config",
    "plugin_environ",
    "plugin_problems",
    "runtime_config_problems",
    "settings_problems",
    "structure_settings",
    "type_at",
]


@frozen
class ComponentConfig:
    """A registered component by ``type`` (its registered name) with its settings."""

    type: str = field(metadata={"description": "the registered name of the component"})
    settings: dict[str, Any] = field(
        factory=dict, metadata={"description": "the component's own settings (see its section)"}
    )


@frozen(repr=False)
class RuntimeConfig:
    """How a runtime is composed.

    ``providers`` maps provider ids (used by sessions and per-turn overrides) to a
    registered provider type with settings; ``provider`` is the id sessions use.
    ``protocol`` may be left out when exactly one protocol is registered. ``plugins``
    holds each plugin's own settings table (by plugin name); ``enable_plugins`` /
    ``disable_plugins`` (``plugins.enable`` / ``plugins.disable`` in a file) choose which
    entry points load. ``redact`` lists values scrubbed from every trace record (the file
    loader adds every resolved secret).
    """

    model: ModelSpec = field(
        factory=lambda: ModelSpec("default"),
        metadata={"description": "the model sessions talk to; capabilities are data, never guessed"},
    )
    provider: str = field(
        default="default", metadata={"description": "the id (under [providers]) sessions use"}
    )
    providers: dict[str, ComponentConfig] = field(
        factory=dict, metadata={"description": "model providers by id: a registered type and its settings"}
    )
    store: ComponentConfig = field(
        factory=lambda: ComponentConfig("memory"), metadata={"description": "the session store"}
    )
    protocol: ComponentConfig | None = field(
        default=None,
        metadata={"description": "the execution protocol (may be left out when only one is installed)"},
    )
    effect_host: ComponentConfig = field(
        factory=lambda: ComponentConfig("inline"),
        metadata={"description": "where effects run: inline (default) or a journaling host"},
    )
    trace_sinks: tuple[ComponentConfig, ...] = field(
        default=(), metadata={"description": "where trace records go"}
    )
    system_prompt: str = field(default="", metadata={"description": "the system prompt of new sessions"})
    max_turns: int | None = field(
        default=None, metadata={"description": "protocol iterations allowed per turn (unset: no limit)"}
    )
    max_attachment_bytes: int = field(
        default=20 * 1024 * 1024, metadata={"description": "the largest attachment a turn accepts"}
    )
    commit_timeout_seconds: float = field(
        default=30.0, metadata={"description": "how long a durable store may take to commit a turn"}
    )
    owner_id: str | None = field(
        default=None,
        metadata={"description": 'this runtime\'s name in session leases (default "<host>:<pid>")'},
    )
    lease_ttl_ms: int = field(default=30_000, metadata={"description": "session execution lease lifetime"})
    lease_renew_interval_ms: int = field(
        default=10_000, metadata={"description": "how often a running turn renews its lease"}
    )
    plugins: dict[str, dict[str, Any]] = field(
        factory=dict, metadata={"description": "each plugin's own settings, by plugin name"}
    )
    enable_plugins: tuple[str, ...] | None = field(
        default=None, metadata={"description": "load only these plugins (entry point names)"}
    )
    disable_plugins: tuple[str, ...] = field(
        default=(), metadata={"description": "never load these plugins (entry point names)"}
    )
    workspace: str | None = field(
        default=None,
        metadata={"description": "the directory file tools work in (default: the current directory)"},
    )
    redact: tuple[str, ...] = field(
        default=(), repr=False, metadata={"description": "values scrubbed from every trace record"}
    )

    def __repr__(self) -> str:
        """The fields, with every value listed in ``redact`` shown as ``[redacted]``."""
        text = (
            "RuntimeConfig("
            + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in attrs.fields(type(self)) if f.repr)
            + ")"
        )
        for secret in sorted((s for s in self.redact if s), key=len, reverse=True):
            text = text.replace(repr(secret)[1:-1], "[redacted]").replace(secret, "[redacted]")
        return text

    def workspace_path(self, cwd: str | os.PathLike[str] | None = None) -> Path:
        """The workspace root as an absolute path (relative to ``cwd``, default the current directory)."""
        base = Path(cwd) if cwd is not None else Path.cwd()
        return (base / (self.workspace or ".")).resolve()


# How RuntimeConfig fields are spelled in a file (``plugins.enable``), and back.
_FILE_NAMES = {"enable_plugins": ("plugins", "enable"), "disable_plugins": ("plugins", "disable")}


def _from_file_shape(data: Mapping[str, Any]) -> dict[str, Any]:
    """Move ``plugins.enable`` / ``plugins.disable`` to their RuntimeConfig fields."""
    out = dict(data)
    for name in _FILE_NAMES:
        if name in out:
            raise ConfigError(
                f"{name}: unknown key; write it as `{'.'.join(_FILE_NAMES[name])} = [...]` "
                f"(in the [plugins] table)"
            )
    plugins = out.get("plugins")
    if isinstance(plugins, Mapping):
        sections = dict(plugins)
        for name, (_, key) in _FILE_NAMES.items():
            if key in sections:
                out[name] = sections.pop(key)
        out["plugins"] = sections
    return out


def load_runtime_config(data: RuntimeConfig | Mapping[str, Any] | None) -> RuntimeConfig:
    """A :class:`RuntimeConfig` from a mapping shaped like ``lash.toml``.

    Raises :class:`ConfigError` listing every problem with its key path.
    """
    if data is None:
        return RuntimeConfig()
    if isinstance(data, RuntimeConfig):
        return data
    config, problems = runtime_config_problems(data)
    if config is None:
        raise ConfigError("invalid runtime configuration:\n" + "\n".join(f"  {p}" for p in problems))
    return config


def runtime_config_problems(data: Mapping[str, Any]) -> tuple[RuntimeConfig | None, list[str]]:
    """Structure a mapping shaped like ``lash.toml``: the config, or ``None`` and every problem."""
    try:
        shaped = _from_file_shape(data)
    except ConfigError as exc:
        return None, [str(exc)]
    value, problems = structure_settings(shaped, RuntimeConfig, "")
    return (None, problems) if problems else (typing.cast(RuntimeConfig, value), [])


def plugin_environ(config: RuntimeConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the plugin manager reads: ``LASH_LOAD_PLUGINS`` from
    ``plugins.enable`` unless the variable is set, ``LASH_DISABLE_PLUGINS`` joined with
    ``plugins.disable`` (the environment wins for enable, both count for disable)."""
    env = dict(os.environ if environ is None else environ)
    if config.enable_plugins is not None and "LASH_LOAD_PLUGINS" not in env:
        env["LASH_LOAD_PLUGINS"] = ",".join(config.enable_plugins)
    if config.disable_plugins:
        current = [n for n in env.get("LASH_DISABLE_PLUGINS", "").split(",") if n.strip()]
        env["LASH_DISABLE_PLUGINS"] = ",".join([*current, *config.disable_plugins])
    return env


def structure_settings(data: Any, cls: Any, prefix: str) -> tuple[Any, list[str]]:
    """Structure ``data`` as ``cls``; on failure ``(None, problems)`` with each problem
    named by its full key path under ``prefix`` (``"store.settings"``)."""
    try:
        return structure(data, cls), []
    except DecodeError as exc:
        return None, settings_problems(exc, cls, prefix)
    except ConfigError as exc:  # a settings class validating itself with lash's own error
        return None, [f"{prefix or '(top level)'}: {exc}"]


# ---- key paths and expected types ------------------------------------------------------------

_PROBLEM = re.compile(r"^(?P<message>.*) @ (?P<path>\$.*)$", re.DOTALL)
_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")
_EXTRA = re.compile(r"^extra fields found \((?P<keys>.*)\)$")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    position = 1  # after "$"
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            break
        name, index, quoted = match.groups()
        if name is not None:
            tokens.append(name)
        elif index is not None:
            tokens.append(int(index))
        else:
            import ast

            tokens.append(str(ast.literal_eval(quoted)))
        position = match.end()
    return tokens


def key_path(prefix: str, tokens: Sequence[str | int]) -> str:
    """A TOML-style key path: ``providers.default.settings.api_key``, ``trace_sinks[0].type``."""
    text = prefix
    for token in tokens:
        if isinstance(token, int):
            text += f"[{token}]"
        else:
            part = token if _BARE.match(token) else '"' + token.replace('"', '\\"') + '"'
            text = f"{text}.{part}" if text else part
    return text


def _file_tokens(cls: Any, tokens: list[str | int]) -> list[str | int]:
    if cls is RuntimeConfig and tokens and tokens[0] in _FILE_NAMES:
        return [*_FILE_NAMES[str(tokens[0])], *tokens[1:]]
    return tokens


def settings_problems(exc: DecodeError, cls: Any, prefix: str) -> list[str]:
    """Turn a :class:`DecodeError` of ``cls`` into ``key.path: message (expected ...)`` lines."""
    problems: list[str] = []
    for problem in exc.problems or [str(exc)]:
        match = _PROBLEM.match(problem)
        message, tokens = (match["message"], _tokens(match["path"])) if match else (problem, [])
        target = type_at(cls, tokens)
        extra = _EXTRA.match(message)
        if extra:
            allowed = _allowed_keys(target)
            hint = f" (allowed keys: {', '.join(allowed)})" if allowed else ""
            for key in (k.strip() for k in extra["keys"].split(",")):
                path = key_path(prefix, [*_file_tokens(cls, tokens), key])
                problems.append(f"{path}: unknown key{hint}")
            continue
        path = key_path(prefix, _file_tokens(cls, tokens)) or "(top level)"
        if message == "required field missing":
            message = "required value missing"
        expected = describe_type(target) if target is not None else None
        if expected and "expected" not in message:
            message = f"{message} (expected {expected})"
        problems.append(f"{path}: {message}")
    return problems


def _field_types(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {f.name: f.type for f in attrs.fields(cls)}


def _allowed_keys(cls: Any) -> list[str]:
    cls = _strip_optional(cls)
    if cls is RuntimeConfig:
        return sorted(f.name for f in attrs.fields(cls) if f.name not in _FILE_NAMES)
    if isinstance(cls, type) and attrs.has(cls):
        return [f.name for f in attrs.fields(cls)]
    return []


def _strip_optional(typ: Any) -> Any:
    args = typing.get_args(typ)
    if (isinstance(typ, types.UnionType) or typing.get_origin(typ) is typing.Union) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return typ


def type_at(cls: Any, tokens: Sequence[str | int]) -> Any:
    """The declared type at a path inside ``cls`` (``None`` when it cannot be told)."""
    current: Any = cls
    for token in tokens:
        current = _strip_optional(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and attrs.has(current) and isinstance(token, str):
            current = _field_types(current).get(token)
        elif origin is dict:
            current = typing.get_args(current)[1]
        elif origin in (tuple, list) and isinstance(token, int):
            current = typing.get_args(current)[0]
        else:
            return None
        if current is None:
            return None
    return current


def describe_type(typ: Any) -> str:
    """How a value of ``typ`` is described in an error (``a string``, ``an array of strings``)."""
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    if typ in names:
        return names[typ]
    if typ is Any or typ is None:
        return "any value"
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        return "one of " + ", ".join(
            f'"{m.value}"' if isinstance(m.value, str) else str(m.value) for m in typ
        )
    if typing.get_origin(typ) is typing.Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(typ))
    stripped = _strip_optional(typ)
    if stripped is not typ:
        return f"{describe_type(stripped)} (optional)"
    origin = typing.get_origin(typ)
    if origin in (tuple, list):
        inner = describe_type(typing.get_args(typ)[0])
        bare = re.sub(r"^an? ", "", inner)
        return "an array of " + (bare + "s" if bare != inner else inner)
    if origin is dict or (isinstance(typ, type) and attrs.has(typ)):
        return "a table"
    args = typing.get_args(typ)
    if args:
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    return getattr(typ, "__name__", str(typ))


def installed_plugin_names() -> set[str]:
    """The names of every plugin installed in the ``lash`` entry-point group."""
    import importlib.metadata

    return {ep.name for ep in importlib.metadata.entry_points(group="lash")}


def plugin_problems(
    config: RuntimeConfig,
    loaded: LoadedPlugins,
    registry: Registry,
    *,
    installed: set[str] | None = None,
) -> list[str]:
    """Problems with ``[plugins]``: bad settings tables, tables for plugins that take no
    settings or are not installed, ``enable`` naming a plugin that is not installed.
    ``installed`` is the installed entry-point names (``None`` skips the install checks)."""
    problems = list(registry.settings_problems)
    known = set(loaded.plugins) | (installed or set())
    failed = {error.plugin for error in registry.errors}
    shown = ", ".join(sorted(known)) or "none"
    if installed is not None:
        for index, name in enumerate(config.enable_plugins or ()):
            if name not in installed:
                problems.append(
                    f"plugins.enable[{index}]: no installed plugin is named {name!r} (installed: {shown}); "
                    "remove it or install the plugin"
                )
    for name, section in config.plugins.items():
        path = key_path("plugins", [name])
        if name in registry.plugin_settings or name in failed:
            continue
        if name in loaded.plugins:
            if section:
                problems.append(f"{path}: plugin {name!r} takes no settings; remove the [{path}] table")
        elif name not in known:
            problems.append(
                f"{path}: no plugin named {name!r} is installed (installed: {shown}); remove the table or "
                "install the plugin"
            )
    return problems
