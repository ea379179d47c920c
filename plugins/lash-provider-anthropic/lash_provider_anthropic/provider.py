"""The ``anthropic`` provider: the Anthropic Messages API over httpx.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``; streamed (SSE)
when the caller streams, buffered otherwise, with the same final response either way.
Timeouts, the retry ladder, failure classification and secret redaction are the kernel's
(:mod:`lash_core.providers`); see :mod:`._body` for the request and :mod:`._parse` for the
answer.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import anyio
import attrs
import httpx

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    LlmRequest,
    LlmResponse,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
)
from lash_core.providers import (
    ProviderHttp,
    Redactor,
    Sleep,
    SseEvent,
    StreamCallback,
    error_details,
    failure_error,
    provider_error,
    resolve_api_key,
    run_with_retries,
)
from lash_provider_anthropic._body import build_body, invalid_request
from lash_provider_anthropic._parse import MessagesParser
from lash_provider_anthropic.settings import AnthropicSettings

__all__ = ["API_MEDIA_TYPES", "AnthropicProvider", "AttachmentLoader"]

logger = logging.getLogger("lash_provider_anthropic")

AttachmentLoader = Callable[[AttachmentRef], Awaitable[bytes]]
"""Reads an attachment's bytes from the session's attachment store (used when the request's
``attachment_data`` lacks them, e.g. when the provider is called directly)."""

API_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "text/plain")
"""What the Messages API carries: images as ``image`` blocks, PDF and plain text as ``document``."""

_SECRET_HEADER = re.compile(r"(?i)auth|key|token|secret|cookie|session|password")


def _allowed(media_type: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(media_type.lower(), pattern.lower()) for pattern in patterns)


class AnthropicProvider:
    """Anthropic Messages API provider. Construct with :class:`AnthropicSettings` and,
    optionally, an ``httpx.AsyncClient`` (used as is, never closed here), an
    ``attachment_loader``, a ``sleep`` for the retry ladder and an ``environ`` to read the key
    variable from (``os.environ`` by default)."""

    kind: ClassVar[str] = "anthropic"
    path: ClassVar[str] = "v1/messages"
    vendor: ClassVar[str] = "Anthropic (Messages)"

    def __init__(
        self,
        settings: AnthropicSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        attachment_loader: AttachmentLoader | None = None,
        sleep: Sleep = anyio.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else AnthropicSettings()
        self._env_var = self.settings.resolved_key_env
        self._api_key = resolve_api_key(self.settings.api_key, self._env_var, environ=environ)
        secret_headers = [v for k, v in self.settings.headers.items() if _SECRET_HEADER.search(k)]
        self._redactor = Redactor([self._api_key, *secret_headers])
        self.attachment_loader = attachment_loader
        self._sleep = sleep
        headers: dict[str, str] = {"anthropic-version": self.settings.anthropic_version}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        if self.settings.betas:
            headers["anthropic-beta"] = ",".join(self.settings.betas)
        headers.update(self.settings.headers)
        vendor = self.vendor if self.settings.base_url is None else f"{self.settings.base_url} (Messages)"
        self.http = ProviderHttp(
            base_url=self.settings.resolved_base_url,
            headers=headers,
            timeouts=self.settings.timeouts,
            client=client,
            redactor=self._redactor,
            vendor=vendor,
            auth_hint=self._key_advice(),
        )

    def _key_advice(self) -> str:
        return (
            f'check the API key: set {self._env_var} or api_key = "$env:NAME" in the provider\'s settings, '
            "and check that the key may use this model"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.resolved_base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it (an injected one stays open)."""
        await self.http.aclose()

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Run one model call (streamed when ``on_event`` is given) under the retry ladder."""
        if self._api_key is None and self.settings.key_required:
            raise provider_error(
                ProviderFailureKind.AUTH,
                f"no API key for {self.http.vendor}: {self._key_advice()}",
                code="missing_api_key",
            )
        streaming = on_event is not None
        body = await self.build_body(request, stream=streaming)

        async def attempt(callback: StreamCallback | None) -> LlmResponse:
            return await self.attempt(body, callback, streaming=streaming)

        return await run_with_retries(
            attempt, policy=self.settings.retry, on_event=on_event, sleep=self._sleep, label=self.http.vendor
        )

    def max_tokens(self, request: LlmRequest) -> int:
        """``max_tokens`` for ``request``: its output cap (the model spec's), lowered by the
        ``max_output_tokens`` setting, else ``default_max_tokens``."""
        caps = [c for c in (request.max_output_tokens, self.settings.max_output_tokens) if c]
        return min(caps) if caps else self.settings.default_max_tokens

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

    async def load_attachments(self, request: LlmRequest) -> dict[str, bytes]:
        """The bytes of the request's attachments by id, after checking every media type
        against the model spec and the API (a clear error before any request is sent)."""
        refs = [
            p.attachment
            for m in request.messages
            for p in m.parts
            if p.kind is PartKind.ATTACHMENT and p.attachment is not None
        ]
        accepted = request.model.attachment_media_types
        for ref in refs:
            label = ref.name or ref.attachment_id
            if not _allowed(ref.media_type, accepted):
                raise invalid_request(
                    f"attachment {label!r} has media type {ref.media_type}, which model {request.model.id!r} "
                    f"does not accept (its attachment_media_types: {', '.join(accepted) or 'none'}); add the "
                    "type to the model spec if the model reads it, or remove the attachment",
                    "unsupported_attachment",
                )
            if not _allowed(ref.media_type, API_MEDIA_TYPES):
                raise invalid_request(
                    f"attachment {label!r} ({ref.media_type}) cannot be sent through the Anthropic Messages "
                    f"API, which carries {', '.join(API_MEDIA_TYPES)}; convert it or use another provider",
                    "unsupported_attachment",
                )
        data: dict[str, bytes] = {}
        for ref in refs:
            if ref.attachment_id in data:
                continue
            found = request.attachment_data.get(ref.attachment_id)
            if found is None and self.attachment_loader is not None:
                found = await self.attachment_loader(ref)
            if found is None:
                raise invalid_request(
                    f"the bytes of attachment {ref.attachment_id} are not in the request (the runtime loads them "
                    "into request.attachment_data); when calling the provider directly, pass them there or "
                    "construct it with attachment_loader=",
                    "attachment_data_missing",
                )
            data[ref.attachment_id] = found
        return data

    def _parser(self, on_event: StreamCallback | None) -> MessagesParser:
        return MessagesParser(
            on_event,
            redact=self.http.redact,
            vendor=self.http.vendor,
            expose_reasoning=self.settings.expose_reasoning,
        )

    async def attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt: post, parse the stream or the buffered body."""
        try:
            async with self.http.post(self.path, body, stream=streaming) as reply:
                if streaming and reply.is_event_stream:
                    parser = self._parser(on_event)
                    await parser.feed_events(reply.events())
                    parser.check_termination()
                    return await parser.response()
                payload = await reply.read_body()
        except ProviderError as exc:
            refined = self._refine(exc)
            if refined is exc:
                raise
            raise refined from exc
        parser = self._parser(None)
        if isinstance(payload, list) and all(isinstance(e, SseEvent) for e in payload):
            await parser.feed_events(payload)
            parser.check_termination()
        else:
            await parser.feed_message(payload)
        return await parser.response()

    def _refine(self, exc: ProviderError) -> ProviderError:
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
