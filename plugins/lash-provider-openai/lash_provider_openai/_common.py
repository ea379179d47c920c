"""What the Chat Completions and Responses providers share: credentials, the HTTP seam,
the retry ladder, usage normalization, attachments, reasoning and cache dialects."""

from __future__ import annotations

import base64
import fnmatch
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import anyio
import httpx

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    Cleared,
    Deleted,
    LlmRequest,
    LlmResponse,
    Message,
    Part,
    PartKind,
    ProviderFailureKind,
    Summarized,
    TokenUsage,
)
from lash_core.providers import (
    ProviderHttp,
    Redactor,
    Sleep,
    StreamCallback,
    provider_error,
    resolve_api_key,
    run_with_retries,
)
from lash_provider_openai.settings import OpenAISettings

__all__ = [
    "AttachmentLoader",
    "OpenAIProviderBase",
    "attachment_refs",
    "invalid_request",
    "normalize_usage",
    "part_body",
]

logger = logging.getLogger("lash_provider_openai")

AttachmentLoader = Callable[[AttachmentRef], Awaitable[bytes]]
"""Reads an attachment's bytes from the session's attachment store."""

CLEARED = "[content cleared]"
_SECRET_HEADER = re.compile(r"(?i)auth|key|token|secret|cookie|session|password")


def invalid_request(message: str, code: str) -> ProviderError:
    """A non-retryable ``validation`` error raised before anything is sent."""
    return provider_error(ProviderFailureKind.VALIDATION, message, retryable=False, code=code)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _first(data: Mapping[str, Any], *paths: str) -> int:
    for path in paths:
        node: Any = data
        for key in path.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if _int(node):
            return _int(node)
    return 0


def normalize_usage(raw: Mapping[str, Any] | None) -> TokenUsage:
    """OpenAI-style usage (Chat, Responses and compatible gateways) in five buckets.

    The vendor's prompt count includes cached and cache-written tokens, so the uncached
    input is ``prompt - cached - cache_write``; reasoning tokens are a subset of output.
    """
    if not raw:
        return TokenUsage()
    prompt = _first(raw, "prompt_tokens", "input_tokens")
    cached = _first(
        raw,
        "prompt_tokens_details.cached_tokens",
        "input_tokens_details.cached_tokens",
        "cached_tokens",
        "prompt_cache_hit_tokens",
    )
    written = _first(
        raw,
        "prompt_tokens_details.cache_write_tokens",
        "input_tokens_details.cache_write_tokens",
        "cache_write_tokens",
    )
    output = _first(raw, "completion_tokens", "output_tokens")
    reasoning = _first(
        raw,
        "completion_tokens_details.reasoning_tokens",
        "output_tokens_details.reasoning_tokens",
        "reasoning_tokens",
    )
    return TokenUsage(
        input_tokens=max(prompt - cached - written, 0),
        output_tokens=output,
        cache_read_input_tokens=cached,
        cache_write_input_tokens=written,
        reasoning_output_tokens=min(reasoning, output) if output else reasoning,
    )


def part_body(part: Part) -> str:
    """A part's model-visible text, honouring its prune state."""
    state = part.prune_state
    if isinstance(state, Cleared):
        return CLEARED
    if isinstance(state, Deleted):
        return state.breadcrumb
    if isinstance(state, Summarized):
        return state.summary
    return part.content


def render_text_part(part: Part) -> str:
    """Text for parts that are plain text on the wire (text, prose, code, output, error)."""
    body = part_body(part)
    if part.kind is PartKind.CODE and body:
        return f"```\n{body}\n```"
    if part.kind is PartKind.ERROR and body:
        return f"Error: {body}"
    return body


def attachment_refs(messages: tuple[Message, ...]) -> list[AttachmentRef]:
    """Every attachment referenced by the messages, in order."""
    return [p.attachment for m in messages for p in m.parts if p.kind is PartKind.ATTACHMENT and p.attachment]


def _allowed(media_type: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(media_type.lower(), pattern.lower()) for pattern in patterns)


