"""Turning the kernel's history into the Messages API's ``system`` blocks and ``messages``.

* the system prompt, and any system messages before the first user or assistant message,
  become top-level ``system`` text blocks; later system messages become user text marked
  ``[system]`` (the API has no system role inside ``messages``); background-process events
  are user text marked ``[event]``;
* user text and attachments become ``text``, ``image`` (base64) and ``document`` (PDF as
  base64, plain text as a text source) blocks; tool results become ``tool_result`` blocks
  (``is_error`` when the tool failed), always first in their message as the API requires;
* assistant output is replayed block by block, in order: ``thinking`` with its signature
  and ``redacted_thinking`` with its data (from the reasoning part's replay state;
  reasoning without Anthropic replay state, e.g. from another provider, is not sent),
  ``text`` and ``tool_use`` (arguments parsed back into an object);
* tool-use ids are kept when they fit ``[A-Za-z0-9_-]{1,64}`` and otherwise mapped, the
  same way for the call and its result, to an id that does;
* empty and whitespace-only text is dropped (the API rejects it), and adjacent messages
  of the same role are merged (the API wants user and assistant to alternate).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from lash_core.model import Intact, LlmRequest, Message, Part, PartKind, Role
from lash_core.providers import TEXT_PART_KINDS, part_body, render_text_part

__all__ = ["convert_history", "history_tool_names", "tool_use_id"]

_ID_OK = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID_BAD = re.compile(r"[^A-Za-z0-9_-]+")

Block = dict[str, Any]
WireMessage = dict[str, Any]


def tool_use_id(raw: str | None) -> str:
    """``raw`` when the API accepts it as a tool-use id, else a stable id that it accepts."""
    value = raw or ""
    if _ID_OK.fullmatch(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
    cleaned = _ID_BAD.sub("_", value).strip("_")[: 64 - len(digest) - 1]
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def _text(text: str) -> Block | None:
    return {"type": "text", "text": text} if text.strip() else None


def _attachment(part: Part, attachments: dict[str, bytes]) -> Block | None:
    ref = part.attachment
    if ref is None:
        return None
    data = attachments[ref.attachment_id]
    media_type = ref.media_type.lower()
    block: Block
    if media_type.startswith("image/"):
        encoded = base64.b64encode(data).decode("ascii")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": encoded}}
    if media_type == "text/plain":
        text = data.decode("utf-8", "replace")
        block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
    else:
        encoded = base64.b64encode(data).decode("ascii")
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": encoded}}
    if ref.name:
        block["title"] = ref.name
    return block


def _tool_result(part: Part) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": tool_use_id(part.tool_call_id)}
    body = part_body(part)
    if body.strip():
        block["content"] = body
    output = part.tool_output
    if output is not None and not output.is_success:
        block["is_error"] = True
    return block


def _user_blocks(message: Message, attachments: dict[str, bytes]) -> list[Block]:
    results: list[Block] = []
    blocks: list[Block] = []
    prefix = "[event] " if message.role is Role.EVENT else ""
    for part in message.parts:
        block: Block | None = None
        if part.kind is PartKind.TOOL_RESULT:
            results.append(_tool_result(part))
        elif part.kind in TEXT_PART_KINDS:
            body = render_text_part(part)
            block = _text(prefix + body) if body.strip() else None
            if block is not None:
                prefix = ""
        elif part.kind is PartKind.ATTACHMENT:
            block = _attachment(part, attachments)
        if block is not None:
            blocks.append(block)
    return results + blocks


def _thinking(part: Part) -> Block | None:
    replay = part.reasoning_meta
    if not isinstance(replay, dict) or not isinstance(part.prune_state, Intact):
        return None
    if replay.get("type") == "thinking" and replay.get("signature"):
        return {"type": "thinking", "thinking": part.content, "signature": replay["signature"]}
    if replay.get("type") == "redacted_thinking" and replay.get("data"):
        return {"type": "redacted_thinking", "data": replay["data"]}
    return None


def _tool_input(part: Part) -> dict[str, Any]:
    if not isinstance(part.prune_state, Intact) or not part.content.strip():
        return {}
    try:
        value = json.loads(part.content)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _assistant_blocks(message: Message) -> list[Block]:
    blocks: list[Block] = []
    for part in message.parts:
        block: Block | None = None
        if part.kind is PartKind.REASONING:
            block = _thinking(part)
        elif part.kind in TEXT_PART_KINDS:
            block = _text(render_text_part(part))
        elif part.kind is PartKind.TOOL_CALL:
            block = {
                "type": "tool_use",
                "id": tool_use_id(part.tool_call_id),
                "name": part.tool_name or "",
                "input": _tool_input(part),
            }
        if block is not None:
            blocks.append(block)
    return blocks


def _system_text(message: Message) -> str:
    return "\n\n".join(
        t for t in (render_text_part(p) for p in message.parts if p.kind in TEXT_PART_KINDS) if t.strip()
    )


def _append(out: list[WireMessage], role: str, blocks: list[Block]) -> None:
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _results_first(message: WireMessage) -> None:
    content = message["content"]
    results = [b for b in content if b["type"] == "tool_result"]
    if results and content[: len(results)] != results:
        message["content"] = results + [b for b in content if b["type"] != "tool_result"]


def convert_history(
    request: LlmRequest, attachments: dict[str, bytes]
) -> tuple[list[Block], list[WireMessage]]:
    """``(system blocks, messages)`` for ``request`` (see the module docs); ``attachments``
    holds the bytes of every attachment by id, already checked by the provider."""
    system: list[Block] = []
    prompt = _text(request.system_prompt)
    if prompt is not None:
        system.append(prompt)
    out: list[WireMessage] = []
    for message in request.messages:
        if message.role is Role.SYSTEM:
            text = _system_text(message)
            if not text:
                continue
            if not out:
                system.append({"type": "text", "text": text})
                continue
            role, blocks = "user", [{"type": "text", "text": f"[system] {text}"}]
        elif message.role is Role.ASSISTANT:
            role, blocks = "assistant", _assistant_blocks(message)
        else:
            role, blocks = "user", _user_blocks(message, attachments)
        if blocks:
            _append(out, role, blocks)
    for wire in out:
        if wire["role"] == "user":
            _results_first(wire)
    if out and out[-1]["role"] == "assistant":
        last = out[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip()
    return system, out


def history_tool_names(messages: list[WireMessage]) -> list[str] | None:
    """Names of the tools called in ``messages`` (first-seen order); ``None`` when no
    ``tool_use`` or ``tool_result`` block appears at all."""
    names: list[str] = []
    seen = False
    for message in messages:
        for block in message["content"]:
            if block["type"] in ("tool_use", "tool_result"):
                seen = True
            if block["type"] == "tool_use" and block["name"] and block["name"] not in names:
                names.append(block["name"])
    return names if seen else None
