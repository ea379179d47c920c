"""``@tool``: a tool provider from a typed Python function.

::

    @tool
    async def read_file(path: str, limit: int = 100) -> str:
        '''Read a text file.

        Args:
            path: The file to read, relative to the workspace.
            limit: At most this many lines.
        '''

The manifest (name, description, argument schema) comes from the signature and the
docstring (see :func:`~lash_core.tools.schema.function_schema`). The decorated object
is still callable like the function, so the function stays unit-testable.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, ParamSpec, TypeVar, Union, get_args, get_origin, overload

from lash_core.converter import structure, unstructure
from lash_core.errors import ToolDefinitionError
from lash_core.model.tools import SuccessOutcome, ToolCallOutput
from lash_core.tools.contract import ToolContext, ToolInvocation, ToolManifest
from lash_core.tools.schema import CONTEXT_PARAMETER, function_schema

__all__ = ["FunctionTool", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_JSON_NATIVE: frozenset[Any] = frozenset({str, int, float, bool, type(None), Any, list, dict})


class FunctionTool(Generic[P, R]):
    """A :class:`~lash_core.tools.contract.ToolProvider` with one tool: a typed function.

    Calling the object calls the function. :meth:`execute` calls it with a validated
    :class:`ToolInvocation`'s arguments and wraps the result in a :class:`ToolCallOutput`.
    Exceptions propagate: the kernel turns them into failure results.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        sequential: bool = False,
    ) -> None:
        """Build the manifest of ``fn``; raises :class:`ToolDefinitionError` if it cannot."""
        tool_name = name if name is not None else getattr(fn, "__name__", "")
        if not _TOOL_NAME.match(tool_name):
            raise ToolDefinitionError(
                f"tool name {tool_name!r} is not valid: use 1 to 64 letters, digits, '_' or '-' "
                "(pass name=... to @tool)"
            )
        schema, doc_description = function_schema(fn)
        self.fn = fn
        self.manifest = ToolManifest(
            name=tool_name,
            description=description if description is not None else doc_description,
            input_schema=schema,
            sequential=sequential,
        )
        self.takes_context = (
            CONTEXT_PARAMETER in inspect.signature(fn).parameters
            and CONTEXT_PARAMETER not in schema["properties"]
        )
        hints = typing.get_type_hints(fn)
        self._structured_types = {
            param: hints[param] for param in schema["properties"] if not _is_json_native(hints[param])
        }
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """The tool's name as the model sees it."""
        return self.manifest.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the wrapped function directly."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool({self.manifest.name!r})"

    def manifests(self) -> Sequence[ToolManifest]:
        """The one manifest of this tool."""
        return (self.manifest,)

    async def execute(self, call: ToolInvocation, context: ToolContext) -> ToolCallOutput:
        """Call the function with ``call.args`` (and ``context`` if it takes one).

        Attrs-class, Enum and tuple arguments are structured from their JSON form; an
        async function is awaited, a sync one runs directly. A returned
        :class:`ToolCallOutput` is passed through; any other value becomes a success
        with the value unstructured to JSON.
        """
        kwargs = {
            key: structure(value, self._structured_types[key]) if key in self._structured_types else value
            for key, value in call.args.items()
        }
        if self.takes_context:
            kwargs[CONTEXT_PARAMETER] = context
        result: Any = self.fn(**kwargs)  # type: ignore[call-arg]
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, ToolCallOutput):
            return result
        return ToolCallOutput(SuccessOutcome(unstructure(result)))


@overload
def tool(fn: Callable[P, R]) -> FunctionTool[P, R]: ...


@overload
def tool(
    fn: None = None, *, name: str | None = None, description: str | None = None, sequential: bool = False
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    sequential: bool = False,
) -> FunctionTool[P, R] | Callable[[Callable[P, R]], FunctionTool[P, R]]:
    """Turn a typed function (sync or async) into a tool; use as ``@tool`` or ``@tool(...)``.

    ``name`` defaults to the function's name and ``description`` to the docstring's
    first paragraph; ``sequential`` tools never run concurrently with other calls of
    the same round.
    """

    def wrap(function: Callable[P, R]) -> FunctionTool[P, R]:
        return FunctionTool(function, name=name, description=description, sequential=sequential)

    return wrap(fn) if fn is not None else wrap


def _is_json_native(annotation: Any) -> bool:
    """True when decoded JSON already has the Python type ``annotation`` asks for."""
    origin = get_origin(annotation)
    if origin is Literal:
        return True
    if origin in (list, dict, Union, types.UnionType):
        return all(_is_json_native(arg) for arg in get_args(annotation))
    try:
        return annotation in _JSON_NATIVE
    except TypeError:
        return False
