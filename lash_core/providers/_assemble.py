"""Assembling a model's output from stream pieces while reporting stream events.

A provider's stream parser feeds :class:`ResponseAssembler` with pieces keyed by the
vendor's own block identity (an output index, a content-block index, an item id); the
assembler keeps the blocks in the order they first appeared, reports the matching
:data:`~lash_core.model.LlmStreamEvent` values, and finally builds the response parts.
The same assembler fed from a buffered body gives the same parts, so the streaming and
non-streaming paths cannot drift apart. Text whose role is not known yet (OpenAI
``commentary``, which is the answer only when no ``final_answer`` follows) can be
withheld: assembled but not reported until it is released, as answer text or as
invisible text kept only for replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

from attrs import define, field

from lash_core.model import (
    LlmPart,
    LlmReasoningPart,
    LlmTextPart,
    LlmToolCallPart,
    StreamReasoningDelta,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    TokenUsage,
)
from lash_core.providers._contract import StreamCallback

__all__ = ["ResponseAssembler", "merge_usage"]


def merge_usage(earlier: TokenUsage, later: TokenUsage) -> TokenUsage:
    """Usage reports of one stream merged: a later non-zero bucket replaces the earlier one."""
    return TokenUsage(
        later.input_tokens or earlier.input_tokens,
        later.output_tokens or earlier.output_tokens,
        later.cache_read_input_tokens or earlier.cache_read_input_tokens,
        later.cache_write_input_tokens or earlier.cache_write_input_tokens,
        later.reasoning_output_tokens or earlier.reasoning_output_tokens,
    )


@define
class _Block:
    kind: str
    text: list[str] = field(factory=list)
    meta: Any = None
    call_id: str = ""
    name: str = ""
    tool_index: int = -1
    started: bool = False
    withheld: bool = False
    visible: bool = True

    @property
    def reported(self) -> bool:
        return self.visible and not self.withheld

    @property
    def joined(self) -> str:
        return "".join(self.text)


class ResponseAssembler:
    """Collects text, reasoning and tool-call blocks; see the module docs.

    ``on_event`` receives the stream events (``None``: assemble silently, e.g. for a
    buffered body).
    """

    def __init__(self, on_event: StreamCallback | None = None) -> None:
        self._on_event = on_event
        self._blocks: dict[Hashable, _Block] = {}
        self._tool_count = 0
        self.usage = TokenUsage()
        self.usage_reported = False

    async def _emit(self, event: Any) -> None:
        if self._on_event is not None:
            await self._on_event(event)

    def _block(self, key: Hashable, kind: str) -> _Block:
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = _Block(kind)
        return block

    @property
    def has_output(self) -> bool:
        """True once any text, reasoning or tool call was seen."""
        return any(b.kind == "tool" or b.text or b.meta is not None for b in self._blocks.values())

    @property
    def has_tool_calls(self) -> bool:
        """True once a tool call was seen."""
        return self._tool_count > 0

    async def text(self, key: Hashable, delta: str) -> None:
        """Append ``delta`` to text block ``key`` and report it."""
        if not delta:
            self._block(key, "text")
            return
        block = self._block(key, "text")
        block.text.append(delta)
        if block.reported:
            await self._emit(StreamTextDelta(delta))

    async def reasoning(self, key: Hashable, delta: str) -> None:
        """Append ``delta`` to reasoning block ``key`` and report it."""
        block = self._block(key, "reasoning")
        if delta:
            block.text.append(delta)
            await self._emit(StreamReasoningDelta(delta))

    async def reconcile_text(self, key: Hashable, full: str, *, reasoning: bool = False) -> None:
        """The vendor's final text for a block: a missing suffix is reported, a
        different text replaces what was assembled (without further events)."""
        block = self._block(key, "reasoning" if reasoning else "text")
        have = block.joined
        if full == have:
            return
        if full.startswith(have):
            suffix = full[len(have) :]
            block.text.append(suffix)
            if block.reported:
                await self._emit(StreamReasoningDelta(suffix) if reasoning else StreamTextDelta(suffix))
        else:
            block.text = [full]

    def withhold(self, key: Hashable) -> None:
        """Assemble text block ``key`` without reporting it until :meth:`release`."""
        self._block(key, "text").withheld = True

    async def release(self, key: Hashable, *, visible: bool = True) -> None:
        """Stop withholding text block ``key``: visible, its text so far is reported as one
        delta (and later deltas as they come); invisible, it is never reported and its part
        is built with ``visible=False`` (kept for replay, not part of the answer)."""
        block = self._block(key, "text")
        was_reported = block.reported
        block.withheld = False
        block.visible = visible
        if block.reported and not was_reported and block.joined:
            await self._emit(StreamTextDelta(block.joined))

    def content(self, key: Hashable) -> str:
        """The text assembled so far for block ``key`` (``""`` if none)."""
        block = self._blocks.get(key)
        return block.joined if block else ""

    def set_meta(self, key: Hashable, meta: Any, *, kind: str = "text") -> None:
        """Attach replay state (reasoning) or response metadata (text) to block ``key``."""
        self._block(key, kind).meta = meta

    def meta(self, key: Hashable) -> Any:
        """The replay state or metadata attached to block ``key`` (``None`` if absent)."""
        block = self._blocks.get(key)
        return block.meta if block else None

    async def tool_call(self, key: Hashable, *, call_id: str | None = None, name: str | None = None) -> None:
        """Open (or complete the identity of) tool-call block ``key``; reports the start
        once both the id and the name are known (a missing id gets a generated one when
        arguments arrive)."""
        block = self._block(key, "tool")
        if block.tool_index < 0:
            block.tool_index = self._tool_count
            self._tool_count += 1
        if call_id and not block.call_id:
            block.call_id = call_id
        if name and not block.name:
            block.name = name
        if not block.started and block.call_id and block.name:
            block.started = True
            await self._emit(StreamToolCallStart(block.tool_index, block.call_id, block.name))

    async def tool_arguments(self, key: Hashable, delta: str) -> None:
        """Append a piece of tool call ``key``'s argument JSON and report it."""
        block = self._block(key, "tool")
        if block.tool_index < 0:
            await self.tool_call(key)
        if not delta:
            return
        if not block.started:
            await self._start_now(block)
        block.text.append(delta)
        await self._emit(StreamToolCallDelta(block.tool_index, delta))

    async def _start_now(self, block: _Block) -> None:
        if not block.call_id:
            block.call_id = f"call_{uuid.uuid4().hex[:24]}"
        block.started = True
        await self._emit(StreamToolCallStart(block.tool_index, block.call_id, block.name))

    def set_tool_call(
        self,
        key: Hashable,
        *,
        call_id: str | None = None,
        name: str | None = None,
        arguments: str | None = None,
        replay: Any = None,
    ) -> None:
        """The vendor's final word on tool call ``key`` (no events)."""
        block = self._block(key, "tool")
        if block.tool_index < 0:
            block.tool_index = self._tool_count
            self._tool_count += 1
        if call_id:
            block.call_id = call_id
        if name:
            block.name = name
        if arguments is not None:
            block.text = [arguments]
        if replay is not None:
            block.meta = replay

    async def report_usage(self, usage: TokenUsage) -> None:
        """Merge a usage report (see :func:`merge_usage`) and report the merged usage."""
        self.usage = merge_usage(self.usage, usage)
        self.usage_reported = True
        await self._emit(StreamUsage(self.usage))

    async def finish_tool_calls(self) -> None:
        """Report the start of tool calls that never got one (no id or no name streamed)."""
        for block in self._blocks.values():
            if block.kind == "tool" and not block.started:
                await self._start_now(block)

    def parts(self) -> tuple[LlmPart, ...]:
        """The assembled parts, in first-seen order; empty text blocks are dropped."""
        parts: list[LlmPart] = []
        for block in self._blocks.values():
            if block.kind == "text":
                if block.text and block.joined:
                    parts.append(LlmTextPart(block.joined, block.meta, visible=block.visible))
            elif block.kind == "reasoning":
                if block.joined or block.meta is not None:
                    parts.append(LlmReasoningPart(block.joined, block.meta))
            else:
                call_id = block.call_id or f"call_{uuid.uuid4().hex[:24]}"
                block.call_id = call_id
                parts.append(LlmToolCallPart(call_id, block.name, block.joined, block.meta))
        return tuple(parts)
