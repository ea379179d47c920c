"""Property tests: every union and main record survives ``structure(unstructure(x)) == x``.

Strategies are built from the attrs fields with :func:`hypothesis.strategies.builds`, with
the types ``from_type`` cannot infer spelled out: ``Any`` is a JSON-like value, ``bytes`` are
arbitrary binary, enums are sampled, unions (nested ones too) choose a variant, and recursion
through messages is cut at ``MAX_DEPTH``. Live fields are left at their defaults since they
are never written.
"""

from __future__ import annotations

import json
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, get_args, get_origin

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lash_core import model as m
from lash_core.converter import TAGGED_UNIONS, structure, unstructure

MAX_DEPTH = 4
"""How many attrs records deep a value may nest before tuples and optionals are left empty."""

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

# Fields whose constructor refuses part of the type's range.
FIELD_OVERRIDES: dict[tuple[type, str], st.SearchStrategy[Any]] = {
    (m.ModelSpec, "id"): st.text(min_size=1, max_size=8),
    (m.ModelSpec, "context_window_tokens"): st.integers(min_value=1),
    (m.JsonSchemaOutput, "name"): st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True),
}


def _is_union(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) or get_origin(tp) is typing.Union


@cache
def strategy_for(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for values of ``tp`` that the converter can write."""
    if tp is Any:
        return JSON_VALUES
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers()
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is str:
        return st.text(max_size=8)
    if tp is bytes:
        return st.binary(max_size=16)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(tp)
    if _is_union(tp):
        arms = get_args(tp)
        if depth >= MAX_DEPTH and type(None) in arms:
            return st.none()
        return st.one_of([strategy_for(arm, depth) for arm in arms])
    origin = get_origin(tp)
    if origin is tuple:
        item, ellipsis = get_args(tp)
        assert ellipsis is Ellipsis, f"only homogeneous tuples are expected, got {tp!r}"
        if depth >= MAX_DEPTH:
            return st.just(())
        return st.lists(strategy_for(item, depth), max_size=2).map(tuple)
    if origin is dict:
        key, value = get_args(tp)
        return st.dictionaries(strategy_for(key, depth), strategy_for(value, depth), max_size=3)
    if attrs.has(tp):
        return _record_strategy(tp, depth)
    raise TypeError(f"no strategy for {tp!r}")


def _record_strategy(cls: type, depth: int) -> st.SearchStrategy[Any]:
    attrs.resolve_types(cls)
    fields = {
        field.name: FIELD_OVERRIDES[(cls, field.name)]
        if (cls, field.name) in FIELD_OVERRIDES
        else strategy_for(field.type, depth + 1)
        for field in attrs.fields(cls)
        if not field.metadata.get("live")
    }
    return st.builds(cls, **fields)


RECORDS: tuple[type, ...] = (
    m.Message,
    m.Part,
    m.AttachmentRef,
    m.TurnInput,
    m.TurnContext,
    m.PromptLayer,
    m.TurnActivity,
    m.AssembledTurn,
    m.ToolCall,
    m.ToolCallOutput,
    m.ToolCallRecord,
    m.ToolFailure,
    m.TokenUsage,
    m.TokenLedger,
    m.UsageReport,
    m.ModelSpec,
    m.SessionPolicy,
    m.AgentFrameRecord,
    m.LlmRequest,
    m.LlmResponse,
    m.ProviderFailure,
    m.ToolSpec,
)


def union_name(union: Any) -> str:
    """The name ``lash_core.model`` exports a union under (for readable test ids)."""
    return next(name for name, value in vars(m).items() if value == union and _is_union(value))


TYPES = [pytest.param(union, id=union_name(union)) for union in TAGGED_UNIONS] + [
    pytest.param(record, id=record.__name__) for record in RECORDS
]

ROUNDTRIP_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDARY_SETTINGS = settings(ROUNDTRIP_SETTINGS, max_examples=20)
"""Fewer examples for the properties that restate the main one from another angle."""


@pytest.mark.parametrize("as_type", TYPES)
@ROUNDTRIP_SETTINGS
@given(data=st.data())
def test_structure_inverts_unstructure(as_type: Any, data: st.DataObject) -> None:
    """Reading back what was written gives an equal value."""
    value = data.draw(strategy_for(as_type), label="value")
    assert structure(unstructure(value, as_type), as_type) == value


@pytest.mark.parametrize("as_type", TYPES)
@SECONDARY_SETTINGS
@given(data=st.data())
def test_written_data_survives_json_text(as_type: Any, data: st.DataObject) -> None:
    """Written data is plain JSON: it survives ``json.dumps``/``json.loads`` unchanged."""
    value = data.draw(strategy_for(as_type), label="value")
    written = unstructure(value, as_type)
    assert json.loads(json.dumps(written)) == written


@pytest.mark.parametrize("union", TAGGED_UNIONS, ids=union_name)
@SECONDARY_SETTINGS
@given(data=st.data())
def test_union_value_written_alone_reads_as_the_union(union: Any, data: st.DataObject) -> None:
    """A variant written without naming the union reads back through the union."""
    value = data.draw(strategy_for(union), label="value")
    assert structure(unstructure(value), union) == value


@SECONDARY_SETTINGS
@given(
    value=strategy_for(m.TurnInput),
    plugin_inputs=st.dictionaries(st.text(max_size=4), st.builds(object), max_size=2),
    extension=st.builds(object),
)
def test_live_fields_are_dropped_by_the_round_trip(
    value: m.TurnInput, plugin_inputs: dict[str, Any], extension: object
) -> None:
    """Live values never reach the wire: the read value has default live fields."""
    live = attrs.evolve(
        value,
        context=attrs.evolve(value.context or m.TurnContext(), plugin_inputs=plugin_inputs),
        protocol_extension=extension,
    )
    read: m.TurnInput = structure(unstructure(live), m.TurnInput)
    assert read == live
    assert read.protocol_extension is None
    assert read.context is not None
    assert read.context.plugin_inputs == {}
