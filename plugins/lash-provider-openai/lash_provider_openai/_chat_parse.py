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
from collections.abc import AsyncIterator, Iterable
from typing import Any

from lash_core.model import LlmResponse, TerminalReason
from lash_core.providers import (
    Redactor,
    ResponseAssembler,
    SseEvent,
    StreamCallback,
    classify_error_object,
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


class ChatParser:
    """Feeds Chat chunks (or a whole completion) into a :class:`ResponseAssembler`."""

    def __init__(
        self, on_event: StreamCallback | None, *, redact: Redactor, vendor: str, expose_reasoning: bool = True
    ) -> None:
        self.assembler = ResponseAssembler(on_event)
        self._redact = redact
        self._vendor = vendor
        self._expose = expose_reasoning
        self._details: list[Any] = []
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.refusal: list[str] = []
        self.done = False
        self.events = 0

    async def feed(self, chunk: Any) -> None:
        """One chunk (streaming) or the whole completion (buffered)."""
        if not isinstance(chunk, dict):
            raise failure_error(
                stream_failure(f"expected a JSON object, got {type(chunk).__name__}", code="malformed_event")
            )
        if chunk.get("error"):
            raise failure_error(
                classify_error_object(chunk["error"], vendor=self._vendor, redact=self._redact)
            )
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

    async def feed_events(self, events: AsyncIterator[SseEvent] | Iterable[SseEvent]) -> None:
        """Every event of a stream, until ``[DONE]`` or the end of the body."""
        if isinstance(events, AsyncIterator):
            try:
                async for event in events:
                    if await self._event(event):
                        return
            finally:
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()
        else:
            for event in events:
                if await self._event(event):
                    return

    async def _event(self, event: SseEvent) -> bool:
        data = event.data.strip()
        if not data:
            return False
        if data == "[DONE]":
            self.done = True
            return True
        self.events += 1
        try:
            chunk = json.loads(data)
        except ValueError:
            raise failure_error(
                stream_failure(
                    f"{self._vendor} sent a stream event that is not JSON: {data[:120]!r}",
                    code="malformed_event",
                    redact=self._redact,
                )
            ) from None
        await self.feed(chunk)
        return False

    def check_termination(self, mode: str) -> None:
        """Fail (retryably) when the stream lacks the evidence ``mode`` asks for."""
        if mode == "eof" or self.done:
            return
        if mode == "finish_reason" and self.finish_reason:
            return
        marker = "data: [DONE]" if mode == "done" else "a finish_reason"
        raise failure_error(
            stream_failure(
                f"{self._vendor}'s stream ended before {marker} (after {self.events} events); the partial "
                "answer was discarded",
                code="stream_ended_before_terminal",
            )
        )

    async def response(self) -> LlmResponse:
        """The final response."""
        await self.assembler.finish_tool_calls()
        refusal = "".join(self.refusal)
        reason, diagnostic = chat_terminal(self.finish_reason, self.assembler.has_tool_calls, refusal)
        return LlmResponse(
            parts=self.assembler.parts(),
            usage=self.assembler.usage,
            terminal_reason=reason,
            model=self.model,
            response_id=self.response_id,
            provider_finish_reason=self.finish_reason,
            terminal_diagnostic=diagnostic,
        )
