"""Projecting a tool's JSON schema onto what the OpenAI APIs accept.

Non-strict tools get the schema nearly as written (``$schema`` dropped, the top level made
an object). Strict tools (``ToolSpec.strict`` or the ``strict_tools`` setting) must use the
subset OpenAI's structured outputs accept: every object closed
(``additionalProperties: false``) with every property required, optional properties made
nullable instead, and keywords outside the subset dropped (the kernel still validates
the arguments against the original schema, so nothing is lost). A schema that cannot be
projected (open maps, ``allOf``, ``patternProperties``) is sent non-strict.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["project_parameters"]

_DROP_STRICT = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
        "uniqueItems",
    }
)
_UNPROJECTABLE = frozenset({"allOf", "patternProperties"})


class _NotStrict(Exception):
    pass


def _top_level(schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("$schema", None)
    if schema.get("type") is None and "properties" not in schema:
        schema = {"type": "object", "properties": {}, **schema}
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return schema


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    kind = node.get("type")
    if isinstance(kind, str):
        if kind != "null":
            node["type"] = [kind, "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        return node
    if isinstance(kind, list):
        if "null" not in kind:
            node["type"] = [*kind, "null"]
        return node
    if "anyOf" in node:
        if not any(option.get("type") == "null" for option in node["anyOf"] if isinstance(option, dict)):
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
        return node
    return {"anyOf": [node, {"type": "null"}]}


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    if _UNPROJECTABLE & node.keys():
        raise _NotStrict
    out = {key: value for key, value in node.items() if key not in _DROP_STRICT}
    is_object = out.get("type") == "object" or "properties" in out
    if is_object:
        extra = out.get("additionalProperties", False)
        if extra not in (False, None):
            raise _NotStrict
        properties = out.get("properties") or {}
        required = set(out.get("required") or ())
        projected = {}
        for name, sub in properties.items():
            sub = _strict(sub)
            projected[name] = sub if name in required else _nullable(sub)
        out["properties"] = projected
        out["required"] = list(projected)
        out["additionalProperties"] = False
    for key in ("items", "anyOf", "oneOf", "prefixItems"):
        if key in out:
            out[key] = _strict(out[key])
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    for key in ("$defs", "definitions"):
        if key in out and isinstance(out[key], dict):
            out[key] = {name: _strict(sub) for name, sub in out[key].items()}
    return out


def project_parameters(schema: dict[str, Any], *, strict: bool) -> tuple[dict[str, Any], bool]:
    """``(parameters, strict)`` to send for a tool's input schema; ``strict`` comes back
    ``False`` when the schema cannot be made strict."""
    base = _top_level(copy.deepcopy(schema))
    if not strict:
        return base, False
    try:
        return _strict(base), True
    except _NotStrict:
        return base, False
