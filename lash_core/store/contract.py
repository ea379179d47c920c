"""The session store contract (kernel part).

A store keeps sessions: a head (revision, agent frames, usage ledger, plugin state) and
an append-only history of messages, each tagged with its agent frame. A turn is
committed once, atomically, by :meth:`SessionStore.commit`:

* the commit appends only the turn's new history nodes (its cost does not grow with
  the history);
* ``expected_head_revision`` is compared and set: a stale writer gets
  :class:`~lash_core.errors.HeadConflict`;
* ``commit_hash`` makes it idempotent: the same turn id with the same hash is accepted
  once and answered again with the recorded result; with another hash it is a
  :class:`~lash_core.errors.TurnCommitConflict`.

Attachments are content-addressed blobs (sha256 of the bytes) held per session.
The durable stores (leases, pending input, queued work) extend this contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from lash_core.effects import DurabilityTier
from lash_core.model import (
    AgentFrameRecord,
    AttachmentRef,
    Message,
    TokenLedger,
    TokenLedgerEntry,
    TokenUsage,
    TurnOutcome,
)

__all__ = [
    "STORE_SCHEMA_VERSION",
    "CommitResult",
    "HistoryNode",
    "SessionHead",
    "SessionRecord",
    "SessionStore",
    "SessionSummary",
    "TurnCommit",
]

STORE_SCHEMA_VERSION = 1


@frozen
class HistoryNode:
    """One message of the history, with the agent frame and turn it belongs to."""

    frame_id: str
    turn_id: str
    message: Message


@frozen
class SessionHead:
    """The small, rewritten part of a session."""

    session_id: str
    head_revision: int
    current_frame_id: str
    frames: tuple[AgentFrameRecord, ...] = ()
    ledger: TokenLedger = field(factory=TokenLedger)
    plugin_state: dict[str, Any] = field(factory=dict)
    turn_count: int = 0
    node_count: int = 0
    last_prompt_usage: TokenUsage | None = None
    created_at_ms: int = 0
    updated_at_ms: int = 0
    schema_version: int = STORE_SCHEMA_VERSION


@frozen
class SessionRecord:
    """A loaded session: its head and its history."""

    head: SessionHead
    nodes: tuple[HistoryNode, ...] = ()


@frozen
class SessionSummary:
    """A line of a session listing."""

    session_id: str
    head_revision: int
    turn_count: int
    updated_at_ms: int


@frozen
class TurnCommit:
    """Everything one turn writes, in one atomic commit."""

    session_id: str
    turn_id: str
    commit_hash: str
    expected_head_revision: int
    nodes: tuple[HistoryNode, ...]
    current_frame_id: str
    frames: tuple[AgentFrameRecord, ...]
    outcome: TurnOutcome
    usage_deltas: tuple[TokenLedgerEntry, ...] = ()
    plugin_state: dict[str, Any] = field(factory=dict)
    last_prompt_usage: TokenUsage | None = None
    attachment_ids: tuple[str, ...] = ()
    committed_at_ms: int = 0
    schema_version: int = STORE_SCHEMA_VERSION


@frozen
class CommitResult:
    """The head revision after the commit; ``replayed`` when the turn had been committed before."""

    head_revision: int
    replayed: bool = False


@runtime_checkable
class SessionStore(Protocol):
    """Keeps sessions. All methods are safe to call concurrently from one event loop."""

    durability: DurabilityTier

    async def open(self) -> None:
        """Acquire resources (connections, files); called once by the runtime."""
        ...

    async def close(self) -> None:
        """Release resources; called once when the runtime closes."""
        ...

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history, or ``None`` when it does not exist."""
        ...

    async def load_head(self, session_id: str) -> SessionHead | None:
        """Only the session's head (cheap), or ``None``."""
        ...

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn atomically (see the module docs for the rules)."""
        ...

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its attachments; ``False`` when it did not exist."""
        ...

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Store bytes content-addressed for the session; return the reference."""
        ...

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds (``KeyError`` when it holds none)."""
        ...
