"""JSON Schema from Python type annotations, and argument schemas from typed functions.

Supported annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, ``list[X]``,
``tuple[X, ...]`` (and fixed ``tuple[X, Y]``), ``dict[str, X]``, unions (``X | None`` is
nullable), ``Literal[...]``, ``Enum`` subclasses, attrs classes, ``typing.Any`` and
``Annotated[X, "description"]``. Anything else raises
:class:`~lash_core.errors.ToolDefinitionError` naming the parameter and the type.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import attrs

from lash_core.errors import ToolDefinitionError
from lash_core.tools.contract import ToolContext

__all__ = ["CONTEXT_PARAMETER", "function_schema", "json_schema_for"]

CONTEXT_PARAMETER = "context"
"""A parameter of this name annotated ``ToolContext`` receives the tool context."""

_SUPPORTED = (
    "str, int, float, bool, None, list[X], tuple[X, ...], dict[str, X], X | None, "
    "Literal[...], Enum subclasses, attrs classes, Any, Annotated[X, 'description']"
)
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARGS_HEADER = re.compile(r"^(Args|Arguments):\s*$")
_ARGS_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


class _Unsupported(Exception):
    """Raised inside the schema builder; turned into a ToolDefinitionError by the callers."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def json_schema_for(annotation: Any, name: str = "value") -> dict[str, Any]:
    """Return the JSON Schema of values of ``annotation``.

    ``name`` is the parameter the annotation belongs to; errors name it. Raises
    :class:`ToolDefinitionError` for annotations that have no JSON shape.
    """
    try:
        return _schema(annotation, name, frozenset())
    except _Unsupported as exc:
        raise ToolDefinitionError(f"parameter {exc.path!r}: {exc.reason}") from None


