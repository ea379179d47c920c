"""The echo provider: answers by echoing the last user message, or calls a tool on
``/call <tool> <json>``; streams word by word; estimates usage (four characters a token)."""

from __future__ import annotations

from attrs import frozen

from lash_core.model import (
    LlmRequest,
    LlmResponse,
    LlmTextPart,
    LlmToolCallPart,
    Message,
    PartKind,
    Role,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    TerminalReason,
    TokenUsage,
)
from lash_core.providers import StreamCallback

__all__ = ["EchoProvider", "EchoSettings"]


@frozen
class EchoSettings:
    """Settings of the echo provider."""

    prefix: str = "echo: "


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def _prompt_chars(request: LlmRequest) -> int:
    return len(request.system_prompt) + sum(len(p.content) for m in request.messages for p in m.parts)


class EchoProvider:
    """Echoes; see the module docs."""

    def __init__(self, settings: EchoSettings | None = None) -> None:
        self.settings = settings or EchoSettings()

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Answer ``request`` by echoing or by calling the requested tool."""
        last = request.messages[-1] if request.messages else None
        tool_results = [p for p in last.parts if p.kind is PartKind.TOOL_RESULT] if last else []
        if tool_results:
            text = "\n".join(f"tool {p.tool_name} returned: {p.content}" for p in tool_results)
            return await self._text(request, text, on_event)
        user_text = _last_user_text(request.messages)
        if user_text.startswith("/call "):
            name, _, arguments = user_text[len("/call ") :].strip().partition(" ")
            if name and any(tool.name == name for tool in request.tools):
                return await self._tool_call(request, name, arguments.strip() or "{}", on_event)
        return await self._text(request, f"{self.settings.prefix}{user_text}", on_event)

    async def _text(self, request: LlmRequest, text: str, on_event: StreamCallback | None) -> LlmResponse:
        usage = TokenUsage(input_tokens=_tokens("x" * _prompt_chars(request)), output_tokens=_tokens(text))
        if on_event is not None:
            words = text.split(" ")
            for index, word in enumerate(words):
                await on_event(StreamTextDelta(word if index == len(words) - 1 else word + " "))
            await on_event(StreamUsage(usage))
        return LlmResponse((LlmTextPart(text),), usage, TerminalReason.STOP, model=request.model.id)

    async def _tool_call(
        self, request: LlmRequest, name: str, arguments: str, on_event: StreamCallback | None
    ) -> LlmResponse:
        call_id = f"echo_call_{len(request.messages)}"
        usage = TokenUsage(
            input_tokens=_tokens("x" * _prompt_chars(request)), output_tokens=_tokens(arguments)
        )
        if on_event is not None:
            await on_event(StreamToolCallStart(0, call_id, name))
            await on_event(StreamToolCallDelta(0, arguments))
            await on_event(StreamUsage(usage))
        part = LlmToolCallPart(call_id, name, arguments)
        return LlmResponse((part,), usage, TerminalReason.TOOL_USE, model=request.model.id)


def _last_user_text(messages: tuple[Message, ...]) -> str:
    for message in reversed(messages):
        if message.role is Role.USER:
            return "".join(p.content for p in message.parts if p.kind is PartKind.TEXT)
    return ""
