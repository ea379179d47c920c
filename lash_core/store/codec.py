"""JSON forms of the store records, for stores that persist them (SQLite, PostgreSQL, ...).

:func:`encode` turns any store record (or model value) into JSON-compatible data and
:func:`decode` reads it back, including the store's tagged unions
(:data:`~lash_core.store.inputs.InputIngress`,
:data:`~lash_core.store.queued_work.WorkPayload`): variants carry their ``TAG`` under
``"type"``. :func:`canonical_json` is the text to compare when the contract asks for
"the same content" (source-key idempotency).

It is the kernel converter (:mod:`lash_core.converter`); the store's unions register
themselves there where they are defined.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from lash_core.converter import structure, unstructure
from lash_core.errors import DecodeError
from lash_core.model import TurnInput
from lash_core.store.inputs import InputIngress

__all__ = ["canonical_json", "decode", "encode", "input_content_digest"]

T = TypeVar("T")


def encode(value: Any) -> Any:
    """JSON-compatible data for a store record or model value (the kernel converter)."""
    return unstructure(value)


def decode(data: Any, as_type: type[T] | Any) -> T:
    """Read a store record (or one of the store's unions) from JSON-compatible data; a
    :class:`~lash_core.errors.DecodeError` names what could not be read and says the store
    data is damaged."""
    try:
        return structure(data, as_type)
    except DecodeError as exc:
        raise DecodeError(f"{exc}; the store data is damaged", exc.problems) from exc


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a value (sorted keys, no spaces): equal content, equal text."""
    return json.dumps(encode(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def input_content_digest(ingress: InputIngress, turn_input: TurnInput) -> str:
    """sha256 of the canonical JSON of a pending input's ingress and input *as submitted*.

    Source-key idempotency compares this digest, recorded at enqueue time, so a row whose
    ingress the store later rewrote (a deferred active input) still matches its retry.
    """
    return hashlib.sha256(canonical_json([ingress, turn_input]).encode()).hexdigest()
