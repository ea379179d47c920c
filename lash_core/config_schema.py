"""The JSON Schema of ``lash.toml``, generated from the attrs classes that define it.

:func:`attrs_schema` turns an attrs class into JSON Schema: field types, defaults,
required fields (those without a default), unknown keys refused
(``additionalProperties: false``), descriptions from field metadata (``description``)
or from the class docstring (a line such as ``* ``path``: the database file``).
:func:`config_schema` assembles the whole file from :class:`~lash_core.config.RuntimeConfig`
and what the plugins registered: each component kind accepts the registered ``type``
names and, for each, that component's settings class; ``[plugins.<name>]`` takes the
class the plugin asked for with ``register.settings(...)``. ``lash config schema`` prints it.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from lash_core.config import RuntimeConfig
from lash_core.converter import unstructure
from lash_core.plugins.registry import COMPONENT_KINDS, Registry

__all__ = ["SchemaBuilder", "attrs_schema", "build_config_schema", "config_schema"]

_NAMES = re.compile(
    r"^\s*(?:[*-]\s*)?((?:``[A-Za-z_][A-Za-z0-9_.]*``(?:\s*(?:/|,|and|or)\s*)?)+)\s*:?\s*(.*)$", re.S
)
# Fields whose classes document them together in prose that does not split per field.
_KNOWN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ModelSpec": {
        "id": "the model id sent to the provider",
        "context_window_tokens": "the model's context window, in tokens",
        "output_token_capacity": "the most output tokens a call may produce (sent as the output cap)",
        "reasoning_effort": "the reasoning effort asked for (e.g. low, medium, high), when the model reasons",
        "cache_dialect": "how the provider marks prompt-cache breakpoints (openai, anthropic, gemini, none)",
        "reasoning_dialect": "how the provider asks for reasoning (openai, openrouter, none)",
        "attachment_media_types": "media types the model accepts (patterns such as image/* allowed)",
        "structured_output": "whether the model can be asked for structured output (JSON, JSON schema)",
    },
    "JsonlTraceSettings": {
        "directory": "the directory of the trace files, one <session id>.jsonl per session",
        "redact": "values replaced by [redacted] before anything is written (secrets are added for you)",
    },
}
_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _docstring_parts(cls: type) -> tuple[str, dict[str, str]]:
    """The class summary and per-field descriptions found in its docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    paragraphs = [p for p in re.split(r"\n\s*\n", doc) if p.strip()]
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    fields = _google_attributes(doc)
    body = "\n".join(paragraphs[1:]) if len(paragraphs) > 1 else ""
    # Segments: bullets, lines starting with a ``name``, or sentences split by "; ``name``".
    segments = re.split(
        r"\n(?=\s*[*-]\s)|\n(?=\s*``[A-Za-z_][A-Za-z0-9_.]*``\s*[:/,])|;\s+(?=``)"
        r"|(?<=\.)\s+(?=``[A-Za-z_][A-Za-z0-9_.]*``(?:\s|:))",
        body,
    )
    if paragraphs and paragraphs[0].lstrip().startswith("``"):
        segments.insert(0, paragraphs[0])
    for segment in segments:
        match = _NAMES.match(segment)
        if not match:
            continue
        text = " ".join(match.group(2).split())
        text = re.sub(r"``([^`]+)``", r"`\1`", re.sub(r"^(is|are)\s+", "", text)).rstrip(";")
        for name in re.findall(r"``([A-Za-z_][A-Za-z0-9_.]*)``", match.group(1)):
            if text and name not in fields:
                fields[name.split(".")[-1]] = text
    return summary, fields


