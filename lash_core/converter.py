"""The one cattrs converter: every un/structure hook of the data model lives here.

Rules:

* tagged unions carry their variant under ``"type"`` with the variant's explicit
  ``TAG`` (snake_case), never the class name; a variant unstructured on its own carries
  its tag too;
* fields equal to their default are omitted when writing and defaulted when reading;
* live fields (``metadata={"live": True}``) are never written;
* ``bytes`` are base64 text;
* a record that cannot be read raises :class:`~lash_core.errors.DecodeError` naming
  each failing field path (``$.items[0].type``).
"""

from __future__ import annotations

import base64
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args

import attrs
from cattrs import Converter, transform_error
from cattrs.cols import homogenous_tuple_structure_factory, mapping_structure_factory
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception

from lash_core import model
from lash_core.errors import DecodeError

__all__ = ["converter", "register_tagged_union", "structure", "to_json_dict", "unstructure"]

T = TypeVar("T")

TAGGED_UNIONS: tuple[Any, ...] = (
    model.ToolRetry,
    model.ToolOutcome,
    model.ToolControl,
    model.PruneState,
    model.MessageOrigin,
    model.AttachmentSource,
    model.InputItem,
    model.OutputSpec,
    model.TurnFinish,
    model.TurnStop,
    model.TurnOutcome,
    model.PluginRuntimeEvent,
    model.TurnEvent,
    model.LlmPart,
    model.LlmStreamEvent,
)

RENAMES: dict[tuple[type, str], str] = {(model.ToolFailure, "failure_class"): "class"}


class UnknownTag(ValueError):
    """An unknown ``type`` tag (reported with its path by :func:`structure`)."""


def _field_overrides(cls: type) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.metadata.get("live"):
            overrides[field.name] = override(omit=True)
        elif (cls, field.name) in RENAMES:
            overrides[field.name] = override(rename=RENAMES[(cls, field.name)])
    return overrides


def _is_tagged_variant(cls: Any) -> bool:
    return attrs.has(cls) and isinstance(cls.__dict__.get("TAG"), str)


def _build_converter() -> Converter:
    conv = Converter(omit_if_default=True, forbid_extra_keys=True, detailed_validation=True)

    _register_strict_scalars(conv)
    conv.register_unstructure_hook(bytes, lambda data: base64.b64encode(data).decode("ascii"))

    def structure_bytes(value: Any, _: Any) -> bytes:
        if not isinstance(value, str):
            raise WrongType(f"expected base64 text, found {_json_type(value)}")
        return base64.b64decode(value, validate=True)

    conv.register_structure_hook(bytes, structure_bytes)

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True, **_field_overrides(cls)
        )
        tag = cls.__dict__.get("TAG")
        if tag is None:
            return inner

        def tagged(value: Any) -> dict[str, Any]:
            data = inner(value)
            return {"type": tag, **data}

        return tagged

    def structure_factory(cls: type) -> Callable[[Any, Any], Any]:
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=True, **_field_overrides(cls)
        )
        tag = cls.__dict__.get("TAG")
        if tag is None:
            return inner

        def tagged(value: Any, typ: Any) -> Any:
            if isinstance(value, dict) and "type" in value:
                if value["type"] != tag:
                    raise UnknownTag(f"expected type {tag!r}, found {value['type']!r}")
                value = {k: v for k, v in value.items() if k != "type"}
            return inner(value, typ)

        return tagged

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)

    for union in TAGGED_UNIONS:
        _register_union(conv, union)
    return conv


def _register_union(conv: Converter, union: Any) -> None:
    variants: dict[str, type] = {}
    for cls in get_args(union):
        if not _is_tagged_variant(cls):
            raise TypeError(f"{cls!r} in a tagged union has no TAG")
        if cls.TAG in variants:
            raise TypeError(f"tag {cls.TAG!r} used by {variants[cls.TAG]!r} and {cls!r}")
        variants[cls.TAG] = cls
    expected = ", ".join(sorted(variants))

    def structure_union(value: Any, _: Any) -> Any:
        if not isinstance(value, dict):
            raise UnknownTag(
                f"expected an object with a 'type' tag ({expected}), found {type(value).__name__}"
            )
        tag = value.get("type")
        cls = variants.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise UnknownTag(f"unknown type tag {tag!r}; expected one of: {expected}")
        return conv.structure(value, cls)

    optional = union | None

    def matches(typ: Any) -> bool:
        return typ == union

    def matches_optional(typ: Any) -> bool:
        return typ == optional

    def structure_optional(value: Any, typ: Any) -> Any:
        return None if value is None else structure_union(value, typ)

    def unstructure_variant(value: Any) -> Any:
        return None if value is None else conv.unstructure(value, type(value))

    conv.register_structure_hook_func(matches, structure_union)
    conv.register_structure_hook_func(matches_optional, structure_optional)
    conv.register_unstructure_hook_func(matches, unstructure_variant)
    conv.register_unstructure_hook_func(matches_optional, unstructure_variant)