class OpenAIProviderBase:
    """Shared machinery of the two OpenAI providers; subclasses build bodies and parse."""

    settings_class: ClassVar[type[OpenAISettings]] = OpenAISettings
    kind: ClassVar[str] = "openai"
    path: ClassVar[str] = ""
    api_media_types: ClassVar[tuple[str, ...]] = ("image/*",)
    api_name: ClassVar[str] = ""

    def __init__(
        self,
        settings: OpenAISettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        attachment_loader: AttachmentLoader | None = None,
        sleep: Sleep = anyio.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else self.settings_class()
        endpoint = self.settings.endpoint
        env_var = self.settings.api_key_env or endpoint.api_key_env
        self._env_var = env_var
        self._api_key = resolve_api_key(self.settings.api_key, env_var, environ=environ)
        secret_headers = [v for k, v in self.settings.headers.items() if _SECRET_HEADER.search(k)]
        self._redactor = Redactor([self._api_key, *secret_headers])
        self.attachment_loader = attachment_loader
        self._sleep = sleep
        headers: dict[str, str] = {}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        if self.settings.organization:
            headers["openai-organization"] = self.settings.organization
        if self.settings.project:
            headers["openai-project"] = self.settings.project
        headers.update(self.settings.headers)
        self.http = ProviderHttp(
            base_url=self.settings.resolved_base_url,
            headers=headers,
            timeouts=self.settings.timeouts,
            client=client,
            redactor=self._redactor,
            vendor=self._vendor_label(),
            auth_hint=self._key_advice(),
        )

    def _vendor_label(self) -> str:
        name = self.settings.preset or (
            "OpenAI" if self.settings.base_url is None else self.settings.base_url
        )
        return f"{name} ({self.api_name})"

    def _key_advice(self) -> str:
        return (
            f'check the API key: set {self._env_var} or api_key = "$env:NAME" in the provider\'s '
            "settings, and check that the key may use this model"
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
                f"no API key for {self._vendor_label()}: {self._key_advice()}",
                code="missing_api_key",
            )
        streaming = on_event is not None
        body = await self.build_body(request, stream=streaming)

        async def attempt(callback: StreamCallback | None) -> LlmResponse:
            return await self.attempt(body, callback, streaming=streaming)

        return await run_with_retries(
            attempt,
            policy=self.settings.retry,
            on_event=on_event,
            sleep=self._sleep,
            label=self._vendor_label(),
        )

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``request`` (raises a validation error before anything is sent)."""
        raise NotImplementedError

    async def attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt."""
        raise NotImplementedError

    # --- request helpers shared by both APIs -------------------------------------------

    async def load_attachments(self, request: LlmRequest) -> dict[str, str]:
        """Data URLs of the request's attachments by id, after checking every media type
        against the model spec and the API (a clear error before any request is sent)."""
        refs = attachment_refs(request.messages)
        if not refs:
            return {}
        accepted = request.model.attachment_media_types
        for ref in refs:
            label = ref.name or ref.attachment_id
            if not _allowed(ref.media_type, accepted):
                listed = ", ".join(accepted) or "none"
                raise invalid_request(
                    f"attachment {label!r} has media type {ref.media_type}, which model {request.model.id!r} "
                    f"does not accept (its attachment_media_types: {listed}); add the type to the model spec "
                    "if the model reads it, or remove the attachment",
                    "unsupported_attachment",
                )
            if not _allowed(ref.media_type, self.api_media_types):
                raise invalid_request(
                    f"attachment {label!r} ({ref.media_type}) cannot be sent through {self.api_name}, which "
                    f"carries {', '.join(self.api_media_types)}; use a provider that accepts it",
                    "unsupported_attachment",
                )
        urls: dict[str, str] = {}
        for ref in refs:
            if ref.attachment_id not in urls:
                data = request.attachment_data.get(ref.attachment_id)
                if data is None and self.attachment_loader is not None:
                    data = await self.attachment_loader(ref)
                if data is None:
                    raise invalid_request(
                        f"the bytes of attachment {ref.attachment_id} are not in the request (the runtime loads "
                        "them into request.attachment_data); when calling the provider directly, pass them "
                        "there or construct it with attachment_loader=",
                        "attachment_data_missing",
                    )
                encoded = base64.b64encode(data).decode("ascii")
                urls[ref.attachment_id] = f"data:{ref.media_type};base64,{encoded}"
        return urls

    def reasoning_dialect(self, request: LlmRequest) -> str:
        """The model spec's reasoning dialect, else the preset's."""
        return request.model.reasoning_dialect or self.settings.endpoint.reasoning_dialect

    def max_output_tokens(self, request: LlmRequest) -> int | None:
        """The request's output cap, lowered by the ``max_output_tokens`` setting."""
        caps = [c for c in (request.max_output_tokens, self.settings.max_output_tokens) if c]
        return min(caps) if caps else None
