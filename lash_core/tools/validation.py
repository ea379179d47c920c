"""Decoding and validating tool-call arguments.

The model sends arguments as JSON text; :func:`parse_arguments` decodes it into an
object and :class:`ArgumentValidator` checks it against the tool's input schema. Both
raise :class:`ArgumentError` whose message is written for the model to act on, e.g.
``argument 'count': 'x' is not of type 'integer'; missing required argument 'path'``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import ValidationError  # type: ignore[import-untyped]

__all__ = ["ArgumentError", "ArgumentValidator", "parse_arguments", "validator_for"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CACHE_LIMIT = 512
_cache: dict[str, ArgumentValidator] = {}

PathKey = tuple[tuple[int, int, str], ...]
Check = Callable[[Any], bool]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
_ANNOTATIONS = {"description", "default", "title", "examples", "$comment"}
_OBJECT_KEYWORDS = {"properties", "required", "additionalProperties"}
_ARRAY_KEYWORDS = {"items", "prefixItems", "minItems", "maxItems"}
_FAST_KEYWORDS = {"type", "enum", "anyOf", *_OBJECT_KEYWORDS, *_ARRAY_KEYWORDS, *_ANNOTATIONS}


class ArgumentError(ValueError):
    """Tool-call arguments that cannot be decoded or do not match the schema."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_arguments(raw: str) -> dict[str, Any]:
    """Decode the JSON text of a tool call's arguments into an object.

    An empty (or blank) string means no arguments, ``{}``. Raises :class:`ArgumentError`
    when the text is not JSON or not a JSON object.
    """
    if not raw or raw.isspace():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ArgumentError(
            f"arguments are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise ArgumentError(f"arguments must be a JSON object, got {kind}")
    return value


class ArgumentValidator:
    """Validates decoded arguments against one JSON Schema (Draft 2020-12).

    The schema is checked and compiled once, at construction. Valid arguments usually
    take a fast path: a checker compiled from the schema's common keywords (``type``,
    ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ...)
    that answers "certainly valid" in a few microseconds. Anything it is not sure of,
    and every invalid input, goes to jsonschema, which decides and explains.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        """Check ``schema`` and compile its validator; raises ``jsonschema.SchemaError`` if invalid."""
        # jsonschema is imported here, not at module level: it is a large import that only
        # registering tools needs.
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(schema)
        self._fast_check = _compile(schema)

    def validate(self, args: Any) -> None:
        """Return if ``args`` match the schema; otherwise raise :class:`ArgumentError`.

        The message lists every problem, sorted by field path, joined with ``"; "``.
        """
        if self._fast_check is not None and self._fast_check(args):
            return
        errors = list(self._validator.iter_errors(args))
        if errors:
            raise ArgumentError("; ".join(_messages(errors)))


def validator_for(schema: dict[str, Any]) -> ArgumentValidator:
    """Return a cached :class:`ArgumentValidator` for ``schema`` (keyed by its canonical JSON)."""
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    validator = _cache.get(key)
    if validator is None:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        validator = _cache[key] = ArgumentValidator(schema)
    return validator


def _messages(errors: Iterable[ValidationError]) -> list[str]:
    """One message per problem, without duplicates, sorted by path then text."""
    problems: dict[tuple[PathKey, str], None] = {}
    for error in errors:
        for path, message in _describe(error):
            problems[(_sort_key(path), message)] = None
    return [message for _, message in sorted(problems)]


def _describe(error: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """The ``(path, message)`` problems one jsonschema error stands for."""
    path = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield (*path, name), f"missing required argument {_format_path((*path, name))!r}"
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {})
        patterns = [re.compile(pattern) for pattern in error.schema.get("patternProperties", {})]
        for name in instance:
            if name not in known and not any(pattern.search(name) for pattern in patterns):
                yield (*path, name), f"unexpected argument {_format_path((*path, name))!r}"
    elif path:
        yield path, f"argument {_format_path(path)!r}: {error.message}"
    else:
        yield path, f"arguments: {error.message}"


def _format_path(path: Iterable[str | int]) -> str:
    """``("items", 1, "name")`` as ``items[1].name``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _sort_key(path: tuple[str | int, ...]) -> PathKey:
    """A key that orders paths element-wise, indexes numerically, mixing ints and strings safely."""
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in path)


