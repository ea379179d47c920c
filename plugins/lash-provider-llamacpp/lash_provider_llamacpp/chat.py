"""Mapping an :class:`~lash_core.model.LlmRequest` to chat messages for a chat template.

The result is a list of ``{"role": ..., "content": ...}`` dicts, the shape llama.cpp chat
templates render. Everything becomes plain text:

* the system prompt is the first ``system`` message (when not empty);
* user and assistant text (text, prose, code, output and error parts) is kept;
* tool calls and tool results from earlier rounds are rendered as bracketed text, since
  the provider never offers tools to the model itself;
* attachments become a one-line note (the model cannot see them);
* reasoning parts are skipped;
* pruned parts show their breadcrumb, summary or a "cleared" marker;
* background-process events are sent as user text, marked ``[event]``;
* consecutive messages of the same role are merged, which keeps strict templates happy.
"""

from __future__ import annotations

from typing import TypedDict

from lash_core.model import Cleared, Deleted, LlmRequest, Message, Part, PartKind, Role, Summarized

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


def render_part(part: Part) -> str | None:
    """The text one part contributes to a chat message, or ``None`` when it is skipped."""
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
    if kind is PartKind.TOOL_CALL:
        return f"[called tool {part.tool_name or '?'} with arguments {body or '{}'}]"
    if kind is PartKind.TOOL_RESULT:
        return f"[result of tool {part.tool_name or '?'}]\n{body}"
    if kind is PartKind.CODE:
        return f"```\n{body}\n```" if body else None
    if kind is PartKind.ERROR:
        return f"Error: {body}" if body else None
    return body or None


def _message_text(message: Message) -> str:
    pieces = [text for text in (render_part(part) for part in message.parts) if text]
    text = "\n\n".join(pieces)
    if text and message.role is Role.EVENT:
        text = f"[event] {text}"
    return text


def to_chat_messages(request: LlmRequest) -> list[ChatMessage]:
    """The chat messages for ``request`` (see the module docs); tools are not included."""
    chat: list[ChatMessage] = []
    if request.system_prompt.strip():
        chat.append({"role": "system", "content": request.system_prompt})
    for message in request.messages:
        text = _message_text(message)
        if not text:
            continue
        role = _ROLES[message.role]
        if chat and chat[-1]["role"] == role:
            chat[-1]["content"] = f"{chat[-1]['content']}\n\n{text}"
        else:
            chat.append({"role": role, "content": text})
    return chat
