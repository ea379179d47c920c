"""``@tool``: manifests from typed functions, execution, and result wrapping."""

from __future__ import annotations

import enum
from typing import Any

import anyio.lowlevel
import attrs
import pytest

from lash_core.errors import ToolDefinitionError
from lash_core.model.tools import (
    FailureOutcome,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools import FunctionTool, ToolContext, ToolInvocation, ToolProvider, tool


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


CONTEXT = ToolContext(session_id="s1", turn_id="t1", call_id="c1")


def call(name: str, **args: Any) -> ToolInvocation:
    """An invocation of ``name`` with ``args``."""
    return ToolInvocation(call_id="c1", name=name, args=args)


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@attrs.frozen
class Point:
    """A point on the plane."""

    x: int
    y: int = 0


@tool
def add(a: int, b: int = 1) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool(name="slow_echo", description="Echo after a pause.", sequential=True)
async def echo(text: str) -> str:
    """Echo the text back."""
    await anyio.lowlevel.checkpoint()
    return text


@tool
def whoami(context: ToolContext, prefix: str = "") -> str:
    """Report the calling session."""
    return f"{prefix}{context.session_id}/{context.call_id}"


@tool
def shift(point: Point, by: int, unit: Unit = Unit.CELSIUS) -> Point:
    """Move a point to the right."""
    assert isinstance(point, Point) and isinstance(unit, Unit)
    return Point(point.x + by, point.y)


@tool
def refuse(reason: str) -> ToolCallOutput:
    """Fail on purpose."""
    failure = ToolFailure(ToolFailureClass.PERMISSION_DENIED, "denied", reason)
    return ToolCallOutput(FailureOutcome(failure))


@tool
def centroid(points: list[Point]) -> dict[str, Any]:
    """Average of points."""
    return {"x": sum(p.x for p in points) / len(points), "first": points[0]}


def test_bare_decorator_builds_function_tool() -> None:
    """``@tool`` returns a FunctionTool that is a ToolProvider."""
    assert isinstance(add, FunctionTool) and isinstance(add, ToolProvider)


def test_manifest_from_signature_and_docstring() -> None:
    """Name, description and schema come from the function."""
    (manifest,) = add.manifests()
    assert (manifest.name, manifest.description, manifest.sequential) == ("add", "Add two numbers.", False)
    assert manifest.input_schema == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "The first number."},
            "b": {"type": "integer", "description": "The second number.", "default": 1},
        },
        "required": ["a"],
        "additionalProperties": False,
    }


def test_decorator_with_options_overrides_manifest() -> None:
    """``@tool(name=..., description=..., sequential=True)`` sets those fields."""
    (manifest,) = echo.manifests()
    assert (manifest.name, manifest.description, manifest.sequential) == (
        "slow_echo",
        "Echo after a pause.",
        True,
    )


def test_tool_is_still_callable() -> None:
    """Calling the tool calls the function directly."""
    assert add(2, b=3) == 5


def test_tool_keeps_function_metadata() -> None:
    """The tool carries the function's name, docstring and ``__wrapped__``."""
    assert (add.__name__, add.__wrapped__.__name__) == ("add", "add")  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_execute_sync_function() -> None:
    """A sync function runs and its value becomes a success."""
    output = await add.execute(call("add", a=2), CONTEXT)
    assert output == ToolCallOutput(SuccessOutcome(3))


@pytest.mark.anyio
async def test_execute_async_function() -> None:
    """An async function is awaited."""
    output = await echo.execute(call("slow_echo", text="hi"), CONTEXT)
    assert output == ToolCallOutput(SuccessOutcome("hi"))


@pytest.mark.anyio
async def test_direct_call_of_async_tool_returns_coroutine() -> None:
    """Calling an async tool directly gives the function's coroutine."""
    assert await echo("direct") == "direct"


@pytest.mark.anyio
async def test_execute_passes_context() -> None:
    """A ``context`` parameter receives the ToolContext."""
    output = await whoami.execute(call("whoami", prefix="@"), CONTEXT)
    assert output.outcome == SuccessOutcome("@s1/c1")


def test_context_is_not_an_argument() -> None:
    """The context parameter is left out of the schema."""
    assert list(whoami.manifests()[0].input_schema["properties"]) == ["prefix"]


@pytest.mark.anyio
async def test_execute_structures_attrs_and_enum_and_unstructures_result() -> None:
    """Attrs and Enum arguments are built from JSON; an attrs result is unstructured."""
    output = await shift.execute(call("shift", point={"x": 1, "y": 2}, by=3, unit="fahrenheit"), CONTEXT)
    assert output.outcome == SuccessOutcome({"x": 4, "y": 2})


@pytest.mark.anyio
async def test_execute_structures_list_of_attrs() -> None:
    """Containers of attrs classes are structured, nested attrs results unstructured."""
    output = await centroid.execute(call("centroid", points=[{"x": 2}, {"x": 4, "y": 1}]), CONTEXT)
    assert output.outcome == SuccessOutcome({"x": 3.0, "first": {"x": 2}})


@pytest.mark.anyio
async def test_tool_call_output_is_returned_as_is() -> None:
    """A returned ToolCallOutput is not wrapped again."""
    output = await refuse.execute(call("refuse", reason="no"), CONTEXT)
    assert isinstance(output.outcome, FailureOutcome) and output.outcome.failure.message == "no"


@pytest.mark.anyio
async def test_exceptions_propagate() -> None:
    """Exceptions are not caught: the kernel turns them into failures."""

    @tool
    def boom() -> None:
        """Raise."""
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await boom.execute(call("boom"), CONTEXT)


@pytest.mark.anyio
async def test_none_result_is_success_with_null() -> None:
    """A function returning None succeeds with a null value."""

    @tool
    def noop() -> None:
        """Do nothing."""

    assert await noop.execute(call("noop"), CONTEXT) == ToolCallOutput(SuccessOutcome(None))


def test_invalid_name_is_rejected() -> None:
    """A name the providers would refuse raises with advice."""
    with pytest.raises(ToolDefinitionError, match="pass name="):
        tool(lambda: None)


def test_explicit_name_rescues_lambda() -> None:
    """``tool(name=...)`` works on functions with unusable names."""
    assert tool(name="noop")(lambda: None).name == "noop"


def test_definition_errors_surface_at_decoration() -> None:
    """A bad signature fails when decorated, not when called."""
    with pytest.raises(ToolDefinitionError, match=r"\*args"):

        @tool
        def bad(*args: int) -> None:
            """Bad."""


def test_repr_names_tool() -> None:
    """The repr names the tool."""
    assert repr(echo) == "FunctionTool('slow_echo')"
