"""Parsing Chat Completions answers (SSE chunks or one JSON body) into an LlmResponse.

Streamed chunks: ``delta.content`` is text; ``delta.reasoning_content`` / ``reasoning`` /
``reasoning_text`` (compatible servers, OpenRouter) is reasoning; ``delta.tool_calls[i]``
is accumulated by ``index`` (id and name once, ``arguments`` concatenated); a top-level
``error`` object fails the attempt (retried when transient); ``usage`` may arrive on its
own chunk (``choices: []``); ``data: [DONE]`` ends the stream. A stream that ends without
the evidence the ``stream_termination`` setting asks for is a retryable ``stream``
failure, never a silently short answer. A buffered body goes through the same code.
"""

from __future__ import annotations

import json
from typing import Any

from lash_core.model import TerminalReason
from lash_core.providers import (
    Redactor,
    SseEvent,
    StreamCallback,
    StreamParser,
    failure_error,
    stream_failure,
)
from lash_provider_openai._common import normalize_usage

__all__ = ["ChatParser", "chat_terminal"]

_REASONING_KEYS = ("reasoning_content", "reasoning", "reasoning_text")


def chat_terminal(finish: str | None, has_tools: bool, refusal: str) -> tuple[TerminalReason, str | None]:
    """The terminal reason (and a diagnostic) for a finish reason."""
    if refusal:
        return TerminalReason.CONTENT_FILTER, f"the model refused: {refusal}"
    value = (finish or "").lower()
    if value in ("tool_calls", "function_call"):
        return TerminalReason.TOOL_USE, None
    if value in ("length", "max_tokens", "max_output_tokens"):
        return TerminalReason.OUTPUT_LIMIT, None
    if value in ("content_filter", "safety"):
        return TerminalReason.CONTENT_FILTER, "the provider's content filter stopped the answer"
    if value in ("", "stop", "end_turn", "stop_sequence", "eos"):
        return (TerminalReason.TOOL_USE if has_tools else TerminalReason.STOP), None
    return TerminalReason.UNKNOWN, f"unrecognized finish_reason {finish!r}"


class ChatParser(StreamParser):
    """Feeds Chat chunks (or a whole completion) into a :class:`ResponseAssembler`;
    ``terminal`` once ``[DONE]`` arrived. ``termination`` is the ``stream_termination``
    setting (what proves a stream complete)."""

    def __init__(
        self,
        on_event: StreamCallback | None,
        *,
        redact: Redactor,
        vendor: str,
        expose_reasoning: bool = True,
        termination: str = "done",
    ) -> None:
        super().__init__(on_event, redact=redact, vendor=vendor, expose_reasoning=expose_reasoning)
        self.termination = termination
        self._details: list[Any] = []
        self.refusal: list[str] = []

    async def feed(self, chunk: Any) -> None:
        """One chunk (streaming) or the whole completion (buffered)."""
        if not isinstance(chunk, dict):
            raise failure_error(
                stream_failure(f"expected a JSON object, got {type(chunk).__name__}", code="malformed_event")
            )
        if chunk.get("error"):
            raise self.vendor_error(chunk["error"])
        self.model = self.model or chunk.get("model") or None
        self.response_id = self.response_id or chunk.get("id") or None
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                await self._choice(choice)
                if isinstance(choice.get("usage"), dict):
                    await self.assembler.report_usage(normalize_usage(choice["usage"]))
        if isinstance(chunk.get("usage"), dict):
            await self.assembler.report_usage(normalize_usage(chunk["usage"]))

    async def _choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        buffered = delta is None
        if buffered:
            delta = choice.get("message") or {}
        if not isinstance(delta, dict):
            return
        if self._expose:
            for key in _REASONING_KEYS:
                value = delta.get(key)
                if isinstance(value, str) and value:
                    await self.assembler.reasoning("reasoning", value)
                    break
        details = delta.get("reasoning_details")
        if isinstance(details, list) and details:
            self._details.extend(details)
            self.assembler.set_meta("reasoning", {"reasoning_details": list(self._details)}, kind="reasoning")
        content = delta.get("content")
        if isinstance(content, str):
            await self.assembler.text("text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.refusal.append(refusal)
        for position, call in enumerate(delta.get("tool_calls") or ()):
            if isinstance(call, dict):
                index = call.get("index", position if buffered else 0)
                await self._tool_call(("tool", index), call.get("id"), call.get("function") or {})
        if isinstance(delta.get("function_call"), dict):
            await self._tool_call(("tool", "function_call"), None, delta["function_call"])
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    async def _tool_call(self, key: Any, call_id: Any, function: dict[str, Any]) -> None:
        name = function.get("name")
        await self.assembler.tool_call(
            key,
            call_id=call_id if isinstance(call_id, str) else None,
            name=name if isinstance(name, str) else None,
        )
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = json.dumps(arguments, ensure_ascii=False)
        if isinstance(arguments, str):
            await self.assembler.tool_arguments(key, arguments)

    async def feed_body(self, body: Any) -> None:
        """A whole (buffered) completion."""
        await self.feed(body)

    def end_of_stream(self, data: str) -> bool | None:
        """``[DONE]`` ends the stream."""
        if data == "[DONE]":
            self.terminal = True
            return True
        return None

    async def feed_data(self, event: SseEvent, data: Any) -> bool:
        """One chunk; the stream goes on until ``[DONE]`` or its end."""
        await self.feed(data)
        return False

    def check_termination(self, mode: str | None = None) -> None:
        """Fail (retryably) when the stream lacks the evidence ``mode`` (default: the
        ``termination`` setting) asks for."""
        mode = mode or self.termination
        if mode == "eof" or self.terminal:
            return
        if mode == "finish_reason" and self.finish_reason:
            return
        raise self.ended_early("data: [DONE]" if mode == "done" else "a finish_reason")

    def terminal_reason(self) -> tuple[TerminalReason, str | None]:
        """The terminal reason of the finish reason (a refusal is a content filter)."""
        return chat_terminal(self.finish_reason, self.assembler.has_tool_calls, "".join(self.refusal))