class WrongType(TypeError):
    """A JSON value of the wrong type (reported with its path by :func:`structure`)."""


def _json_type(value: Any) -> str:
    names = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _register_strict_scalars(conv: Converter) -> None:
    """Refuse values of the wrong JSON type instead of coercing them (``null`` is not ``"None"``)."""

    def strict(expected: type, accepts: tuple[type, ...], label: str) -> None:
        def hook(value: Any, _: Any) -> Any:
            if type(value) not in accepts:
                raise WrongType(f"expected {label}, found {_json_type(value)}")
            return expected(value)

        conv.register_structure_hook(expected, hook)

    strict(str, (str,), "a string")
    strict(int, (int,), "an integer")
    strict(float, (float, int), "a number")
    strict(bool, (bool,), "a boolean")

    def is_homogeneous_tuple(typ: Any) -> bool:
        return typing.get_origin(typ) is tuple and len(get_args(typ)) == 2 and get_args(typ)[1] is Ellipsis

    def tuple_factory(typ: Any) -> Callable[[Any, Any], Any]:
        inner = homogenous_tuple_structure_factory(typ, conv)

        def hook(value: Any, t: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise WrongType(f"expected an array, found {_json_type(value)}")
            return inner(value, t)

        return hook

    def is_str_mapping(typ: Any) -> bool:
        return typing.get_origin(typ) is dict

    def mapping_factory(typ: Any) -> Callable[[Any, Any], Any]:
        inner = mapping_structure_factory(typ, conv)

        def hook(value: Any, t: Any) -> Any:
            if not isinstance(value, dict):
                raise WrongType(f"expected an object, found {_json_type(value)}")
            return inner(value, t)

        return hook

    conv.register_structure_hook_factory(is_homogeneous_tuple, tuple_factory)
    conv.register_structure_hook_factory(is_str_mapping, mapping_factory)


converter: Converter = _build_converter()


def register_tagged_union(union: Any) -> None:
    """Teach the converter another tagged union (modules outside the model, such as the
    store's ingress and work payload unions, register theirs when they are defined)."""
    _register_union(converter, union)


def unstructure(value: Any, as_type: Any = None) -> Any:
    """Turn a model value into JSON-compatible data (dicts, lists, strings, numbers)."""
    if as_type is None:
        return converter.unstructure(value)
    return converter.unstructure(value, as_type)


def structure(data: Any, as_type: type[T] | Any) -> T:
    """Read a model value from JSON-compatible data.

    Raises :class:`DecodeError` whose message lists every failing field path, for
    example ``required field missing @ $.items[0].text``.
    """
    try:
        return typing.cast(T, converter.structure(data, as_type))
    except BaseValidationError as exc:
        problems = [_json_path(p) for p in transform_error(exc, path="$", format_exception=_format_problem)]
        raise DecodeError(f"cannot read {_type_name(as_type)}: " + "; ".join(problems), problems) from exc
    except (UnknownTag, ValueError, TypeError, KeyError, AttributeError) as exc:
        if isinstance(exc, AttributeError):
            exc = WrongType(f"expected an object, found {_json_type(data)}")
        raise DecodeError(f"cannot read {_type_name(as_type)}: {exc} @ $", [f"{exc} @ $"]) from exc


def to_json_dict(value: Any) -> Any:
    """Alias of :func:`unstructure` for readability at call sites that write JSON."""
    return converter.unstructure(value)


def _format_problem(exc: BaseException, typ: Any) -> str:
    if isinstance(exc, UnknownTag | WrongType):
        return str(exc)
    if isinstance(exc, AttributeError):
        return "expected an object"
    if isinstance(exc, ValueError) and type(exc) is ValueError and str(exc):
        return f"invalid value: {exc}"
    return format_exception(exc, typ)


_RENAMED_PATHS = {f".{name}": f".{key}" for (_, name), key in RENAMES.items()}


def _json_path(problem: str) -> str:
    """Report renamed fields by their JSON key (``$.class``, not ``$.failure_class``)."""
    for python_name, json_key in _RENAMED_PATHS.items():
        problem = problem.replace(python_name + " ", json_key + " ").replace(
            python_name + ".", json_key + "."
        )
        if problem.endswith(python_name):
            problem = problem[: -len(python_name)] + json_key
    return problem


def _type_name(typ: Any) -> str:
    if isinstance(typ, type):
        return typ.__name__
    if isinstance(typ, types.UnionType) or typing.get_origin(typ) is typing.Union:
        return " | ".join(getattr(a, "__name__", str(a)) for a in get_args(typ))
    return str(typ)
