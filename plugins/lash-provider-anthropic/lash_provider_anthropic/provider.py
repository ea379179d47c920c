"""The ``anthropic`` provider: the Anthropic Messages API over httpx.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``; streamed (SSE)
when the caller streams, buffered otherwise, with the same final response either way.
The request and attempt lifecycle, timeouts, the retry ladder, failure classification and
secret redaction are the kernel's (:class:`lash_core.providers.HttpProvider`); see
:mod:`._body` for the request and :mod:`._parse` for the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from lash_core.errors import ProviderError
from lash_core.model import LlmRequest, ProviderFailure, ProviderFailureKind
from lash_core.providers import AttachmentLoader, HttpProvider, error_details, failure_error
from lash_provider_anthropic._body import build_body
from lash_provider_anthropic._parse import MessagesParser
from lash_provider_anthropic.settings import AnthropicSettings

__all__ = ["API_MEDIA_TYPES", "AnthropicProvider", "AttachmentLoader"]

API_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain")
"""What the Messages API carries: images as ``image`` blocks, PDF and plain text as ``document``."""


class AnthropicProvider(HttpProvider):
    """Anthropic Messages API provider. Construct with :class:`AnthropicSettings` and,
    optionally, an ``httpx.AsyncClient`` (used as is, never closed here), an
    ``attachment_loader``, a ``sleep`` for the retry ladder and an ``environ`` to read the key
    variable from (``os.environ`` by default)."""

    settings_class: ClassVar[type[AnthropicSettings]] = AnthropicSettings
    settings: AnthropicSettings
    parser_class: ClassVar[type[MessagesParser]] = MessagesParser
    kind: ClassVar[str] = "anthropic"
    path: ClassVar[str] = "v1/messages"
    vendor: ClassVar[str] = "Anthropic (Messages)"
    api_name: ClassVar[str] = "the Anthropic Messages API"
    api_media_types: ClassVar[tuple[str, ...]] = API_MEDIA_TYPES
    api_output_specs: ClassVar[tuple[str, ...]] = ("json_schema",)
    attachment_advice: ClassVar[str] = "convert it or use another provider"

    def key_env(self) -> str:
        """``api_key_env``, else ``ANTHROPIC_API_KEY``."""
        return self.settings.resolved_key_env

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """``anthropic-version``, ``x-api-key`` (when there is a key) and ``anthropic-beta``."""
        headers: dict[str, str] = {"anthropic-version": self.settings.anthropic_version}
        if api_key:
            headers["x-api-key"] = api_key
        if self.settings.betas:
            headers["anthropic-beta"] = ",".join(self.settings.betas)
        return headers

    def vendor_label(self) -> str:
        """``Anthropic (Messages)``, or the gateway's base URL."""
        return self.vendor if self.settings.base_url is None else f"{self.settings.base_url} (Messages)"

    def max_tokens(self, request: LlmRequest) -> int:
        """``max_tokens`` for ``request``: its output cap (the model spec's), lowered by the
        ``max_output_tokens`` setting, else ``default_max_tokens``."""
        return self.output_cap(request) or self.settings.default_max_tokens

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The Messages body for ``request`` (raises a validation error before anything is sent)."""
        attachments = await self.load_attachments(request)
        return build_body(
            request,
            self.settings,
            stream=stream,
            attachments=attachments,
            max_tokens=self.max_tokens(request),
        )

    def refine_error(self, exc: ProviderError) -> ProviderError:
        """Anthropic answers an unknown model with 404 ``not_found_error`` and the message
        ``model: <id>``: an ``unsupported`` failure (the kernel files 404s as ``unknown``)."""
        failure = exc.failure
        if not isinstance(failure, ProviderFailure) or failure.status != 404:
            return exc
        message, _, kind = error_details(failure.raw or "")
        if kind != "not_found_error" or not message.startswith("model:"):
            return exc
        return failure_error(
            attrs.evolve(
                failure,
                kind=ProviderFailureKind.UNSUPPORTED,
                message=self._redactor(
                    f"{self.http.vendor} answered HTTP 404: {message}; the model does not exist or the key "
                    "may not use it: check the model id in the model spec"
                ),
            )
        )