def _google_attributes(doc: str) -> dict[str, str]:
    """Field descriptions from a Google-style ``Attributes:`` section."""
    fields: dict[str, str] = {}
    section = re.search(r"^(Attributes|Fields|Settings):\s*\n((?:[ \t]+.*\n?|\s*\n)+)", doc, re.M)
    if section is None:
        return fields
    current: str | None = None
    for line in section.group(2).splitlines():
        match = re.match(r"^\s{2,8}([A-Za-z_][A-Za-z0-9_]*)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if match and (current is None or len(line) - len(line.lstrip()) <= 8):
            current = match.group(1)
            fields[current] = match.group(2).strip()
        elif current is not None and line.strip():
            fields[current] = f"{fields[current]} {line.strip()}".strip()
    return {k: re.sub(r"``([^`]+)``", r"`\1`", v) for k, v in fields.items()}


def _is_optional(typ: Any) -> bool:
    return type(None) in typing.get_args(typ) and (
        isinstance(typ, types.UnionType) or typing.get_origin(typ) is typing.Union
    )


class SchemaBuilder:
    """Builds schemas that share ``$defs`` (each attrs class once, referenced by name)."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self._names: dict[type, str] = {}

    def type_schema(self, typ: Any) -> dict[str, Any]:
        """The schema of one Python type."""
        if typ is Any or typ is object:
            return {}
        if typ in _SIMPLE:
            return {"type": _SIMPLE[typ]}
        if isinstance(typ, type) and issubclass(typ, enum.Enum):
            values = [m.value for m in typ]
            schema: dict[str, Any] = {"enum": values}
            if all(isinstance(v, str) for v in values):
                schema["type"] = "string"
            return schema
        if isinstance(typ, type) and attrs.has(typ):
            return {"$ref": f"#/$defs/{self.define(typ)}"}
        origin, args = typing.get_origin(typ), typing.get_args(typ)
        if origin is typing.Literal:
            return {"enum": list(args)}
        if isinstance(typ, types.UnionType) or origin is typing.Union:
            members = [self.type_schema(a) for a in args]
            simple = [m.get("type") for m in members]
            if all(isinstance(t, str) and len(m) == 1 for t, m in zip(simple, members, strict=True)):
                return {"type": simple}
            return {"anyOf": members}
        if origin in (tuple, list, Sequence, set, frozenset):
            item = args[0] if args else Any
            return {"type": "array", "items": self.type_schema(item)}
        if origin in (dict, Mapping):
            value = args[1] if len(args) == 2 else Any
            return {"type": "object", "additionalProperties": self.type_schema(value)}
        return {}

    def define(self, cls: type) -> str:
        """Add ``cls`` to ``$defs`` (once) and return its name there."""
        name = self._names.get(cls)
        if name is not None:
            return name
        name = cls.__name__
        if name in self.defs:
            name = f"{cls.__module__}.{cls.__qualname__}"
        self._names[cls] = name
        self.defs[name] = {}  # placeholder: recursive references resolve to it
        self.defs[name] = self.object_schema(cls)
        return name

    def object_schema(self, cls: type, *, skip: Sequence[str] = ()) -> dict[str, Any]:
        """The schema of an attrs class itself (not a reference)."""
        summary, documented = _docstring_parts(cls)
        for base in cls.__mro__[1:]:
            if attrs.has(base):
                documented = {**_docstring_parts(base)[1], **documented}
        documented = {**documented, **_KNOWN_DESCRIPTIONS.get(cls.__name__, {})}
        try:
            hints = typing.get_type_hints(cls)
        except Exception:
            hints = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        tag = cls.__dict__.get("TAG")
        if isinstance(tag, str):
            properties["type"] = {"const": tag}
        for field in attrs.fields(cls):
            if field.name in skip or field.metadata.get("live"):
                continue
            schema = dict(self.type_schema(hints.get(field.name, field.type)))
            description = field.metadata.get("description") or field.metadata.get("help")
            description = description or documented.get(field.name)
            if description:
                schema["description"] = description
            if field.default is attrs.NOTHING:
                required.append(field.name)
            else:
                default = _default_value(field)
                if default is not _NO_DEFAULT:
                    schema["default"] = default
            properties[field.name] = schema
        result: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if summary:
            result["description"] = summary
        if required:
            result["required"] = required
        return result


_NO_DEFAULT = object()


def _default_value(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return _NO_DEFAULT
        try:
            default = default.factory()
        except Exception:
            return _NO_DEFAULT
    try:
        value = unstructure(default)
        json.dumps(value)
    except Exception:
        return _NO_DEFAULT
    return value


def attrs_schema(cls: type) -> dict[str, Any]:
    """A standalone JSON Schema of one attrs settings class (``$defs`` included)."""
    builder = SchemaBuilder()
    schema = builder.object_schema(cls)
    if builder.defs:
        schema["$defs"] = builder.defs
    return schema


def _component_schema(builder: SchemaBuilder, registry: Registry, kind: str, what: str) -> dict[str, Any]:
    registrations = sorted(registry.components[kind].items())
    choices = [
        {"const": name, **({"description": r.description} if r.description else {})}
        for name, r in registrations
    ]
    schema: dict[str, Any] = {
        "type": "object",
        "description": f"the {what}: a registered type and its settings",
        "properties": {
            "type": {
                "description": f"the registered {what} type",
                **({"anyOf": choices} if choices else {"type": "string"}),
            },
            "settings": {"type": "object", "description": f"the {what}'s own settings"},
        },
        "required": ["type"],
        "additionalProperties": False,
    }
    conditions = [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": {"settings": {"$ref": f"#/$defs/{builder.define(r.settings)}"}}},
        }
        for name, r in registrations
        if r.settings is not None
    ]
    if conditions:
        schema["allOf"] = conditions
    return schema


def config_schema(registry: Registry, installed: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON Schema of the whole configuration, for what ``registry`` holds.

    ``installed`` names plugins that may have an (empty) ``[plugins.<name>]`` table
    although they take no settings.
    """
    builder = SchemaBuilder()
    top = builder.object_schema(RuntimeConfig, skip=("enable_plugins", "disable_plugins"))
    props = top["properties"]
    kinds = {kind: kind.rstrip("s").replace("_", " ") for kind in COMPONENT_KINDS.values()}
    props["store"] = _component_schema(builder, registry, "stores", kinds["stores"])
    props["effect_host"] = _component_schema(builder, registry, "effect_hosts", kinds["effect_hosts"])
    props["protocol"] = _component_schema(builder, registry, "protocols", kinds["protocols"])
    props["trace_sinks"] = {
        "type": "array",
        "description": "where trace records go",
        "items": _component_schema(builder, registry, "trace_sinks", kinds["trace_sinks"]),
    }
    props["providers"] = {
        "type": "object",
        "description": "model providers by id (sessions use the one named by `provider`)",
        "additionalProperties": _component_schema(builder, registry, "providers", kinds["providers"]),
    }
    plugin_props: dict[str, Any] = {
        "enable": {"type": "array", "items": {"type": "string"}, "description": "load only these plugins"},
        "disable": {"type": "array", "items": {"type": "string"}, "description": "never load these plugins"},
    }
    for name in sorted(installed):
        plugin_props[name] = {
            "type": "object",
            "maxProperties": 0,
            "description": f"plugin {name} takes no settings",
        }
    for name, cls in sorted(registry.plugin_settings.items()):
        plugin_props[name] = {"$ref": f"#/$defs/{builder.define(cls)}"}
    props["plugins"] = {
        "type": "object",
        "description": "which plugins load, and each plugin's own settings table",
        "properties": plugin_props,
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lash.toml",
        "description": "The configuration a lash runtime is composed from.",
        **top,
        "$defs": builder.defs,
    }


def build_config_schema(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The schema for every installed plugin (``LASH_LOAD_PLUGINS`` / ``LASH_DISABLE_PLUGINS``
    in ``environ`` still apply; by default every plugin is loaded)."""
    from lash_core.config import installed_plugin_names
    from lash_core.plugins.manager import create_plugin_manager
    from lash_core.plugins.registry import build_registry

    loaded = create_plugin_manager(environ=environ or {})
    registry = build_registry(loaded)
    return config_schema(registry, installed=sorted(installed_plugin_names()))
