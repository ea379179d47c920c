"""Building a Chat Completions request body from an :class:`~lash_core.model.LlmRequest`.

* the system prompt is the first ``system`` message; system messages in the history stay
  in place; background-process events are user text marked ``[event]``;
* user text and attachments become content parts (images as ``image_url``, PDFs as
  ``file``, both as data URLs); a single text part is sent as a plain string;
* assistant prose becomes ``content`` and tool calls ``tool_calls`` (``content: null``
  when there is no prose); reasoning is not sent back, except OpenRouter
  ``reasoning_details`` kept as replay state;
* tool results become ``tool`` messages right after the assistant message that called;
* tools carry their JSON schema, projected to the strict subset when strict;
* an output spec becomes ``response_format``: ``{type: json_object}``, or
  ``{type: json_schema, json_schema: {name, schema, strict}}`` with the schema projected
  as a strict tool's is;
* cache dialects: ``anthropic`` marks the system prompt, the last tool and the last
  message text with ``cache_control``; ``gemini`` marks only the last message text;
  ``openai`` sends the session id as ``prompt_cache_key``; ``none``/unset sends nothing.
"""

from __future__ import annotations

from typing import Any

from lash_core.model import (
    AttachmentRef,
    Intact,
    JsonSchemaOutput,
    LlmRequest,
    Message,
    OutputSpec,
    PartKind,
    Role,
    ToolSpec,
)
from lash_core.providers import TEXT_PART_KINDS, invalid_request, part_body, render_text_part
from lash_provider_openai._common import function_tools, json_schema_format, user_content
from lash_provider_openai.settings import ChatSettings

__all__ = ["chat_body", "chat_tools"]

CACHE_DIALECTS = (None, "none", "openai", "anthropic", "gemini")
_EPHEMERAL = {"type": "ephemeral"}


def _content(parts: list[dict[str, Any]]) -> Any:
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _attachment_part(ref: AttachmentRef, url: str) -> dict[str, Any]:
    if ref.media_type.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    filename = ref.name or f"{ref.attachment_id}.pdf"
    return {"type": "file", "file": {"filename": filename, "file_data": url}}


def _arguments(content: str, intact: bool) -> str:
    return content if intact and content.strip() else "{}"


def _assistant(message: Message, empty_content: str | None) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    details: list[Any] = []
    for part in message.parts:
        if part.kind in TEXT_PART_KINDS:
            text = render_text_part(part)
            if text:
                texts.append(text)
        elif part.kind is PartKind.TOOL_CALL:
            calls.append(
                {
                    "id": part.tool_call_id or "",
                    "type": "function",
                    "function": {
                        "name": part.tool_name or "",
                        "arguments": _arguments(part.content, isinstance(part.prune_state, Intact)),
                    },
                }
            )
        elif part.kind is PartKind.REASONING and isinstance(part.reasoning_meta, dict):
            replay = part.reasoning_meta.get("reasoning_details")
            if isinstance(replay, list):
                details.extend(replay)
    if not texts and not calls:
        return None
    out: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else empty_content}
    if calls:
        out["tool_calls"] = calls
    if details:
        out["reasoning_details"] = details
    return out


