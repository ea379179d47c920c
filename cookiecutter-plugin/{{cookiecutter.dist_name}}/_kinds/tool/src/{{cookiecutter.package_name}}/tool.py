"""The ``{{ cookiecutter.entry_point_name }}`` tool: counts the words, lines and characters of a text.

``@tool`` (from lash-core) makes the tool from a typed function: the name, the description
(the docstring's first paragraph) and the JSON schema of the arguments (the signature and the
``Args:`` section) are what the model is shown. lash validates the model's arguments against
that schema before the function runs, so the function receives well-typed values.

What a tool returns:

* a JSON-like value (here a dict): a success the model sees as JSON;
* a :class:`~lash_core.model.ToolCallOutput` with a
  :class:`~lash_core.model.FailureOutcome`: a failure the model sees as an error result
  and can act on (say what to do instead);
* an exception: lash turns it into an error result naming the tool, the turn goes on.

Blocking work (files, network) belongs in an ``async def`` tool (or
``anyio.to_thread.run_sync``) so that the calls of one round can run concurrently; a
tool that must not run next to others takes ``@tool(sequential=True)``. A parameter named
``context`` receives the :class:`~lash_core.ToolContext` (session, turn and call ids).
"""

from __future__ import annotations

from typing import Any

from lash_core.model import FailureOutcome, ToolCallOutput, ToolFailure, ToolFailureClass
from lash_core.tools import FunctionTool, tool

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["TOOL_NAME", "count_text", "make_tool"]

TOOL_NAME = "{{ cookiecutter.entry_point_name }}"
"""The tool's name as the model sees it (tool names are unique per runtime)."""


def count_text(text: str) -> dict[str, int]:
    """The words, lines and characters of ``text``."""
    return {"words": len(text.split()), "lines": len(text.splitlines()), "characters": len(text)}


def make_tool(settings: {{ cookiecutter.__class_prefix }}Settings) -> FunctionTool[..., Any]:
    """The tool, configured by ``settings``. Cheap: it is built once per runtime."""

    @tool(name=TOOL_NAME)
    def {{ cookiecutter.entry_point_name }}(text: str) -> dict[str, int] | ToolCallOutput:
        """Count the words, lines and characters of a text.

        Args:
            text: The text to count.
        """
        if len(text) > settings.max_chars:
            return ToolCallOutput(
                FailureOutcome(
                    ToolFailure(
                        ToolFailureClass.INVALID_REQUEST,
                        "text_too_long",
                        f"the text has {len(text)} characters and this tool takes at most "
                        f"{settings.max_chars}; count it in parts and add the results",
                    )
                )
            )
        return count_text(text)

    return {{ cookiecutter.entry_point_name }}
