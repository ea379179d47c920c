"""What the Chat Completions and Responses providers share: credentials and headers, the
attachment data URLs, usage normalization, the user-content, tool-definition and
JSON-schema output shapes.
The request and attempt lifecycle is the kernel's :class:`~lash_core.providers.HttpProvider`."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from lash_core.model import (
    AttachmentRef,
    JsonSchemaOutput,
    LlmRequest,
    Message,
    PartKind,
    Role,
    TokenUsage,
    ToolSpec,
)
from lash_core.providers import (
    TEXT_PART_KINDS,
    AttachmentLoader,
    HttpProvider,
    attachment_refs,
    render_text_part,
)
from lash_provider_openai._schema import project_parameters
from lash_provider_openai.settings import OpenAISettings

__all__ = [
    "AttachmentLoader",
    "OpenAIProviderBase",
    "function_tools",
    "json_schema_format",
    "normalize_usage",
    "user_content",
]

logger = logging.getLogger("lash_provider_openai")


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


def user_content(
    message: Message,
    attachments: dict[str, str],
    *,
    text: Callable[[str], dict[str, Any]],
    attachment: Callable[[AttachmentRef, str], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A user (or event) message's text and attachments as content items, in the API's
    ``text`` and ``attachment`` (reference, data URL) shapes; event text is marked ``[event]``."""
    items: list[dict[str, Any]] = []
    prefix = "[event] " if message.role is Role.EVENT else ""
    for part in message.parts:
        if part.kind in TEXT_PART_KINDS:
            body = render_text_part(part)
            if body:
                items.append(text(prefix + body))
                prefix = ""
        elif part.kind is PartKind.ATTACHMENT and part.attachment is not None:
            ref = part.attachment
            items.append(attachment(ref, attachments[ref.attachment_id]))
    return items


def function_tools(
    tools: tuple[ToolSpec, ...],
    strict_all: bool,
    shape: Callable[[ToolSpec, dict[str, Any], bool], dict[str, Any]],
) -> list[dict[str, Any]]:
    """The ``tools`` array: each tool's schema projected (to the strict subset where strict
    mode is asked for and possible), then put in the API's ``shape(tool, parameters, strict)``."""
    out = []
    for tool in tools:
        wanted = tool.strict or strict_all
        parameters, strict = project_parameters(tool.input_schema, strict=wanted)
        if wanted and not strict:
            logger.warning("tool %r: its schema has no strict form; sending it non-strict", tool.name)
        out.append(shape(tool, parameters, strict))
    return out


def json_schema_format(spec: JsonSchemaOutput) -> dict[str, Any]:
    """``{name, schema, strict}`` of a JSON-schema output spec, the schema projected as a
    tool's is (to the strict subset when strict is asked for and possible)."""
    schema, strict = project_parameters(spec.schema, strict=spec.strict)
    if spec.strict and not strict:
        logger.warning("output schema %r has no strict form; sending it non-strict", spec.name)
    return {"name": spec.name, "schema": schema, "strict": strict}


BodyBuilder = Callable[..., dict[str, Any]]
"""``(request, settings, *, stream, attachments, reasoning_dialect, max_tokens) -> body``."""


class OpenAIProviderBase(HttpProvider):
    """Shared machinery of the two OpenAI providers; a subclass names its settings, path,
    ``body_builder`` and parser."""

    settings_class: ClassVar[type[OpenAISettings]] = OpenAISettings
    settings: OpenAISettings
    body_builder: ClassVar[BodyBuilder]
    kind: ClassVar[str] = "openai"
    api_media_types: ClassVar[tuple[str, ...]] = ("image/*",)
    api_output_specs: ClassVar[tuple[str, ...]] = ("json_object", "json_schema")

    def key_env(self) -> str:
        """``api_key_env``, else the preset's variable (``OPENAI_API_KEY``...)."""
        return self.settings.api_key_env or self.settings.endpoint.api_key_env

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """``authorization: Bearer`` (when there is a key), organization and project."""
        headers: dict[str, str] = {}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if self.settings.organization:
            headers["openai-organization"] = self.settings.organization
        if self.settings.project:
            headers["openai-project"] = self.settings.project
        return headers

    def vendor_label(self) -> str:
        """The preset, ``OpenAI`` or the base URL, with the API's name."""
        name = self.settings.preset or (
            "OpenAI" if self.settings.base_url is None else self.settings.base_url
        )
        return f"{name} ({self.api_name})"

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``request`` (raises a validation error before anything is sent)."""
        attachments = await self.attachment_urls(request)
        return self.body_builder(
            request,
            self.settings,
            stream=stream,
            attachments=attachments,
            reasoning_dialect=self.reasoning_dialect(request),
            max_tokens=self.output_cap(request),
        )

    async def attachment_urls(self, request: LlmRequest) -> dict[str, str]:
        """Data URLs of the request's attachments by id (checked as for :meth:`load_attachments`)."""
        data = await self.load_attachments(request)
        urls: dict[str, str] = {}
        for ref in attachment_refs(request.messages):
            if ref.attachment_id not in urls:
                encoded = base64.b64encode(data[ref.attachment_id]).decode("ascii")
                urls[ref.attachment_id] = f"data:{ref.media_type};base64,{encoded}"
        return urls

    def reasoning_dialect(self, request: LlmRequest) -> str:
        """The model spec's reasoning dialect, else the preset's."""
        return request.model.reasoning_dialect or self.settings.endpoint.reasoning_dialect
