"""JSON Schema from annotations (``json_schema_for``) and from typed functions (``function_schema``)."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, Optional

import attrs
import pytest

from lash_core.errors import ToolDefinitionError
from lash_core.tools import ToolContext, function_schema, json_schema_for


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Item:
    """An item to buy.

    Further detail that is not part of the description.
    """

    name: Annotated[str, "what to buy"]
    quantity: int = 1
    tags: list[str] = attrs.field(factory=list)


@attrs.frozen
class Node:
    """A tree node (recursive, so unsupported)."""

    children: list[Node]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (type(None), {"type": "null"}),
    ],
)
def test_primitives(annotation: Any, expected: dict[str, Any]) -> None:
    """Each primitive maps to its JSON type."""
    assert json_schema_for(annotation) == expected


def test_list() -> None:
    """``list[X]`` is an array of X."""
    assert json_schema_for(list[int]) == {"type": "array", "items": {"type": "integer"}}


def test_variadic_tuple() -> None:
    """``tuple[X, ...]`` is an array of X."""
    assert json_schema_for(tuple[str, ...]) == {"type": "array", "items": {"type": "string"}}


def test_fixed_tuple() -> None:
    """``tuple[X, Y]`` is an array of exactly those items."""
    assert json_schema_for(tuple[int, str]) == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }


def test_dict_with_string_keys() -> None:
    """``dict[str, X]`` is an object whose values are X."""
    assert json_schema_for(dict[str, float]) == {"type": "object", "additionalProperties": {"type": "number"}}


def test_optional_is_nullable() -> None:
    """``X | None`` allows null next to X's type."""
    assert json_schema_for(int | None) == {"type": ["integer", "null"]}


def test_typing_optional_is_nullable() -> None:
    """``Optional[X]`` means the same as ``X | None``."""
    assert json_schema_for(Optional[list[str]]) == {  # noqa: UP045
        "type": ["array", "null"],
        "items": {"type": "string"},
    }


def test_union_of_types_is_any_of() -> None:
    """A union of several types lists each as an option."""
    assert json_schema_for(int | str | None) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
    }


def test_literal_is_enum() -> None:
    """``Literal`` values become an enum with their common type."""
    assert json_schema_for(Literal["fast", "slow"]) == {"type": "string", "enum": ["fast", "slow"]}


def test_literal_of_mixed_types_has_no_type() -> None:
    """A ``Literal`` mixing JSON types constrains values only."""
    assert json_schema_for(Literal["a", 1]) == {"enum": ["a", 1]}


def test_optional_literal_allows_null_in_enum() -> None:
    """A nullable enum lists ``None`` among its values."""
    assert json_schema_for(Literal["a", "b"] | None) == {"type": ["string", "null"], "enum": ["a", "b", None]}


def test_enum_class_lists_values() -> None:
    """An Enum subclass is the enum of its members' values."""
    assert json_schema_for(Color) == {"type": "string", "enum": ["red", "blue"]}


def test_int_enum_is_integer_enum() -> None:
    """An IntEnum is an integer enum."""
    assert json_schema_for(Level) == {"type": "integer", "enum": [1, 2]}