def function_schema(fn: Callable[..., Any]) -> tuple[dict[str, Any], str]:
    """Return the argument object schema of ``fn`` and its description.

    The schema lists each parameter with its type, description and JSON default;
    parameters without a default are required. ``context: ToolContext`` (or
    ``ToolContext | None``) receives the tool context and is left out. The description
    is the docstring's first paragraph. Per-parameter descriptions come from
    ``Annotated[X, "text"]`` or, failing that, a Google-style ``Args:`` section.
    """
    label = f"{getattr(fn, '__qualname__', repr(fn))}()"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(
            f"cannot resolve the type annotations of {label}: {type(exc).__name__}: {exc}; "
            "define the types used in annotations at module level"
        ) from exc
    doc = inspect.getdoc(fn) or ""
    arg_docs = _parse_args_section(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        _check_parameter(param, hints, label)
        annotation = hints[param.name]
        if _is_context(annotation):
            if param.name != CONTEXT_PARAMETER:
                raise ToolDefinitionError(
                    f"parameter {param.name!r} of {label} is annotated ToolContext; "
                    f"name it {CONTEXT_PARAMETER!r} so lash passes the tool context to it"
                )
            continue
        try:
            prop = _schema(annotation, param.name, frozenset())
        except _Unsupported as exc:
            raise ToolDefinitionError(f"parameter {exc.path!r} of {label}: {exc.reason}") from None
        if "description" not in prop and param.name in arg_docs:
            prop = {**prop, "description": arg_docs[param.name]}
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif (default := _json_default(param.default)) is not None:
            prop = {**prop, "default": default[0]}
        properties[param.name] = prop
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return schema, _first_paragraph(doc)


def _first_paragraph(doc: str) -> str:
    """Return the first paragraph of a cleaned docstring, its lines joined by spaces."""
    lines: list[str] = []
    for line in doc.strip().splitlines():
        if not line.strip() or _ARGS_HEADER.match(line.strip()):
            break
        lines.append(line.strip())
    return " ".join(lines)


def _parse_args_section(doc: str) -> dict[str, str]:
    """Return ``{parameter: description}`` from a Google-style ``Args:`` section.

    Entries are ``name: text`` (or ``name (type): text``); lines indented deeper than
    the entry continue it. The section ends at the first line indented no deeper than
    its header.
    """
    result: dict[str, str] = {}
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if _ARGS_HEADER.match(line.strip())), None)
    if start is None:
        return result
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        match = _ARGS_ENTRY.match(line.strip())
        if indent <= entry_indent and match:
            current = match.group(1)
            result[current] = match.group(2).strip()
        elif current is not None:
            result[current] = f"{result[current]} {line.strip()}".strip()
    return result


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _check_parameter(param: inspect.Parameter, hints: dict[str, Any], label: str) -> None:
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        star = "*" if param.kind is inspect.Parameter.VAR_POSITIONAL else "**"
        raise ToolDefinitionError(
            f"{label} takes {star}{param.name}; a tool takes named arguments only: "
            "declare each argument as its own typed parameter"
        )
    if param.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise ToolDefinitionError(
            f"parameter {param.name!r} of {label} is positional-only; remove the '/' "
            "so lash can pass it by name"
        )
    if param.name not in hints:
        raise ToolDefinitionError(
            f"parameter {param.name!r} of {label} has no type annotation; annotate it "
            f"(for example `{param.name}: str`) so lash can build the argument schema"
        )


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_context(annotation: Any) -> bool:
    """True for ``ToolContext`` (also ``Annotated`` or ``| None``)."""
    annotation = _strip_annotated(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return len(members) == 1 and _strip_annotated(members[0]) is ToolContext
    return annotation is ToolContext


def _json_default(value: Any) -> tuple[Any] | None:
    """The default as a one-tuple when it is a plain JSON scalar (or an Enum of one)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, str | int | float | bool):
        return (value,)
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _schema(tp: Any, path: str, seen: frozenset[type]) -> dict[str, Any]:
    """The schema of ``tp``; ``path`` names where it occurs, ``seen`` guards recursion."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        schema = _schema(args[0], path, seen)
        notes = [meta for meta in tp.__metadata__ if isinstance(meta, str)]
        return {**schema, "description": " ".join(notes)} if notes else schema
    if tp is Any:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if origin is Literal:
        return _enum_schema(list(args), path, f"Literal values of {_type_name(tp)}")
    if origin is Union or origin is types.UnionType:
        return _union_schema(args, path, seen)
    if tp is list or origin is list:
        return {"type": "array", "items": _schema(args[0], f"{path}[]", seen)} if args else {"type": "array"}
    if tp is tuple or origin is tuple:
        return _tuple_schema(args, path, seen)
    if tp is dict or origin is dict:
        return _dict_schema(tp, args, path, seen)
    if origin is None and isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([member.value for member in tp], path, f"values of {tp.__qualname__}")
    if origin is None and isinstance(tp, type) and attrs.has(tp):
        return _attrs_schema(tp, path, seen)
    raise _Unsupported(path, f"type {_type_name(tp)} is not supported; use one of: {_SUPPORTED}")


def _enum_schema(values: list[Any], path: str, what: str) -> dict[str, Any]:
    kinds = {_json_type(value, path, what) for value in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _json_type(value: Any, path: str, what: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    raise _Unsupported(path, f"{what} must be str, int, bool or None, got {value!r}")


def _union_schema(args: tuple[Any, ...], path: str, seen: frozenset[type]) -> dict[str, Any]:
    members = [arg for arg in args if arg is not type(None)]
    nullable = len(members) < len(args)
    if len(members) == 1:
        schema = _schema(members[0], path, seen)
        return _nullable(schema) if nullable else schema
    options = [_schema(member, path, seen) for member in members]
    if nullable:
        options.append({"type": "null"})
    return {"anyOf": options}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Allow ``null`` in addition to what ``schema`` allows."""
    if not schema:
        return schema
    kind = schema.get("type")
    if isinstance(kind, str) and "anyOf" not in schema:
        result = {**schema, "type": [kind, "null"]}
        if "enum" in schema and None not in schema["enum"]:
            result["enum"] = [*schema["enum"], None]
        return result
    description = {"description": schema["description"]} if "description" in schema else {}
    inner = {key: value for key, value in schema.items() if key != "description"}
    return {"anyOf": [inner, {"type": "null"}], **description}


def _tuple_schema(args: tuple[Any, ...], path: str, seen: frozenset[type]) -> dict[str, Any]:
    if not args:
        return {"type": "array"}
    if len(args) == 2 and args[1] is Ellipsis:
        return {"type": "array", "items": _schema(args[0], f"{path}[]", seen)}
    items = [_schema(arg, f"{path}[{index}]", seen) for index, arg in enumerate(args)]
    return {
        "type": "array",
        "prefixItems": items,
        "items": False,
        "minItems": len(args),
        "maxItems": len(args),
    }


def _dict_schema(tp: Any, args: tuple[Any, ...], path: str, seen: frozenset[type]) -> dict[str, Any]:
    if not args:
        return {"type": "object"}
    if _strip_annotated(args[0]) is not str:
        raise _Unsupported(
            path, f"type {_type_name(tp)} is not supported: JSON object keys are strings, use dict[str, X]"
        )
    return {"type": "object", "additionalProperties": _schema(args[1], f"{path}[]", seen)}


def _attrs_schema(cls: type, path: str, seen: frozenset[type]) -> dict[str, Any]:
    if cls in seen:
        raise _Unsupported(
            path, f"attrs class {cls.__qualname__} refers to itself; recursive types are not supported"
        )
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise _Unsupported(path, f"cannot resolve the annotations of {cls.__qualname__}: {exc}") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        prop = _schema(hints.get(field.name, Any), f"{path}.{field.name}", seen | {cls})
        if field.default is attrs.NOTHING:
            required.append(field.name)
        elif (default := _json_default(field.default)) is not None:
            prop = {**prop, "default": default[0]}
        properties[field.name] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if cls.__doc__:
        schema["description"] = _first_paragraph(inspect.cleandoc(cls.__doc__))
    return schema
