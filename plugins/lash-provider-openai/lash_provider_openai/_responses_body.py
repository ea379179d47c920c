"""Building an OpenAI Responses request body from an :class:`~lash_core.model.LlmRequest`.

* the system prompt is ``instructions``; system messages in the history stay in place;
* user text and attachments become ``input_text`` / ``input_image`` / ``input_file``
  content; tool results become ``function_call_output`` items;
* assistant output is replayed item by item, in order: ``reasoning`` items with their
  id, summary and encrypted content (only when that replay state exists: with
  ``store: false`` a reasoning item is useless without it), assistant ``message`` items
  and ``function_call`` items. Item ids (``msg_``, ``fc_``) are sent only alongside their
  replayed reasoning item, which the API pairs them with;
* tools are ``{type: function, name, description, parameters, strict}`` (strict is always
  sent: the API's default is strict);
* an output spec becomes ``text.format``: ``{type: json_object}``, or
  ``{type: json_schema, name, schema, strict}`` with the schema projected as a strict
  tool's is;
* reasoning effort goes to ``reasoning.effort`` (with ``summary`` when reasoning is
  exposed); with ``store: false`` the encrypted reasoning content is requested so it can be
  replayed; the session id is the ``prompt_cache_key`` unless the model's cache dialect is
  ``none``.
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
    Part,
    PartKind,
    Role,
    ToolSpec,
)
from lash_core.providers import TEXT_PART_KINDS, invalid_request, part_body, render_text_part
from lash_provider_openai._common import function_tools, json_schema_format, user_content
from lash_provider_openai.settings import ResponsesSettings

__all__ = ["responses_body", "responses_tools"]


def _input_message(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": content}


def _input_text(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


def _input_attachment(ref: AttachmentRef, url: str) -> dict[str, Any]:
    if ref.media_type.startswith("image/"):
        return {"type": "input_image", "image_url": url}
    return {"type": "input_file", "filename": ref.name or ref.attachment_id, "file_data": url}


def _reasoning_item(part: Part, store: bool) -> dict[str, Any] | None:
    replay = part.reasoning_meta
    if not isinstance(replay, dict) or replay.get("type") != "reasoning" or not replay.get("id"):
        return None
    encrypted = replay.get("encrypted_content")
    if not encrypted and not store:
        return None
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": replay["id"],
        "summary": [{"type": "summary_text", "text": t} for t in replay.get("summary") or ()],
    }
    if encrypted:
        item["encrypted_content"] = encrypted
    return item


def _assistant_items(message: Message, store: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    paired = False
    for part in message.parts:
        if part.kind is PartKind.REASONING:
            reasoning = _reasoning_item(part, store)
            if reasoning is not None:
                items.append(reasoning)
                paired = True
        elif part.kind in TEXT_PART_KINDS:
            text = render_text_part(part)
            if not text:
                continue
            meta = part.response_meta if isinstance(part.response_meta, dict) else {}
            if paired and meta.get("id"):
                item: dict[str, Any] = {
                    "type": "message",
                    "id": meta["id"],
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
                if meta.get("phase"):
                    item["phase"] = meta["phase"]
                items.append(item)
            else:
                items.append({"role": "assistant", "content": text})
        elif part.kind is PartKind.TOOL_CALL:
            arguments = (
                part.content if isinstance(part.prune_state, Intact) and part.content.strip() else "{}"
            )
            call: dict[str, Any] = {
                "type": "function_call",
                "call_id": part.tool_call_id or "",
                "name": part.tool_name or "",
                "arguments": arguments,
            }
            replay = part.tool_replay if isinstance(part.tool_replay, dict) else {}
            if paired and replay.get("item_id"):
                call["id"] = replay["item_id"]
            items.append(call)
    return items


def _input(request: LlmRequest, attachments: dict[str, str], store: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role is Role.ASSISTANT:
            items += _assistant_items(message, store)
        elif message.role is Role.SYSTEM:
            texts = [render_text_part(p) for p in message.parts if p.kind in TEXT_PART_KINDS]
            content = [_input_text(t) for t in texts if t]
            if content:
                items.append(_input_message("system", content))
        else:
            for part in message.parts:
                if part.kind is PartKind.TOOL_RESULT:
                    items.append(
                        {
                            "type": "function_call_output",
                            "call_id": part.tool_call_id or "",
                            "output": part_body(part),
                        }
                    )
            content = user_content(message, attachments, text=_input_text, attachment=_input_attachment)
            if content:
                items.append(_input_message("user", content))
    return items


def _responses_tool(tool: ToolSpec, parameters: dict[str, Any], strict: bool) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": parameters,
        "strict": strict,
    }


def responses_tools(tools: tuple[ToolSpec, ...], strict_all: bool) -> list[dict[str, Any]]:
    """The ``tools`` array in the Responses shape (strict is always sent)."""
    return function_tools(tools, strict_all, _responses_tool)


def _text_format(spec: OutputSpec) -> dict[str, Any]:
    if isinstance(spec, JsonSchemaOutput):
        return {"type": "json_schema", **json_schema_format(spec)}
    return {"type": "json_object"}


def _reasoning(body: dict[str, Any], request: LlmRequest, settings: ResponsesSettings, dialect: str) -> None:
    effort = request.reasoning_effort
    if dialect not in ("openai", "openrouter", "none"):
        raise invalid_request(
            f"reasoning dialect {dialect!r} (model {request.model.id!r}) cannot be sent through the Responses "
            "API; set the model spec's reasoning_dialect to openai, openrouter or none",
            "reasoning_encoding_unrepresentable",
        )
    if not effort or dialect == "none":
        return
    reasoning: dict[str, Any] = {"effort": effort}
    if settings.expose_reasoning and settings.reasoning_summary:
        reasoning["summary"] = settings.reasoning_summary
    body["reasoning"] = reasoning
    if not settings.store:
        body["include"] = ["reasoning.encrypted_content"]


def responses_body(
    request: LlmRequest,
    settings: ResponsesSettings,
    *,
    stream: bool,
    attachments: dict[str, str],
    reasoning_dialect: str,
    max_tokens: int | None,
) -> dict[str, Any]:
    """The request body (see the module docs)."""
    dialect = request.model.cache_dialect
    if dialect not in (None, "openai", "none"):
        raise invalid_request(
            f"cache dialect {dialect!r} (model {request.model.id!r}) has no form in the Responses API; "
            "use openai (prompt_cache_key) or none",
            "unsupported_cache_dialect",
        )
    body: dict[str, Any] = {"model": request.model.id}
    if request.system_prompt.strip():
        body["instructions"] = request.system_prompt
    body["input"] = _input(request, attachments, settings.store)
    if request.tools:
        body["tools"] = responses_tools(request.tools, settings.strict_tools)
        body["tool_choice"] = request.tool_choice.value
        if settings.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = settings.parallel_tool_calls
    if stream:
        body["stream"] = True
    body["store"] = settings.store
    if max_tokens:
        body["max_output_tokens"] = max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    _reasoning(body, request, settings, reasoning_dialect)
    text: dict[str, Any] = {}
    if request.output_spec is not None:
        text["format"] = _text_format(request.output_spec)
    if settings.text_verbosity:
        text["verbosity"] = settings.text_verbosity
    if text:
        body["text"] = text
    if dialect != "none" and settings.prompt_cache_key and request.session_id:
        body["prompt_cache_key"] = request.session_id
    if settings.prompt_cache_retention:
        body["prompt_cache_retention"] = settings.prompt_cache_retention
    return body
