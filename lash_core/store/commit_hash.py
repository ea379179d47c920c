"""The idempotency hash of a turn commit.

sha256 of a canonical JSON form of what the turn wrote, leaving out everything that
differs between two runs of the same turn: message and part ids, the expected head
revision, timestamps. Two runs that replay the same effects therefore hash the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from lash_core.converter import unstructure
from lash_core.model import Message, TokenLedgerEntry, TokenUsage, TurnOutcome

__all__ = ["turn_commit_hash"]


def _message_form(message: Message) -> list[Any]:
    parts = []
    for part in message.parts:
        parts.append(
            [
                part.kind.value,
                part.content,
                part.tool_call_id,
                part.tool_name,
                part.attachment.attachment_id if part.attachment else None,
                unstructure(part.tool_output) if part.tool_output is not None else None,
            ]
        )
    return [message.role.value, parts]


def _usage_form(usage: TokenUsage) -> tuple[int, ...]:
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_write_input_tokens,
        usage.reasoning_output_tokens,
    )


def turn_commit_hash(
    turn_id: str,
    frame_ids: Sequence[str],
    messages: Sequence[Message],
    outcome: TurnOutcome,
    usage_deltas: Sequence[TokenLedgerEntry],
    plugin_state: dict[str, Any],
) -> str:
    """Hash what a turn commits; ids, revisions and timestamps are left out."""
    payload = [
        turn_id,
        list(frame_ids),
        [_message_form(m) for m in messages],
        unstructure(outcome),
        [[e.source, e.model, *_usage_form(e.usage)] for e in usage_deltas],
        plugin_state,
    ]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