# The fast path. A compiled check returns True only when the value is certainly valid
# under Draft 2020-12; False means "ask jsonschema". It is conservative where Python and
# JSON Schema disagree: ``type(value) is int`` rejects ``True`` and ``1.0`` (jsonschema
# counts ``1.0`` as an integer, and it gets the final word). ``_compile`` returns None
# for a schema using any keyword it does not know; such schemas always use jsonschema.


def _accept(value: Any) -> bool:
    return True


def _reject(value: Any) -> bool:
    return False


def _compile(schema: Any) -> Check | None:
    """A "certainly valid" check for ``schema``, or None if it uses other keywords."""
    if schema is True:
        return _accept
    if schema is False:
        return _reject
    if not isinstance(schema, dict) or not schema.keys() <= _FAST_KEYWORDS:
        return None
    checks: list[Check | None] = []
    if "type" in schema:
        checks.append(_compile_type(schema["type"]))
    if "enum" in schema:
        checks.append(_compile_enum(schema["enum"]))
    if "anyOf" in schema:
        checks.append(_compile_any_of(schema["anyOf"]))
    if schema.keys() & _OBJECT_KEYWORDS:
        checks.append(_compile_object(schema))
    if schema.keys() & _ARRAY_KEYWORDS:
        checks.append(_compile_array(schema))
    compiled = [check for check in checks if check is not None]
    if len(compiled) < len(checks):
        return None
    if not compiled:
        return _accept
    if len(compiled) == 1:
        return compiled[0]
    return lambda value: all(check(value) for check in compiled)


def _compile_type(kind: Any) -> Check | None:
    names = [kind] if isinstance(kind, str) else kind
    if not isinstance(names, list) or not all(name in _JSON_TYPES for name in names):
        return None
    allowed = frozenset(python for name in names for python in _JSON_TYPES[name])
    return lambda value: type(value) in allowed


def _compile_enum(values: Any) -> Check | None:
    if not isinstance(values, list) or not all(
        isinstance(v, str | int | float | bool | None) for v in values
    ):
        return None
    allowed = frozenset((type(v), v) for v in values)
    return lambda value: (
        isinstance(value, str | int | float | bool | None) and (type(value), value) in allowed
    )


def _compile_any_of(options: Any) -> Check | None:
    checks = [_compile(option) for option in options] if isinstance(options, list) else [None]
    compiled = [check for check in checks if check is not None]
    if len(compiled) < len(checks):
        return None
    return lambda value: any(check(value) for check in compiled)


def _compile_object(schema: dict[str, Any]) -> Check | None:
    properties = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    additional = _compile(schema.get("additionalProperties", True))
    if additional is None or None in properties.values():
        return None
    checks: dict[str, Check] = {name: check for name, check in properties.items() if check is not None}
    required = frozenset(schema.get("required", ()))

    def check(value: Any) -> bool:
        if type(value) is not dict:
            return True
        if not required <= value.keys():
            return False
        for name, item in value.items():
            if not checks.get(name, additional)(item):
                return False
        return True

    return check


def _compile_array(schema: dict[str, Any]) -> Check | None:
    prefix = [_compile(sub) for sub in schema.get("prefixItems", ())]
    rest = _compile(schema.get("items", True))
    if rest is None or None in prefix:
        return None
    head: list[Check] = [check for check in prefix if check is not None]
    low, high = schema.get("minItems", 0), schema.get("maxItems")

    def check(value: Any) -> bool:
        if type(value) is not list:
            return True
        if len(value) < low or (high is not None and len(value) > high):
            return False
        for index, item in enumerate(value):
            if not (head[index] if index < len(head) else rest)(item):
                return False
        return True

    return check
