"""``lash.toml``: composing a runtime from a file, with secrets and embedded defaults.

Where the configuration comes from, first match wins: the path given (``--config``),
``$LASH_CONFIG``, ``./lash.toml``; with none of them, the embedded defaults alone.
Each top-level key a file (or mapping) sets replaces its default; the keys it leaves out
take the embedded defaults (:func:`embedded_defaults`): a SQLite store and JSONL traces
under the data directory, the standard protocol, the workspace in the current directory,
and a provider chosen from the environment.

Any string value may be a secret reference, resolved when loading: ``$env:NAME`` (an
environment variable) or ``$file:path`` (a file's content without its trailing newline);
``$$`` at the start escapes a literal ``$``. A missing variable or file is an error naming
the key. Every resolved secret is added to ``redact``, so trace records never carry it.
Relative paths are relative to the current directory.

::

    config = load_config("lash.toml")          # a RuntimeConfig, or ConfigError naming each key
    problems = check_config("lash.toml")       # every problem, plugins and components included
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lash_core.config import (
    ComponentConfig,
    RuntimeConfig,
    installed_plugin_names,
    key_path,
    plugin_environ,
    plugin_problems,
    runtime_config_problems,
    structure_settings,
)
from lash_core.errors import ConfigError, LashError
from lash_core.plugins.registry import ComponentRegistration, Registry
from lash_core.tracing import TraceSink

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "DATA_DIR_ENV",
    "check_config",
    "component_problems",
    "data_dir",
    "embedded_defaults",
    "load_config",
    "locate_config",
    "read_config_file",
    "redacting_sink",
    "resolve_secrets",
]

CONFIG_ENV = "LASH_CONFIG"
CONFIG_FILENAME = "lash.toml"
DATA_DIR_ENV = "LASH_DATA_DIR"

ConfigSource = Mapping[str, Any] | str | os.PathLike[str] | None

_ENV_REF = re.compile(r"^\$env:([A-Za-z_][A-Za-z0-9_]*)$")
_MODEL_KEYS = ("model", "provider", "providers")


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where lash keeps sessions and traces: ``$LASH_DATA_DIR``, else
    ``$XDG_DATA_HOME/lash``, else ``~/.local/share/lash``."""
    env = os.environ if environ is None else environ
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV])
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lash"


