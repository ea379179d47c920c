"""Parsing Messages API answers (SSE events or one message object) into an LlmResponse.

Stream events, in order: ``message_start`` (message id, model, input and cache usage),
then per content block ``content_block_start`` / ``content_block_delta`` /
``content_block_stop`` keyed by ``index``, ``message_delta`` (``stop_reason`` and the
final, cumulative output usage), ``message_stop``; ``ping`` is ignored and ``error``
fails the attempt (retried when transient: ``overloaded_error``, ``api_error``,
``rate_limit_error``). Blocks:

* ``text`` (``text_delta``) is text; ``thinking`` (``thinking_delta``, then
  ``signature_delta``) is reasoning whose replay state is ``{"type": "thinking",
  "signature": ...}``; ``redacted_thinking`` is reasoning without text whose replay state
  is ``{"type": "redacted_thinking", "data": ...}``;
* ``tool_use`` is a tool call: ``input_json_delta`` pieces are its raw argument JSON; when
  none carries any text (an empty ``partial_json``) the arguments are ``{}`` (or the
  block's initial ``input``); other block types (server tools) are skipped.

Usage: ``input_tokens`` already excludes cache reads and writes, so input, cache read
(``cache_read_input_tokens``) and cache write (``cache_creation_input_tokens``) map
one to one; output comes from ``message_delta`` only (``message_start`` carries a
provisional count); reasoning is ``output_tokens_details.thinking_tokens``. A stream that
ends without ``message_stop`` is a retryable ``stream`` failure. A buffered message goes
through the same block handling, so both paths give the same response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from lash_core.model import LlmResponse, LlmStreamEvent, StreamReasoningDelta, TerminalReason, TokenUsage
from lash_core.providers import Redactor, StreamCallback, StreamParser, failure_error, stream_failure

__all__ = ["MessagesParser", "normalize_usage", "stop_terminal"]

_STOP = ("end_turn", "stop_sequence", "pause_turn")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def normalize_usage(raw: Mapping[str, Any] | None, *, final: bool = True) -> TokenUsage:
    """Anthropic usage in five buckets. ``final=False`` (``message_start``) leaves output at
    zero: that count is provisional and the final one arrives with ``message_delta``."""
    if not raw:
        return TokenUsage()
    written = _int(raw.get("cache_creation_input_tokens"))
    if not written and isinstance(raw.get("cache_creation"), Mapping):
        written = sum(_int(v) for v in raw["cache_creation"].values())
    details = raw.get("output_tokens_details")
    reasoning = _int(details.get("thinking_tokens")) if isinstance(details, Mapping) else 0
    return TokenUsage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")) if final else 0,
        cache_read_input_tokens=_int(raw.get("cache_read_input_tokens")),
        cache_write_input_tokens=written,
        reasoning_output_tokens=reasoning if final else 0,
    )


def stop_terminal(stop_reason: str | None, has_tools: bool) -> tuple[TerminalReason, str | None]:
    """The terminal reason (and a diagnostic) for a ``stop_reason``."""
    value = stop_reason or ""
    if value == "tool_use":
        return TerminalReason.TOOL_USE, None
    if value in _STOP:
        return (TerminalReason.TOOL_USE if has_tools else TerminalReason.STOP), None
    if value == "max_tokens":
        return TerminalReason.OUTPUT_LIMIT, None
    if value == "model_context_window_exceeded":
        return TerminalReason.CONTEXT_OVERFLOW, "the model's context window filled up while answering"
    if value in ("refusal", "safety", "sensitive"):
        return TerminalReason.CONTENT_FILTER, f"the model declined to answer (stop_reason {value})"
    if not value:
        return TerminalReason.UNKNOWN, "the answer carried no stop_reason"
    return TerminalReason.UNKNOWN, f"unrecognized stop_reason {value!r}"


def _without_reasoning(on_event: StreamCallback) -> StreamCallback:
    async def forward(event: LlmStreamEvent) -> None:
        if not isinstance(event, StreamReasoningDelta):
            await on_event(event)

    return forward


class MessagesParser(StreamParser):
    """Feeds Messages API events (or a whole message) into a :class:`ResponseAssembler`;
    ``finish_reason`` is the ``stop_reason``.

    With ``expose_reasoning`` off, thinking is still assembled (its text and signature are
    needed for replay) but no reasoning deltas are reported.
    """

    end_marker: ClassVar[str] = "message_stop"
    end_code: ClassVar[str] = "stream_ended_before_message_stop"

    def __init__(
        self, on_event: StreamCallback | None, *, redact: Redactor, vendor: str, expose_reasoning: bool = True
    ) -> None:
        if on_event is not None and not expose_reasoning:
            on_event = _without_reasoning(on_event)
        super().__init__(on_event, redact=redact, vendor=vendor, expose_reasoning=expose_reasoning)
        self._kinds: dict[int, str] = {}
        self._signatures: dict[int, str] = {}
        self._tool_input: dict[int, Any] = {}
        self._tool_args: dict[int, bool] = {}
        self._open_tools: set[int] = set()
        self.stop_sequence: str | None = None

    # --- blocks ---------------------------------------------------------------------------

    async def _block_start(self, index: int, block: Mapping[str, Any]) -> None:
        kind = str(block.get("type") or "")
        self._kinds[index] = kind
        key = ("block", index)
        if kind == "text":
            await self.assembler.text(key, str(block.get("text") or ""))
        elif kind == "thinking":
            await self.assembler.reasoning(key, str(block.get("thinking") or ""))
            self._signatures[index] = str(block.get("signature") or "")
            self.assembler.set_meta(
                key, {"type": "thinking", "signature": self._signatures[index]}, kind="reasoning"
            )
        elif kind == "redacted_thinking":
            self.assembler.set_meta(
                key, {"type": "redacted_thinking", "data": str(block.get("data") or "")}, kind="reasoning"
            )
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            await self.assembler.tool_call(
                key,
                call_id=call_id if isinstance(call_id, str) else None,
                name=name if isinstance(name, str) else None,
            )
            self._tool_input[index] = block.get("input")
            self._tool_args[index] = False
            self._open_tools.add(index)

    async def _block_delta(self, index: int, delta: Mapping[str, Any]) -> None:
        kind = delta.get("type")
        block = self._kinds.get(index)
        key = ("block", index)
        if kind == "text_delta" and block in (None, "text"):
            self._kinds[index] = "text"
            await self.assembler.text(key, str(delta.get("text") or ""))
        elif kind == "thinking_delta" and block in (None, "thinking"):
            if block is None:
                await self._block_start(index, {"type": "thinking"})
            await self.assembler.reasoning(key, str(delta.get("thinking") or ""))
        elif kind == "signature_delta" and block == "thinking":
            self._signatures[index] = self._signatures.get(index, "") + str(delta.get("signature") or "")
            self.assembler.set_meta(
                key, {"type": "thinking", "signature": self._signatures[index]}, kind="reasoning"
            )
        elif kind == "input_json_delta" and block == "tool_use":
            piece = str(delta.get("partial_json") or "")
            if piece.strip():
                self._tool_args[index] = True
            await self.assembler.tool_arguments(key, piece)

    async def _block_stop(self, index: int) -> None:
        if index not in self._open_tools:
            return
        self._open_tools.discard(index)
        if self._tool_args.get(index):
            return
        initial = self._tool_input.get(index)
        arguments = json.dumps(initial, ensure_ascii=False) if isinstance(initial, dict) and initial else "{}"
        await self.assembler.tool_arguments(("block", index), arguments)

    # --- events ---------------------------------------------------------------------------

    def _stop(self, source: Mapping[str, Any]) -> None:
        if source.get("stop_reason"):
            self.finish_reason = str(source["stop_reason"])
        if source.get("stop_sequence"):
            self.stop_sequence = str(source["stop_sequence"])

    async def handle(self, kind: str, data: dict[str, Any]) -> None:
        """One stream event, by type."""
        index = data.get("index")
        index = index if isinstance(index, int) else 0
        if kind == "message_start":
            message = data.get("message")
            self.header(message)
            if isinstance(message, Mapping) and isinstance(message.get("usage"), Mapping):
                await self.assembler.report_usage(normalize_usage(message["usage"], final=False))
        elif kind == "content_block_start" and isinstance(data.get("content_block"), Mapping):
            await self._block_start(index, data["content_block"])
        elif kind == "content_block_delta" and isinstance(data.get("delta"), Mapping):
            await self._block_delta(index, data["delta"])
        elif kind == "content_block_stop":
            await self._block_stop(index)
        elif kind == "message_delta":
            if isinstance(data.get("delta"), Mapping):
                self._stop(data["delta"])
            if isinstance(data.get("usage"), Mapping):
                await self.assembler.report_usage(normalize_usage(data["usage"]))
        elif kind == "message_stop":
            self.terminal = True
        elif kind == "error":
            raise self.vendor_error(data)

    async def feed_body(self, message: Any) -> None:
        """A whole (buffered) message object."""
        if not isinstance(message, Mapping):
            raise failure_error(
                stream_failure("the response is not a JSON object", code="malformed_response")
            )
        if message.get("type") == "error" or ("error" in message and "content" not in message):
            raise self.vendor_error(message)
        self.header(message)
        for index, block in enumerate(message.get("content") or ()):
            if isinstance(block, Mapping):
                await self._block_start(index, block)
                await self._block_stop(index)
        self._stop(message)
        if isinstance(message.get("usage"), Mapping):
            await self.assembler.report_usage(normalize_usage(message["usage"]))
        self.terminal = True

    def terminal_reason(self) -> tuple[TerminalReason, str | None]:
        """The terminal reason of the ``stop_reason``."""
        return stop_terminal(self.finish_reason, self.assembler.has_tool_calls)

    async def response(self) -> LlmResponse:
        """The final response (a tool block the stream never closed is closed first)."""
        for index in sorted(self._open_tools):
            await self._block_stop(index)
        return await super().response()
