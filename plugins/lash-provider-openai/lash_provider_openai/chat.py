"""The ``openai`` provider: OpenAI Chat Completions and every compatible server.

``POST {base_url}/chat/completions``; streamed (SSE) when the caller streams, buffered
otherwise, with the same final response either way. See :mod:`._chat_body` for the
request and :mod:`._chat_parse` for the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
    parser_class: ClassVar[type[ChatParser]] = ChatParser
    body_builder = staticmethod(chat_body)
    path: ClassVar[str] = "chat/completions"
    api_name: ClassVar[str] = "Chat Completions"
    api_media_types: ClassVar[tuple[str, ...]] = ("image/*", "application/pdf")

    def parser_options(self) -> dict[str, Any]:
        """What proves a stream complete: the ``stream_termination`` setting."""
        return {"termination": self.settings.stream_termination}