def locate_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Path | None:
    """The configuration file to read: ``path``, ``$LASH_CONFIG`` or ``./lash.toml``;
    ``None`` when there is none (the embedded defaults apply). A named file that does not
    exist is a :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    named, origin = (path, "--config") if path is not None else (env.get(CONFIG_ENV) or None, CONFIG_ENV)
    if named is not None:
        found = Path(named)
        if not found.is_file():
            raise ConfigError(
                f"the configuration file {str(found)!r} (from {origin}) does not exist; create it or "
                "point to another file"
            )
        return found
    candidate = Path(cwd if cwd is not None else Path.cwd()) / CONFIG_FILENAME
    return candidate if candidate.is_file() else None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path`` (a :class:`ConfigError` naming the line when it is invalid)."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{os.fspath(path)}: invalid TOML: {exc}; fix the syntax") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {os.fspath(path)!r}: {exc.strerror}") from exc


def _default_provider(env: Mapping[str, str], installed: set[str]) -> dict[str, Any]:
    if env.get("OPENAI_API_KEY") and "openai" in installed:
        return {
            "model": {
                "id": "gpt-4o-mini",
                "context_window_tokens": 128_000,
                "output_token_capacity": 16_384,
                "cache_dialect": "openai",
                "attachment_media_types": ["image/*"],
            },
            "providers": {"default": {"type": "openai", "settings": {"api_key": "$env:OPENAI_API_KEY"}}},
        }
    if env.get("ANTHROPIC_API_KEY") and "anthropic" in installed:
        return {
            "model": {
                "id": "claude-sonnet-4-5",
                "context_window_tokens": 200_000,
                "output_token_capacity": 8_192,
                "cache_dialect": "anthropic",
                "attachment_media_types": ["image/*", "application/pdf"],
            },
            "providers": {
                "default": {"type": "anthropic", "settings": {"api_key": "$env:ANTHROPIC_API_KEY"}}
            },
        }
    if "llamacpp" not in installed and "echo" in installed:
        return {"model": {"id": "echo"}, "providers": {"default": {"type": "echo"}}}
    return {
        "model": {"id": "smollm2-135m", "context_window_tokens": 2048},
        "providers": {"default": {"type": "llamacpp"}},
    }


def embedded_defaults(
    environ: Mapping[str, str] | None = None, *, installed: set[str] | None = None
) -> dict[str, Any]:
    """The configuration used when there is no ``lash.toml`` (and for the keys a file
    leaves out): the ``sqlite`` store at ``<data dir>/sessions.db`` (``memory`` when the
    SQLite plugin is not installed), the ``standard`` protocol, the ``jsonl`` trace sink
    in ``<data dir>/traces``, and provider ``default``: ``openai`` when ``OPENAI_API_KEY``
    is set, ``anthropic`` when ``ANTHROPIC_API_KEY`` is set (and its plugin installed),
    else the offline ``llamacpp`` model ``smollm2-135m`` (2048-token context)."""
    env = os.environ if environ is None else environ
    installed = installed_plugin_names() if installed is None else installed
    home = data_dir(env)
    defaults: dict[str, Any] = {
        "store": (
            {"type": "sqlite", "settings": {"path": str(home / "sessions.db")}}
            if "sqlite" in installed
            else {"type": "memory"}
        ),
        "trace_sinks": [{"type": "jsonl", "settings": {"directory": str(home / "traces")}}],
        "provider": "default",
        **_default_provider(env, installed),
    }
    if "standard" in installed:
        defaults["protocol"] = {"type": "standard"}
    return defaults


def _merge_defaults(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    if any(key in data for key in ("provider", "providers")):
        merged.pop("model", None)  # the default model belongs to the default provider
    merged.update(data)
    return merged


def resolve_secrets(
    data: Any, environ: Mapping[str, str] | None = None, *, prefix: Sequence[str | int] = ()
) -> tuple[Any, list[str], list[str]]:
    """Resolve every ``$env:NAME`` / ``$file:path`` string in ``data``.

    Returns ``(resolved data, secret values, problems)``; each problem names its key path.
    """
    env = os.environ if environ is None else environ
    secrets: list[str] = []
    problems: list[str] = []

    def walk(value: Any, path: list[str | int]) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, [*path, str(k)]) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, [*path, i]) for i, v in enumerate(value)]
        if isinstance(value, str):
            return resolve(value, path)
        return value

    def resolve(value: str, path: list[str | int]) -> Any:
        where = key_path("", path)
        if value.startswith("$$"):
            return value[1:]
        if value.startswith("$env:"):
            match = _ENV_REF.match(value)
            if match is None:
                problems.append(
                    f"{where}: {value!r} is not a valid reference; write $env:NAME (letters, digits, _)"
                )
                return value
            name = match.group(1)
            found = env.get(name)
            if not found:
                problems.append(
                    f"{where}: environment variable {name} is not set (from $env:{name}); export {name}, "
                    "or change the value"
                )
                return value
            secrets.append(found)
            return found
        if value.startswith("$file:"):
            name = value[len("$file:") :]
            try:
                text = Path(name).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(
                    f"{where}: cannot read the secret file {name!r} (from $file:{name}): {reason}; create "
                    "it or change the path"
                )
                return value
            if not text:
                problems.append(f"{where}: the secret file {name!r} is empty; write the secret into it")
                return value
            secrets.append(text)
            return text
        return value

    resolved = walk(data, list(prefix))
    return resolved, secrets, problems


def _prepare(
    source: ConfigSource, environ: Mapping[str, str] | None, cwd: str | os.PathLike[str] | None
) -> tuple[str, RuntimeConfig | None, list[str]]:
    """Read, default, resolve and structure: ``(origin, config or None, problems)``."""
    env = os.environ if environ is None else environ
    if isinstance(source, Mapping):
        origin, data = "configuration", dict(source)
    else:
        path = locate_config(source, environ=env, cwd=cwd)
        origin = str(path) if path else "embedded defaults"
        data = read_config_file(path) if path else {}
    merged = _merge_defaults(data, embedded_defaults(env))
    resolved, secrets, problems = resolve_secrets(merged, env)
    if problems:
        return origin, None, problems
    if secrets:
        given = resolved.get("redact", [])
        resolved["redact"] = [*given, *secrets] if isinstance(given, list) else given
    config, problems = runtime_config_problems(resolved)
    return origin, config, problems


def load_config(
    source: ConfigSource = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> RuntimeConfig:
    """The :class:`RuntimeConfig` from a ``lash.toml`` path, a mapping of the same shape,
    or (``None``) the discovered file or embedded defaults; see the module docs.

    Raises :class:`ConfigError` listing each problem with its key path.
    """
    origin, config, problems = _prepare(source, environ, cwd)
    if config is None:
        raise ConfigError(f"invalid configuration in {origin}:\n" + "\n".join(f"  {p}" for p in problems))
    return config


def _takes_no_settings(registration: ComponentRegistration) -> bool:
    import inspect

    try:
        return not inspect.signature(registration.factory).parameters
    except (TypeError, ValueError):
        return False


def _component(registry: Registry, kind: str, component: ComponentConfig, where: str) -> list[str]:
    registration = registry.components[kind].get(component.type)
    if registration is None:
        known = ", ".join(sorted(registry.components[kind])) or "none"
        singular = kind.rstrip("s").replace("_", " ")
        return [
            f"{where}.type: no {singular} named {component.type!r} is registered (registered: {known}); "
            "install the plugin that provides it, or check [plugins] enable / disable"
        ]
    if registration.settings is not None:
        return structure_settings(dict(component.settings), registration.settings, f"{where}.settings")[1]
    if component.settings and _takes_no_settings(registration):
        return [f"{where}.settings: {component.type!r} takes no settings; remove them"]
    return []


def component_problems(config: RuntimeConfig, registry: Registry) -> list[str]:
    """Problems with the components the configuration names: unregistered types, bad
    settings (each by its key path), a provider id that is not configured, an ambiguous
    protocol."""
    problems = _component(registry, "stores", config.store, "store")
    problems += _component(registry, "effect_hosts", config.effect_host, "effect_host")
    if config.protocol is not None:
        problems += _component(registry, "protocols", config.protocol, "protocol")
    elif len(registry.components["protocols"]) != 1:
        names = ", ".join(sorted(registry.components["protocols"])) or "none is installed"
        problems.append(f'protocol: choose the protocol with [protocol] type = "..." (registered: {names})')
    for index, sink in enumerate(config.trace_sinks):
        problems += _component(registry, "trace_sinks", sink, f"trace_sinks[{index}]")
    for provider_id, provider in config.providers.items():
        problems += _component(registry, "providers", provider, key_path("providers", [provider_id]))
    if not config.providers:
        problems.append('providers: no provider is configured; add [providers.default] with type = "..."')
    elif config.provider not in config.providers:
        known = ", ".join(sorted(config.providers))
        problems.append(
            f"provider: no provider is configured with id {config.provider!r} (configured: {known})"
        )
    return problems


def check_config(
    source: ConfigSource = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[str, list[str]]:
    """Check a configuration completely: syntax, secrets, every key of the runtime, of each
    plugin's table and of each component's settings. Returns ``(origin, problems)``."""
    from lash_core.plugins.manager import create_plugin_manager
    from lash_core.plugins.registry import build_registry

    try:
        origin, config, problems = _prepare(source, environ, cwd)
    except ConfigError as exc:
        return str(source or CONFIG_FILENAME), [str(exc)]
    if config is None:
        return origin, problems
    try:
        loaded = create_plugin_manager(environ=plugin_environ(config, environ))
        registry = build_registry(loaded, config.plugins, workspace=config.workspace_path(cwd))
    except LashError as exc:
        return origin, [f"plugins: {exc}"]
    problems = plugin_problems(config, loaded, registry, installed=installed_plugin_names())
    problems += component_problems(config, registry)
    return origin, problems


class _RedactingSink:
    """A trace sink wrapper that replaces secret values in every record before passing it on."""

    def __init__(self, inner: TraceSink, secrets: Sequence[str]) -> None:
        self.inner = inner
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, Mapping):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        text = str(value)
        return self._scrub(text) if any(s in text for s in self._secrets) else value

    def append(self, record: dict[str, Any]) -> None:
        """Pass on the record with every secret replaced by ``[redacted]``."""
        self.inner.append(self._scrub(record))

    def flush(self) -> None:
        """Flush the wrapped sink."""
        self.inner.flush()


def redacting_sink(sink: TraceSink, secrets: Sequence[str]) -> TraceSink:
    """``sink`` behind a filter that replaces each of ``secrets`` with ``[redacted]``."""
    return _RedactingSink(sink, secrets)
