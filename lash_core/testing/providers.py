"""Test-double providers: :class:`ScriptedProvider` (queued replies) and
:class:`FunctionProvider` (a function computes each reply)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import anyio
from attrs import define, field

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmPart,
    LlmReasoningPart,
    LlmRequest,
    LlmResponse,
    LlmStreamEvent,
    LlmTextPart,
    LlmToolCallPart,
    ProviderFailureKind,
    StreamReasoningDelta,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    TerminalReason,
    TokenUsage,
)
from lash_core.providers import StreamCallback, provider_error

__all__ = [
    "FunctionProvider",
    "Reply",
    "ScriptedProvider",
    "call",
    "reply_error",
    "reply_text",
    "reply_tool_calls",
]


@define
class Reply:
    """One queued reply: stream ``events`` are sent first (when the caller streams), then
    ``response`` is returned or ``error`` raised. ``gate``, when set, is awaited before
    replying, so a test can hold a call open (to cancel it, or submit input meanwhile)."""

    response: LlmResponse | None = None
    error: ProviderError | None = None
    events: tuple[LlmStreamEvent, ...] = ()
    gate: anyio.Event | None = None
    started: anyio.Event = field(factory=anyio.Event)


def call(
    name: str, args: Any = None, *, call_id: str | None = None, raw: str | None = None
) -> LlmToolCallPart:
    """A tool-call part; ``raw`` gives the argument text verbatim (to test bad JSON)."""
    arguments = raw if raw is not None else json.dumps(args if args is not None else {})
    return LlmToolCallPart(call_id or f"call_{name}", name, arguments)


def reply_text(
    text: str,
    *,
    chunks: Sequence[str] | None = None,
    reasoning: str = "",
    usage: TokenUsage | None = None,
    terminal_reason: TerminalReason = TerminalReason.STOP,
    gate: anyio.Event | None = None,
) -> Reply:
    """A prose reply, streamed in ``chunks`` (default: one chunk)."""
    parts: list[LlmPart] = []
    events: list[LlmStreamEvent] = []
    if reasoning:
        parts.append(LlmReasoningPart(reasoning))
        events.append(StreamReasoningDelta(reasoning))
    if text:
        parts.append(LlmTextPart(text))
    events.extend(
        StreamTextDelta(chunk) for chunk in (chunks if chunks is not None else [text] if text else [])
    )
    usage = usage or TokenUsage(input_tokens=10, output_tokens=max(1, len(text) // 4))
    events.append(StreamUsage(usage))
    response = LlmResponse(tuple(parts), usage, terminal_reason, model="scripted")
    return Reply(response=response, events=tuple(events), gate=gate)


def reply_tool_calls(
    *calls: LlmToolCallPart, text: str = "", usage: TokenUsage | None = None, gate: anyio.Event | None = None
) -> Reply:
    """A reply calling tools (optionally with prose first)."""
    parts: list[LlmPart] = [LlmTextPart(text)] if text else []
    parts.extend(calls)
    events: list[LlmStreamEvent] = [StreamTextDelta(text)] if text else []
    for index, tool_call in enumerate(calls):
        events.append(StreamToolCallStart(index, tool_call.call_id, tool_call.name))
        events.append(StreamToolCallDelta(index, tool_call.arguments))
    usage = usage or TokenUsage(input_tokens=10, output_tokens=5)
    events.append(StreamUsage(usage))
    return Reply(
        LlmResponse(tuple(parts), usage, TerminalReason.TOOL_USE, model="scripted"),
        events=tuple(events),
        gate=gate,
    )


def reply_error(
    kind: ProviderFailureKind, message: str, *, retryable: bool = False, status: int | None = None
) -> Reply:
    """A reply that fails with a classified provider error."""
    return Reply(error=provider_error(kind, message, retryable=retryable, status=status))


class ScriptedProvider:
    """Replies from a queue, recording every request it receives.

    An exhausted queue is a test bug: the call fails with a message saying how many
    replies were queued.
    """

    def __init__(self, replies: Iterable[Reply | LlmResponse | str] = ()) -> None:
        self.replies: list[Reply] = [self._coerce(r) for r in replies]
        self.requests: list[LlmRequest] = []
        self.calls = 0

    @staticmethod
    def _coerce(reply: Reply | LlmResponse | str) -> Reply:
        if isinstance(reply, Reply):
            return reply
        if isinstance(reply, str):
            return reply_text(reply)
        return Reply(response=reply)

    def queue(self, *replies: Reply | LlmResponse | str) -> ScriptedProvider:
        """Add replies to the queue; returns the provider."""
        self.replies.extend(self._coerce(r) for r in replies)
        return self

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Pop the next reply."""
        self.calls += 1
        self.requests.append(request)
        if not self.replies:
            raise provider_error(
                ProviderFailureKind.UNKNOWN,
                f"ScriptedProvider has no reply left for call {self.calls} (queue more replies in the test)",
            )
        reply = self.replies.pop(0)
        reply.started.set()
        if reply.gate is not None:
            await reply.gate.wait()
        if on_event is not None:
            for event in reply.events:
                await on_event(event)
        if reply.error is not None:
            raise reply.error
        assert reply.response is not None
        return reply.response


class FunctionProvider:
    """Computes each reply with ``fn(request)`` (sync or async) returning an
    :class:`LlmResponse` or a string (a prose reply)."""

    def __init__(self, fn: Callable[[LlmRequest], LlmResponse | str | Awaitable[LlmResponse | str]]) -> None:
        self.fn = fn
        self.requests: list[LlmRequest] = []

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Call the function; stream its text as one delta."""
        self.requests.append(request)
        result = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, str):
            reply = reply_text(result)
            if on_event is not None:
                for event in reply.events:
                    await on_event(event)
            assert reply.response is not None
            return reply.response
        return result