def test_attrs_class_is_closed_object() -> None:
    """An attrs class is an object of its fields; fields without default are required."""
    assert json_schema_for(Item) == {
        "type": "object",
        "description": "An item to buy.",
        "properties": {
            "name": {"type": "string", "description": "what to buy"},
            "quantity": {"type": "integer", "default": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name"],
        "additionalProperties": False,
    }


def test_any_has_no_constraint() -> None:
    """``Any`` allows every value."""
    assert json_schema_for(Any) == {}


def test_annotated_string_becomes_description() -> None:
    """String metadata of ``Annotated`` is the description."""
    assert json_schema_for(Annotated[int, "how many"]) == {"type": "integer", "description": "how many"}


def test_annotated_nullable_keeps_description() -> None:
    """A description on an optional type stays at the top level."""
    assert json_schema_for(Annotated[int | None, "maybe"]) == {
        "type": ["integer", "null"],
        "description": "maybe",
    }


def test_unsupported_type_names_parameter_and_type() -> None:
    """An unsupported annotation raises naming the parameter and the type."""
    with pytest.raises(ToolDefinitionError, match=r"parameter 'tags': type set\[int\] is not supported"):
        json_schema_for(set[int], "tags")


def test_non_string_dict_keys_are_rejected() -> None:
    """``dict[int, X]`` is refused: JSON keys are strings."""
    with pytest.raises(ToolDefinitionError, match="JSON object keys are strings"):
        json_schema_for(dict[int, str], "counts")


def test_unsupported_nested_type_names_its_path() -> None:
    """An unsupported type inside a container names the path to it."""
    with pytest.raises(ToolDefinitionError, match=r"parameter 'blobs\[\]': type bytes"):
        json_schema_for(list[bytes], "blobs")


def test_recursive_attrs_class_is_rejected() -> None:
    """A self-referencing attrs class raises instead of recursing forever."""
    with pytest.raises(ToolDefinitionError, match="recursive types are not supported"):
        json_schema_for(Node, "tree")


def search(
    query: str,
    limit: int = 10,
    color: Color | None = None,
    level: Annotated[Level, "importance"] = Level.LOW,
    context: ToolContext | None = None,
) -> str:
    """Search the catalogue
    for matching items.

    Longer explanation that the model does not need.

    Args:
        query: Words to look for,
            matched case-insensitively.
        limit (int): At most this many results.
        level: Ignored in favour of the Annotated description.

    Returns:
        The matches, one per line.
    """
    return query


def test_function_schema_properties_and_required() -> None:
    """Parameters without default are required; defaults appear in the schema."""
    schema, _ = function_schema(search)
    assert (schema["type"], schema["required"], schema["additionalProperties"]) == (
        "object",
        ["query"],
        False,
    )
    assert schema["properties"]["limit"]["default"] == 10


def test_function_schema_description_is_first_paragraph() -> None:
    """The description is the docstring's first paragraph, lines joined."""
    _, description = function_schema(search)
    assert description == "Search the catalogue for matching items."


def test_function_schema_reads_args_section() -> None:
    """``Args:`` entries describe parameters; continuation lines are joined."""
    schema, _ = function_schema(search)
    assert schema["properties"]["query"]["description"] == "Words to look for, matched case-insensitively."


def test_function_schema_args_entry_with_type() -> None:
    """An ``name (type): text`` entry is read like ``name: text``."""
    schema, _ = function_schema(search)
    assert schema["properties"]["limit"]["description"] == "At most this many results."


def test_annotated_description_wins_over_docstring() -> None:
    """``Annotated`` metadata takes precedence over the docstring entry."""
    schema, _ = function_schema(search)
    assert schema["properties"]["level"] == {
        "type": "integer",
        "enum": [1, 2],
        "description": "importance",
        "default": 1,
    }


def test_optional_parameter_with_default_is_not_required() -> None:
    """An optional parameter with a default is nullable and not required."""
    schema, _ = function_schema(search)
    assert "color" not in schema["required"]
    assert schema["properties"]["color"]["type"] == ["string", "null"]


def test_optional_parameter_without_default_is_required() -> None:
    """Nullable does not mean optional: without a default the argument is required."""

    def f(x: int | None) -> None:
        """F."""

    assert function_schema(f)[0]["required"] == ["x"]


def greet(name: str, context: ToolContext) -> str:
    """Greet someone."""
    return name


def test_context_parameter_is_not_in_schema() -> None:
    """``context: ToolContext`` receives the tool context and is not an argument."""
    schema, _ = function_schema(greet)
    assert list(schema["properties"]) == ["name"]


def test_context_named_parameter_of_other_type_is_an_argument() -> None:
    """A parameter named ``context`` with another type is an ordinary argument."""

    def f(context: str) -> None:
        """F."""

    assert function_schema(f)[0]["properties"] == {"context": {"type": "string"}}


def ctx_misnamed(ctx: ToolContext) -> None:
    """Misnamed context."""


def test_tool_context_under_other_name_is_an_error() -> None:
    """A ToolContext parameter not named ``context`` raises saying to rename it."""
    with pytest.raises(ToolDefinitionError, match="name it 'context'"):
        function_schema(ctx_misnamed)


def test_function_without_docstring_has_empty_description() -> None:
    """No docstring means an empty description and no parameter descriptions."""

    def f(x: int) -> None:
        pass

    assert function_schema(f) == (
        {
            "type": "object",
            "properties": {"x": {"type": "integer"}},
            "required": ["x"],
            "additionalProperties": False,
        },
        "",
    )


def test_docstring_starting_with_args_has_empty_description() -> None:
    """A docstring that is only an ``Args:`` section gives no description."""

    def f(x: int) -> None:
        """Args:
        x: The value.
        """

    assert function_schema(f)[1] == ""


def test_var_positional_is_rejected() -> None:
    """``*args`` raises with advice to declare named parameters."""

    def f(*items: str) -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match=r"takes \*items; .* declare each argument"):
        function_schema(f)


def test_var_keyword_is_rejected() -> None:
    """``**kwargs`` raises too."""

    def f(**options: str) -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match=r"takes \*\*options"):
        function_schema(f)


def test_missing_annotation_is_rejected() -> None:
    """A parameter without annotation raises saying to annotate it."""

    def f(path, limit: int) -> None:  # type: ignore[no-untyped-def]
        """F."""

    with pytest.raises(
        ToolDefinitionError, match=r"parameter 'path' of .* has no type annotation; annotate it"
    ):
        function_schema(f)


def test_positional_only_is_rejected() -> None:
    """Positional-only parameters cannot be passed by name and are refused."""

    def f(x: int, /) -> None:
        """F."""

    with pytest.raises(ToolDefinitionError, match="positional-only"):
        function_schema(f)


def test_unsupported_parameter_type_names_function_and_parameter() -> None:
    """An unsupported parameter type raises naming the function and the parameter."""

    def upload(data: bytes) -> None:
        """Upload."""

    with pytest.raises(
        ToolDefinitionError, match=r"parameter 'data' of .*upload\(\): type bytes is not supported"
    ):
        function_schema(upload)


def test_unresolvable_annotation_is_reported() -> None:
    """A forward reference that cannot be resolved raises a definition error."""

    def f(x: Missing) -> None:  # type: ignore[name-defined]  # noqa: F821
        """F."""

    with pytest.raises(ToolDefinitionError, match="cannot resolve the type annotations"):
        function_schema(f)


def test_optional_context_is_the_context() -> None:
    """``context: ToolContext | None`` also receives the context and is not an argument."""
    schema, _ = function_schema(search)
    assert "context" not in schema["properties"]
