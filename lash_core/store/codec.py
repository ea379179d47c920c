"""JSON forms of the store records, for stores that persist them (SQLite, PostgreSQL, ...).

:func:`encode` turns any store record (or model value) into JSON-compatible data and
:func:`decode` reads it back, including the store's tagged unions
(:data:`~lash_core.store.inputs.InputIngress`,
:data:`~lash_core.store.queued_work.WorkPayload`): variants carry their ``TAG`` under
``"type"``. :func:`canonical_json` is the text to compare when the contract asks for
"the same content" (source-key idempotency).

It uses a copy of the kernel converter, so the kernel's own converter is untouched.
"""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Callable
from typing import Any, TypeVar, get_args

import attrs
from cattrs import Converter
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from lash_core.converter import converter as _kernel_converter
from lash_core.errors import DecodeError
from lash_core.model import TurnInput
from lash_core.store.inputs import InputIngress
from lash_core.store.queued_work import WorkPayload

__all__ = ["canonical_json", "decode", "encode", "input_content_digest"]

T = TypeVar("T")

_UNIONS: tuple[Any, ...] = (InputIngress, WorkPayload)


def _is_store_record(cls: Any) -> bool:
    return attrs.has(cls) and cls.__module__.startswith("lash_core.store.")


def _build() -> Converter:
    conv = _kernel_converter.copy()

    # Store records are generated against this converter so their union fields find the hooks below.
    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True
        )
        tag = cls.__dict__.get("TAG")
        if tag is None:
            return inner

        def tagged(value: Any) -> dict[str, Any]:
            return {"type": tag, **inner(value)}

        return tagged

    def structure_factory(cls: type) -> Callable[[Any, Any], Any]:
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True)
        tag = cls.__dict__.get("TAG")
        if tag is None:
            return inner

        def tagged(value: Any, typ: Any) -> Any:
            if isinstance(value, dict) and "type" in value:
                if value["type"] != tag:
                    raise ValueError(f"expected type {tag!r}, found {value['type']!r}")
                value = {k: v for k, v in value.items() if k != "type"}
            return inner(value, typ)

        return tagged

    variants: dict[Any, dict[str, type]] = {
        union: {cls.TAG: cls for cls in get_args(union)} for union in _UNIONS
    }

    def is_union(typ: Any) -> bool:
        return any(typ == union for union in _UNIONS)

    def structure_union(value: Any, typ: Any) -> Any:
        known = next(v for union, v in variants.items() if typ == union)
        tag = value.get("type") if isinstance(value, dict) else None
        cls = known.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise ValueError(f"unknown type tag {tag!r}; expected one of: {', '.join(sorted(known))}")
        return conv.structure(value, cls)

    def unstructure_variant(value: Any) -> Any:
        return conv.unstructure(value, type(value))

    def is_store_tuple(typ: Any) -> bool:
        args = get_args(typ)
        return (
            typing.get_origin(typ) is tuple
            and len(args) == 2
            and args[1] is Ellipsis
            and (is_union(args[0]) or _is_store_record(args[0]))
        )

    def structure_store_tuple(value: Any, typ: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected an array, found {type(value).__name__}")
        item_type = get_args(typ)[0]
        return tuple(conv.structure(item, item_type) for item in value)

    conv.register_unstructure_hook_factory(_is_store_record, unstructure_factory)
    conv.register_structure_hook_factory(_is_store_record, structure_factory)
    conv.register_structure_hook_func(is_union, structure_union)
    conv.register_unstructure_hook_func(is_union, unstructure_variant)
    conv.register_structure_hook_func(is_store_tuple, structure_store_tuple)
    return conv


_converter = _build()


def encode(value: Any) -> Any:
    """JSON-compatible data for a store record or model value."""
    return _converter.unstructure(value)


def decode(data: Any, as_type: type[T] | Any) -> T:
    """Read a store record (or one of the store's unions) from JSON-compatible data; a
    :class:`~lash_core.errors.DecodeError` names what could not be read."""
    try:
        return typing.cast(T, _converter.structure(data, as_type))
    except (BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        name = getattr(as_type, "__name__", str(as_type))
        raise DecodeError(f"cannot read {name} from the store: {exc}; the store data is damaged") from exc


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value (sorted keys, no spaces): equal content, equal text."""
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_content_digest(ingress: InputIngress, turn_input: TurnInput) -> str:
    """sha256 of the canonical JSON of a pending input's ingress and input *as submitted*.

    Source-key idempotency compares this digest, recorded at enqueue time, so a row whose
    ingress the store later rewrote (a deferred active input) still matches its retry.
    """
    return hashlib.sha256(canonical_json([ingress, turn_input]).encode()).hexdigest()
