"""Agent frames: durable context boundaries inside one session."""

from __future__ import annotations

from enum import Enum
from typing import Any

from attrs import frozen

from lash_core.model._record import Record

__all__ = ["AgentFrameRecord", "FrameStatus", "initial_frame_id"]


class FrameStatus(Enum):
    """Exactly one frame of a session is active."""

    ACTIVE = "active"
    SUPERSEDED = "superseded"


@frozen(repr=False)
class AgentFrameRecord(Record):
    """One agent frame. The model sees only the current frame's messages."""

    frame_id: str
    session_id: str
    status: FrameStatus
    reason: str
    created_at_ms: int
    previous_frame_id: str | None = None
    caused_by: str | None = None
    protocol_turn_options: dict[str, Any] | None = None


def initial_frame_id(session_id: str) -> str:
    """The id of a session's first frame."""
    return f"{session_id}:frame:initial"
