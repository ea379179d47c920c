"""The tool provider contract.

A tool provider supplies manifests (name, description, JSON schema of the arguments)
and executes calls. Catalog membership is the availability fact: a tool the model is
not offered cannot be called. The kernel parses and validates arguments against the
manifest's schema before ``execute`` is called, so a provider receives decoded,
schema-valid ``args``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from attrs import field, frozen

from lash_core.model.tools import ToolCallOutput

if TYPE_CHECKING:
    from lash_core.completions import DirectCompletions

__all__ = [
    "ToolContext",
    "ToolInvocation",
    "ToolManifest",
    "ToolProvider",
    "ToolResultProjector",
]


@frozen
class ToolManifest:
    """What the model is told about a tool.

    ``sequential`` tools never run concurrently with other calls of the same round.
    """

    name: str
    description: str
    input_schema: dict[str, Any] = field(factory=lambda: {"type": "object", "properties": {}})
    sequential: bool = False


@frozen
class ToolInvocation:
    """One call of a tool: the call id, the tool name and the decoded, validated arguments."""

    call_id: str
    name: str
    args: dict[str, Any]


@frozen
class ToolContext:
    """What a running tool may use: identities and the direct-completion client.

    Cancellation reaches a tool as anyio cancellation of its task; a tool that must
    clean up uses ``try/finally`` or a shielded scope.
    """

    session_id: str
    turn_id: str
    call_id: str
    completions: DirectCompletions | None = None
    plugin_inputs: dict[str, Any] = field(factory=dict)


@runtime_checkable
class ToolProvider(Protocol):
    """Supplies tools. ``manifests`` must be cheap; ``execute`` returns a
    :class:`ToolCallOutput`, or any JSON-like value meaning success."""

    def manifests(self) -> Sequence[ToolManifest]:
        """The tools this provider offers."""
        ...

    async def execute(self, call: ToolInvocation, context: ToolContext) -> ToolCallOutput | Any:
        """Run one call and return its output."""
        ...


@runtime_checkable
class ToolResultProjector(Protocol):
    """Decides what the model sees of a tool result; the full output is stored as is."""

    def project(self, call: ToolInvocation, output: ToolCallOutput) -> str:
        """The model-visible text of ``output``."""
        ...
