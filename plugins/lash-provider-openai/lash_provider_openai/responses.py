"""The ``openai-responses`` provider: the OpenAI Responses API.

``POST {base_url}/responses``; streamed (SSE) when the caller streams, buffered
otherwise, with the same final response either way. Reasoning items are kept with their
encrypted content and replayed on later requests. See :mod:`._responses_body` for the
request and :mod:`._responses_parse` for the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lash_core.model import LlmRequest, LlmResponse
from lash_core.providers import SseEvent, StreamCallback
from lash_provider_openai._common import OpenAIProviderBase
from lash_provider_openai._responses_body import responses_body
from lash_provider_openai._responses_parse import ResponsesParser
from lash_provider_openai.settings import ResponsesSettings

__all__ = ["OpenAIResponsesProvider"]


class OpenAIResponsesProvider(OpenAIProviderBase):
    """Responses API provider. Construct with :class:`ResponsesSettings` and, optionally,
    an ``httpx.AsyncClient`` (used as is, never closed here), an ``attachment_loader`` and
    a ``sleep`` for the retry ladder."""

    settings_class: ClassVar[type[ResponsesSettings]] = ResponsesSettings
    settings: ResponsesSettings
    path: ClassVar[str] = "responses"
    api_name: ClassVar[str] = "Responses"
    api_media_types: ClassVar[tuple[str, ...]] = (
        "image/*",
        "application/pdf",
        "text/*",
        "application/json",
        "application/vnd.openxmlformats-officedocument.*",
        "application/msword",
    )

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The Responses body for ``request``."""
        attachments = await self.load_attachments(request)
        return responses_body(
            request,
            self.settings,
            stream=stream,
            attachments=attachments,
            reasoning_dialect=self.reasoning_dialect(request),
            max_tokens=self.max_output_tokens(request),
        )

    def _parser(self, on_event: StreamCallback | None) -> ResponsesParser:
        return ResponsesParser(
            on_event,
            redact=self.http.redact,
            vendor=self.http.vendor,
            expose_reasoning=self.settings.expose_reasoning,
        )

    async def attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt: post, parse the stream or the buffered body."""
        async with self.http.post(self.path, body, stream=streaming) as reply:
            if streaming and reply.is_event_stream:
                parser = self._parser(on_event)
                await parser.feed_events(reply.events())
                parser.check_termination()
                return await parser.response()
            payload = await reply.read_body()
        parser = self._parser(None)
        if isinstance(payload, list) and all(isinstance(e, SseEvent) for e in payload):
            await parser.feed_events(payload)
            parser.check_termination()
        else:
            await parser.feed_response(payload)
        return await parser.response()
