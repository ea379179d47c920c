"""Decoding tool-call arguments and validating them against the input schema."""

from __future__ import annotations

import timeit
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from lash_core.tools import ArgumentError, ArgumentValidator, parse_arguments, validator_for
from lash_core.tools.validation import _compile

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "count": {"type": "integer"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "limit": {"type": ["integer", "null"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "qty": {"type": "integer"}},
                "required": ["name"],
                "additionalProperties": False,
            },
        },
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    },
    "required": ["path"],
    "additionalProperties": False,
}


def problems(args: Any) -> str:
    """The validation message for ``args`` ("" when valid)."""
    try:
        ArgumentValidator(SCHEMA).validate(args)
    except ArgumentError as exc:
        return exc.message
    return ""


def test_parse_object() -> None:
    """A JSON object decodes to a dict."""
    assert parse_arguments('{"path": "a.txt", "count": 2}') == {"path": "a.txt", "count": 2}


def test_parse_empty_string_is_no_arguments() -> None:
    """An empty string means ``{}``."""
    assert parse_arguments("") == {}


def test_parse_blank_string_is_no_arguments() -> None:
    """Whitespace only also means ``{}``."""
    assert parse_arguments("  \n") == {}


def test_parse_invalid_json_names_position() -> None:
    """Broken JSON raises with the decoder's message and position."""
    with pytest.raises(ArgumentError) as info:
        parse_arguments('{"a": 1 "b": 2}')
    assert info.value.message == "arguments are not valid JSON: Expecting ',' delimiter at line 1 column 9"


def test_parse_non_object_names_type() -> None:
    """A JSON value that is not an object raises naming what it is."""
    with pytest.raises(ArgumentError, match="arguments must be a JSON object, got list"):
        parse_arguments("[1, 2]")


def test_parse_null_is_not_an_object() -> None:
    """``null`` is reported as null."""
    with pytest.raises(ArgumentError, match="got null"):
        parse_arguments("null")


def test_argument_error_is_value_error() -> None:
    """ArgumentError is a ValueError whose ``message`` is its text."""
    error = ArgumentError("bad")
    assert isinstance(error, ValueError) and error.message == str(error) == "bad"


def test_valid_arguments_pass() -> None:
    """Arguments matching the schema raise nothing."""
    args = {
        "path": "a",
        "count": 3,
        "mode": "fast",
        "limit": None,
        "items": [{"name": "x", "qty": 1}],
        "pair": [1, "a"],
        "labels": {"k": "v"},
        "either": "s",
    }
    assert problems(args) == ""


def test_type_error_names_field() -> None:
    """A wrong type names the argument and the expected type."""
    assert problems({"path": "a", "count": "x"}) == "argument 'count': 'x' is not of type 'integer'"


def test_bool_is_not_an_integer() -> None:
    """``true`` is not accepted for an integer argument."""
    assert problems({"path": "a", "count": True}) == "argument 'count': True is not of type 'integer'"


def test_missing_required_argument() -> None:
    """A missing required argument is named."""
    assert problems({}) == "missing required argument 'path'"


def test_unexpected_argument() -> None:
    """An argument the schema does not declare is named."""
    assert problems({"path": "a", "foo": 1}) == "unexpected argument 'foo'"


def test_nested_path() -> None:
    """Problems inside arrays of objects name the full path."""
    assert problems({"path": "a", "items": [{"name": "a"}, {"name": 3}]}) == (
        "argument 'items[1].name': 3 is not of type 'string'"
    )


def test_nested_missing_and_unexpected() -> None:
    """Missing and unexpected fields of nested objects carry their path."""
    assert problems({"path": "a", "items": [{"qty": 1, "colour": "red"}]}) == (
        "unexpected argument 'items[0].colour'; missing required argument 'items[0].name'"
    )


def test_enum_violation() -> None:
    """A value outside an enum lists the allowed values."""
    assert (
        problems({"path": "a", "mode": "medium"})
        == "argument 'mode': 'medium' is not one of ['fast', 'slow']"
    )


def test_all_problems_sorted_by_path() -> None:
    """Every problem is reported, sorted by path, joined with '; '."""
    assert problems({"count": "x", "zeta": 1, "alpha": 2}) == (
        "unexpected argument 'alpha'; argument 'count': 'x' is not of type 'integer'; "
        "missing required argument 'path'; unexpected argument 'zeta'"
    )


def test_array_indexes_sort_numerically() -> None:
    """``items[2]`` sorts before ``items[10]``."""
    items: list[Any] = [{"name": "ok"}] * 11
    items[2] = items[10] = {"name": 1}
    assert problems({"path": "a", "items": items}) == (
        "argument 'items[2].name': 1 is not of type 'string'; argument 'items[10].name': 1 is not of type 'string'"
    )


def test_non_identifier_key_is_quoted() -> None:
    """A key that is not an identifier is shown in brackets."""
    assert problems({"path": "a", "labels": {"a b": 1}}) == (
        "argument 'labels[\"a b\"]': 1 is not of type 'string'"
    )


def test_arguments_not_an_object() -> None:
    """A non-object at the top level is reported without a path."""
    assert problems([]) == "arguments: [] is not of type 'object'"


def test_invalid_schema_is_rejected_at_construction() -> None:
    """A schema that is not valid JSON Schema fails when the validator is built."""
    with pytest.raises(Exception, match="is not valid"):
        ArgumentValidator({"type": "nonsense"})


def test_validator_for_caches_per_schema() -> None:
    """Equal schemas share one compiled validator."""
    assert validator_for({"type": "object", "required": ["a"]}) is validator_for(
        {"required": ["a"], "type": "object"}
    )


def test_fast_path_falls_back_for_integral_float() -> None:
    """``1.0`` is an integer for JSON Schema even though the fast path does not decide it."""
    assert problems({"path": "a", "count": 1.0}) == ""


def test_fast_path_handles_unknown_keywords_by_falling_back() -> None:
    """A schema with keywords the fast path does not know is validated by jsonschema."""
    validator = ArgumentValidator({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}})
    with pytest.raises(ArgumentError, match="argument 'n': 3 is less than the minimum of 5"):
        validator.validate({"n": 3})


def test_validation_is_fast() -> None:
    """Validating a small valid object takes microseconds, not milliseconds."""
    validator = ArgumentValidator(SCHEMA)
    args = {"path": "a", "count": 3, "items": [{"name": "x"}]}
    seconds = min(timeit.repeat(lambda: validator.validate(args), number=1000, repeat=3)) / 1000
    assert seconds < 50e-6


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["path", "count", "x"]), inner)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({"path": JSON}, optional={"count": JSON, "items": JSON, "either": JSON, "x": JSON})
)
def test_fast_path_never_accepts_what_jsonschema_rejects(args: dict[str, Any]) -> None:
    """Whatever the fast path calls valid, jsonschema calls valid too."""
    fast = _compile(SCHEMA)
    assert fast is not None
    assert not fast(args) or Draft202012Validator(SCHEMA).is_valid(args)
