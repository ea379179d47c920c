"""Mapping an :class:`~lash_core.model.LlmRequest` to chat messages for a chat template.

The result is a list of ``{"role": ..., "content": ...}`` dicts, the shape llama.cpp chat
templates render. Everything becomes plain text:

* the system prompt is the first ``system`` message (when not empty);
* user and assistant text (text, prose, code, output and error parts) is kept;
* when tools are offered (``tools=``), the system prompt ends with the tool section and
  earlier tool calls and results are written in the same ``<tool_call>`` format the model
  is asked to use (:mod:`lash_provider_llamacpp.tool_format`); when they are not, they are
  rendered as bracketed text, so the model is not tempted to imitate a format it cannot use;
* attachments become a one-line note (the model cannot see them);
* reasoning parts are skipped;
* pruned parts show their breadcrumb, summary or a "cleared" marker;
* background-process events are sent as user text, marked ``[event]``;
* consecutive messages of the same role are merged, which keeps strict templates happy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from lash_core.model import (
    Cleared,
    Deleted,
    Intact,
    LlmRequest,
    Message,
    Part,
    PartKind,
    Role,
    Summarized,
    ToolSpec,
)
from lash_provider_llamacpp.tool_format import call_text, result_text, tool_section

__all__ = ["ChatMessage", "render_part", "to_chat_messages"]

CLEARED_MARKER = "[content cleared]"

_ROLES: dict[Role, str] = {
    Role.USER: "user",
    Role.ASSISTANT: "assistant",
    Role.SYSTEM: "system",
    Role.EVENT: "user",
}


class ChatMessage(TypedDict):
    """One chat message as llama.cpp chat templates expect it."""

    role: str
    content: str


def _body(part: Part) -> str:
    state = part.prune_state
    if isinstance(state, Cleared):
        return CLEARED_MARKER
    if isinstance(state, Deleted):
        return state.breadcrumb
    if isinstance(state, Summarized):
        return state.summary
    return part.content


def render_part(part: Part, *, tool_format: bool = False) -> str | None:
    """The text one part contributes to a chat message, or ``None`` when it is skipped.

    ``tool_format``: tool calls and results in the ``<tool_call>`` format (tools are offered)
    rather than as bracketed text.
    """
    kind = part.kind
    if kind is PartKind.REASONING:
        return None
    if kind is PartKind.ATTACHMENT:
        ref = part.attachment
        if ref is None:
            return None
        label = ref.name or ref.attachment_id
        return f"[attachment {label} ({ref.media_type}, {ref.size} bytes) is not shown to this model]"
    body = _body(part)
    if tool_format and kind is PartKind.TOOL_CALL:
        # a pruned call's arguments are not JSON any more: the call is shown without them
        return call_text(part.tool_name or "?", body if isinstance(part.prune_state, Intact) else "{}")
    if tool_format and kind is PartKind.TOOL_RESULT:
        return result_text(body)
    if kind is PartKind.TOOL_CALL:
        return f"[called tool {part.tool_name or '?'} with arguments {body or '{}'}]"
    if kind is PartKind.TOOL_RESULT:
        return f"[result of tool {part.tool_name or '?'}]\n{body}"
    if kind is PartKind.CODE:
        return f"```\n{body}\n```" if body else None
    if kind is PartKind.ERROR:
        return f"Error: {body}" if body else None
    return body or None


def _message_text(message: Message, tool_format: bool) -> str:
    pieces = [text for text in (render_part(part, tool_format=tool_format) for part in message.parts) if text]
    text = "\n\n".join(pieces)
    if text and message.role is Role.EVENT:
        text = f"[event] {text}"
    return text


def to_chat_messages(request: LlmRequest, *, tools: Sequence[ToolSpec] = ()) -> list[ChatMessage]:
    """The chat messages for ``request`` (see the module docs), offering ``tools`` (none by default)."""
    chat: list[ChatMessage] = []
    system = request.system_prompt.strip() and request.system_prompt
    if tools:
        section = tool_section(tools)
        system = f"{system}\n\n{section}" if system else section
    if system:
        chat.append({"role": "system", "content": system})
    for message in request.messages:
        text = _message_text(message, bool(tools))
        if not text:
            continue
        role = _ROLES[message.role]
        if chat and chat[-1]["role"] == role:
            chat[-1]["content"] = f"{chat[-1]['content']}\n\n{text}"
        else:
            chat.append({"role": role, "content": text})
    return chat