def _messages(
    request: LlmRequest, attachments: dict[str, str], empty_content: str | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system_prompt.strip():
        out.append({"role": "system", "content": request.system_prompt})
    for message in request.messages:
        if message.role is Role.ASSISTANT:
            assistant = _assistant(message, empty_content)
            if assistant is not None:
                out.append(assistant)
            continue
        if message.role is Role.SYSTEM:
            text = "\n\n".join(
                t for t in (render_text_part(p) for p in message.parts if p.kind in TEXT_PART_KINDS) if t
            )
            if text:
                out.append({"role": "system", "content": text})
            continue
        for part in message.parts:
            if part.kind is PartKind.TOOL_RESULT:
                out.append(
                    {"role": "tool", "tool_call_id": part.tool_call_id or "", "content": part_body(part)}
                )
        parts = user_content(message, attachments, text=_text_part, attachment=_attachment_part)
        if parts:
            out.append({"role": "user", "content": _content(parts)})
    return out


def _chat_tool(tool: ToolSpec, parameters: dict[str, Any], strict: bool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "description": tool.description, "parameters": parameters}
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def chat_tools(tools: tuple[ToolSpec, ...], strict_all: bool) -> list[dict[str, Any]]:
    """The ``tools`` array (schemas projected; strict where asked and possible)."""
    return function_tools(tools, strict_all, _chat_tool)


def _mark_last_text(messages: list[dict[str, Any]]) -> None:
    for message in reversed(messages):
        if message["role"] not in ("user", "assistant"):
            continue
        content = message.get("content")
        if isinstance(content, str) and content:
            message["content"] = [{"type": "text", "text": content, "cache_control": _EPHEMERAL}]
            return
        if isinstance(content, list):
            for item in reversed(content):
                if item.get("type") == "text":
                    item["cache_control"] = _EPHEMERAL
                    return
        return


def _apply_cache(dialect: str | None, body: dict[str, Any], request: LlmRequest) -> None:
    messages: list[dict[str, Any]] = body["messages"]
    if dialect == "openai":
        if request.session_id:
            body["prompt_cache_key"] = request.session_id
        return
    if dialect == "anthropic":
        if messages and messages[0]["role"] == "system" and isinstance(messages[0]["content"], str):
            messages[0]["content"] = [
                {"type": "text", "text": messages[0]["content"], "cache_control": _EPHEMERAL}
            ]
        if body.get("tools"):
            body["tools"][-1]["cache_control"] = _EPHEMERAL
    if dialect in ("anthropic", "gemini"):
        _mark_last_text(messages)


def _response_format(spec: OutputSpec) -> dict[str, Any]:
    if isinstance(spec, JsonSchemaOutput):
        return {"type": "json_schema", "json_schema": json_schema_format(spec)}
    return {"type": "json_object"}


def _reasoning(body: dict[str, Any], request: LlmRequest, dialect: str) -> None:
    effort = request.reasoning_effort
    if not effort or dialect == "none":
        return
    if dialect == "openai":
        body["reasoning_effort"] = effort
    elif dialect == "openrouter":
        body["reasoning"] = {"effort": effort}
    else:
        raise invalid_request(
            f"reasoning dialect {dialect!r} (model {request.model.id!r}) cannot be sent through Chat "
            "Completions; set the model spec's reasoning_dialect to openai, openrouter or none",
            "reasoning_encoding_unrepresentable",
        )


def chat_body(
    request: LlmRequest,
    settings: ChatSettings,
    *,
    stream: bool,
    attachments: dict[str, str],
    reasoning_dialect: str,
    max_tokens: int | None,
) -> dict[str, Any]:
    """The request body (see the module docs)."""
    dialect = request.model.cache_dialect
    if dialect not in CACHE_DIALECTS:
        raise invalid_request(
            f"cache dialect {dialect!r} (model {request.model.id!r}) is unknown to the openai provider; "
            "use openai, anthropic, gemini or none",
            "unsupported_cache_dialect",
        )
    empty_content = "" if settings.tool_call_content == "empty" else None
    body: dict[str, Any] = {
        "model": request.model.id,
        "messages": _messages(request, attachments, empty_content),
    }
    if stream:
        body["stream"] = True
        if settings.stream_usage:
            body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = chat_tools(request.tools, settings.strict_tools)
        body["tool_choice"] = request.tool_choice.value
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    field = settings.max_tokens_field or (
        "max_tokens" if settings.base_url else settings.endpoint.max_tokens_field
    )
    if max_tokens and field != "none":
        body[field] = max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.output_spec is not None:
        body["response_format"] = _response_format(request.output_spec)
    _reasoning(body, request, reasoning_dialect)
    _apply_cache(dialect, body, request)
    return body
