"""Direct completions: model calls that hooks and tools make outside the protocol loop.

A hook that needs a model (a summary, a classifier) calls
``await ctx.completions.complete("...", source="summary")``. The call goes through the
turn's effect controller with the replay key ``<turn_id>:<phase>:direct:<n>``, and its
usage lands in the session ledger under ``source``. ``output_spec`` asks for structured
output (``JsonSchemaOutput(name, schema)`` for JSON valid against a schema).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from lash_core.model import LlmResponse, Message, OutputSpec, Part, PartKind, Role

__all__ = ["DirectCompletions"]

CompleteFn = Callable[
    [str, tuple[Message, ...], str, str, int | None, OutputSpec | None], Awaitable[LlmResponse]
]


class DirectCompletions:
    """A model client scoped to one phase of one turn."""

    def __init__(self, phase: str, complete: CompleteFn) -> None:
        self.phase = phase
        self._complete = complete

    async def complete(
        self,
        prompt: str | Sequence[Message],
        *,
        source: str,
        system_prompt: str = "",
        max_output_tokens: int | None = None,
        output_spec: OutputSpec | None = None,
    ) -> LlmResponse:
        """Ask the session's model; ``source`` labels the usage in the ledger (``compaction``...);
        ``output_spec`` asks for structured output (the answer's ``text`` is then JSON)."""
        if not source:
            raise ValueError("a direct completion needs a usage source, such as source='summary'")
        if isinstance(prompt, str):
            messages: tuple[Message, ...] = (
                Message("direct", Role.USER, (Part("direct.p0", PartKind.TEXT, prompt),)),
            )
        else:
            messages = tuple(prompt)
        return await self._complete(
            self.phase, messages, source, system_prompt, max_output_tokens, output_spec
        )
