"""Projecting JSON schemas onto what the Messages API accepts: a tool's ``input_schema``,
and the schema of a structured-output spec (``output_config.format``).

The API takes JSON Schema nearly as written, with two rules at the top level: it must be
an object schema (``type: object``), and it may not be a combinator (``anyOf``, ``oneOf``,
``allOf``). So the projection

* drops ``$schema`` and makes the top level an object with ``properties``;
* folds a top-level ``allOf`` into one object (properties merged, every ``required``
  kept) and a top-level ``anyOf`` / ``oneOf`` into one object offering the union of the
  options' properties, requiring only what every option requires; local ``$ref``s to
  ``$defs`` / ``definitions`` among those options are followed.

Nothing is lost by the looser schema: the kernel validates the model's arguments against
the tool's original schema.

An output schema loses ``$schema`` and has every object schema closed
(``additionalProperties: false``, which the API requires of structured outputs) unless it
says otherwise; one that says otherwise is sent as written, for the API to judge.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["project_input_schema", "project_output_schema"]

_COMBINATORS = ("allOf", "anyOf", "oneOf")


def _resolve(option: Any, root: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(option, dict):
        return None
    ref = option.get("$ref")
    if isinstance(ref, str):
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                target = (root.get(prefix[2:-1]) or {}).get(ref[len(prefix) :])
                return target if isinstance(target, dict) else None
        return None
    return option


def _fold(schema: dict[str, Any], key: str) -> None:
    options = [_resolve(o, schema) for o in schema.pop(key) or ()]
    objects = [o for o in options if o is not None]
    properties: dict[str, Any] = schema.setdefault("properties", {})
    required = list(schema.get("required") or ())
    if key == "allOf":
        for option in objects:
            properties.update(option.get("properties") or {})
            required += [r for r in option.get("required") or () if r not in required]
    else:
        shared: set[str] | None = None
        for option in objects:
            for name, sub in (option.get("properties") or {}).items():
                properties.setdefault(name, sub)
            wanted = set(option.get("required") or ())
            shared = wanted if shared is None else shared & wanted
        required += sorted((shared or set()) - set(required))
    if required:
        schema["required"] = required


def project_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``input_schema`` to send for a tool's JSON schema (see the module docs)."""
    out = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    out.pop("$schema", None)
    for key in _COMBINATORS:
        if key in out:
            _fold(out, key)
    out["type"] = "object"
    out.setdefault("properties", {})
    return out


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SUBSCHEMAS = ("items", "prefixItems", "anyOf", "allOf", "oneOf", "not", "additionalProperties", "contains")


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
        node.setdefault("additionalProperties", False)
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            for sub in value.values():
                _close(sub)
        elif key in _SUBSCHEMAS:
            _close(value)


def project_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``schema`` of ``output_config.format`` for an output spec's schema (see the module docs)."""
    out = copy.deepcopy(schema) if isinstance(schema, dict) else {}
    out.pop("$schema", None)
    _close(out)
    return out
