"""The in-memory store: the kernel's reference implementation of the store contract.

Inline durability: everything is lost with the process. Commits are applied without
awaiting anything, so each is atomic on its event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from attrs import evolve

from lash_core.effects import DurabilityTier
from lash_core.errors import HeadConflict, TurnCommitConflict
from lash_core.model import AttachmentRef, initial_frame_id
from lash_core.store.contract import (
    CommitResult,
    HistoryNode,
    SessionHead,
    SessionRecord,
    SessionSummary,
    TurnCommit,
)

__all__ = ["MemoryStore"]


class _Session:
    __slots__ = ("attachments", "commits", "head", "nodes")

    def __init__(self, head: SessionHead) -> None:
        self.head = head
        self.nodes: list[HistoryNode] = []
        self.commits: dict[str, tuple[str, CommitResult]] = {}
        self.attachments: dict[str, bytes] = {}


class MemoryStore:
    """Sessions in a dict. Useful for tests, benchmarks and throwaway agents."""

    durability = DurabilityTier.INLINE

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._pending: dict[str, dict[str, bytes]] = {}

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close; the sessions stay until the object is dropped."""

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history, or ``None``."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        return SessionRecord(session.head, tuple(session.nodes))

    async def load_head(self, session_id: str) -> SessionHead | None:
        """The session's head, or ``None``."""
        session = self._sessions.get(session_id)
        return session.head if session else None

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn: idempotency check, head compare-and-set, append, new head."""
        session = self._sessions.get(commit.session_id)
        if session is not None:
            recorded = session.commits.get(commit.turn_id)
            if recorded is not None:
                if recorded[0] != commit.commit_hash:
                    raise TurnCommitConflict(
                        f"turn {commit.turn_id!r} of session {commit.session_id!r} was already committed with "
                        "different content; use a new turn id for a new turn"
                    )
                return evolve(recorded[1], replayed=True)
        current = session.head.head_revision if session else 0
        if commit.expected_head_revision != current:
            raise HeadConflict(
                f"session {commit.session_id!r} is at revision {current}, but this turn was built on revision "
                f"{commit.expected_head_revision}; another writer committed first: reopen the session and retry"
            )
        if session is None:
            session = _Session(
                SessionHead(
                    session_id=commit.session_id,
                    head_revision=0,
                    current_frame_id=initial_frame_id(commit.session_id),
                    created_at_ms=commit.committed_at_ms,
                )
            )
            self._sessions[commit.session_id] = session
        head = session.head
        session.nodes.extend(commit.nodes)
        session.head = SessionHead(
            session_id=head.session_id,
            head_revision=current + 1,
            current_frame_id=commit.current_frame_id,
            frames=commit.frames,
            ledger=head.ledger.merge(commit.usage_deltas),
            plugin_state=commit.plugin_state,
            turn_count=head.turn_count + 1,
            node_count=len(session.nodes),
            last_prompt_usage=commit.last_prompt_usage,
            created_at_ms=head.created_at_ms,
            updated_at_ms=commit.committed_at_ms,
        )
        result = CommitResult(current + 1)
        session.commits[commit.turn_id] = (commit.commit_hash, result)
        return result

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""
        heads = sorted((s.head for s in self._sessions.values()), key=lambda h: h.updated_at_ms, reverse=True)
        return [SessionSummary(h.session_id, h.head_revision, h.turn_count, h.updated_at_ms) for h in heads]

    async def delete_session(self, session_id: str) -> bool:
        """Forget a session."""
        return self._sessions.pop(session_id, None) is not None

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Keep the bytes under their sha256."""
        attachment_id = hashlib.sha256(data).hexdigest()
        self._attachments(session_id)[attachment_id] = data
        return AttachmentRef(attachment_id, media_type, len(data), name)

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds."""
        return self._attachments(session_id)[attachment_id]

    def _attachments(self, session_id: str) -> dict[str, bytes]:
        # Attachments may be put before the session's first commit.
        session = self._sessions.get(session_id)
        if session is None:
            pending = self._pending.setdefault(session_id, {})
            return pending
        if session_id in self._pending:
            session.attachments.update(self._pending.pop(session_id))
        return session.attachments
