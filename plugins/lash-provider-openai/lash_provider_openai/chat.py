"""The ``openai`` provider: OpenAI Chat Completions and every compatible server.

``POST {base_url}/chat/completions``; streamed (SSE) when the caller streams, buffered
otherwise, with the same final response either way. See :mod:`._chat_body` for the
request and :mod:`._chat_parse` for the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lash_core.model import LlmRequest, LlmResponse
from lash_core.providers import SseEvent, StreamCallback
from lash_provider_openai._chat_body import chat_body
from lash_provider_openai._chat_parse import ChatParser
from lash_provider_openai._common import OpenAIProviderBase
from lash_provider_openai.settings import ChatSettings

__all__ = ["OpenAIChatProvider"]


class OpenAIChatProvider(OpenAIProviderBase):
    """Chat Completions provider. Construct with :class:`ChatSettings` and, optionally, an
    ``httpx.AsyncClient`` (used as is, never closed here), an ``attachment_loader`` and a
    ``sleep`` for the retry ladder."""

    settings_class: ClassVar[type[ChatSettings]] = ChatSettings
    settings: ChatSettings
    path: ClassVar[str] = "chat/completions"
    api_name: ClassVar[str] = "Chat Completions"
    api_media_types: ClassVar[tuple[str, ...]] = ("image/*", "application/pdf")

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The Chat Completions body for ``request``."""
        attachments = await self.load_attachments(request)
        return chat_body(
            request,
            self.settings,
            stream=stream,
            attachments=attachments,
            reasoning_dialect=self.reasoning_dialect(request),
            max_tokens=self.max_output_tokens(request),
        )

    async def attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt: post, parse the stream or the buffered body."""
        vendor = self.http.vendor
        async with self.http.post(self.path, body, stream=streaming) as reply:
            if streaming and reply.is_event_stream:
                parser = ChatParser(
                    on_event,
                    redact=self.http.redact,
                    vendor=vendor,
                    expose_reasoning=self.settings.expose_reasoning,
                )
                await parser.feed_events(reply.events())
                parser.check_termination(self.settings.stream_termination)
                return await parser.response()
            payload = await reply.read_body()
        parser = ChatParser(
            None, redact=self.http.redact, vendor=vendor, expose_reasoning=self.settings.expose_reasoning
        )
        if isinstance(payload, list) and all(isinstance(e, SseEvent) for e in payload):
            await parser.feed_events(payload)
            parser.check_termination(self.settings.stream_termination)
        else:
            await parser.feed(payload)
        return await parser.response()
