"""The ``openai-responses`` provider: the OpenAI Responses API.

``POST {base_url}/responses``; streamed (SSE) when the caller streams, buffered
otherwise, with the same final response either way. Reasoning items are kept with their
encrypted content and replayed on later requests. See :mod:`._responses_body` for the
request and :mod:`._responses_parse` for the answer.
"""

from __future__ import annotations

from typing import ClassVar

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
    parser_class: ClassVar[type[ResponsesParser]] = ResponsesParser
    body_builder = staticmethod(responses_body)
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
