"""Agent frames: durable context boundaries inside one session."""

from __future__ import annotations

from enum import Enum
from typing import Any

from attrs import evolve, frozen

from lash_core.model._record import Record

__all__ = ["AgentFrameRecord", "FrameStatus", "initial_frame_id", "open_frame"]


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


def open_frame(
    frames: tuple[AgentFrameRecord, ...],
    current: str,
    frame_id: str,
    *,
    session_id: str,
    reason: str,
    created_at_ms: int,
    caused_by: str | None = None,
    protocol_turn_options: dict[str, Any] | None = None,
) -> tuple[AgentFrameRecord, ...]:
    """``frames`` with ``current`` superseded and ``frame_id`` opened (active) after it."""
    return (
        *(
            evolve(frame, status=FrameStatus.SUPERSEDED) if frame.frame_id == current else frame
            for frame in frames
        ),
        AgentFrameRecord(
            frame_id=frame_id,
            session_id=session_id,
            status=FrameStatus.ACTIVE,
            reason=reason,
            created_at_ms=created_at_ms,
            previous_frame_id=current,
            caused_by=caused_by,
            protocol_turn_options=protocol_turn_options,
        ),
    )
