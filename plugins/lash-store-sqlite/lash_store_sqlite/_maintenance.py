"""Attachments and maintenance of the SQLite store (private: use SqliteStore).

Attachment bytes live once in ``blobs`` (keyed by their sha256); ``attachments`` holds
each session's reference with its metadata and whether a committed turn listed it. A
blob no session references any more is deleted (by GC and by session deletion).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from lash_core.model import AttachmentRef
from lash_core.store.inputs import PendingInputState
from lash_core.store.maintenance import DEFAULT_ATTACHMENT_GRACE_MS, GcReport, VacuumReport
from lash_core.store.queued_work import WorkState
from lash_store_sqlite._base import SqliteBase

__all__: list[str] = []

# A claim is live while the session's lease is live and of the claim's generation.
_NOT_LIVE_CLAIMED = (
    "(q.claim_id IS NULL OR NOT EXISTS (SELECT 1 FROM leases l WHERE l.session_id = q.session_id "
    "AND l.lease_token IS NOT NULL AND l.expires_at_ms > :now AND l.fencing_token = q.claim_generation))"
)


def drop_orphan_blobs(conn: sqlite3.Connection) -> None:
    """Delete blobs no session references."""
    conn.execute(
        "DELETE FROM blobs WHERE NOT EXISTS "
        "(SELECT 1 FROM attachments a WHERE a.attachment_id = blobs.attachment_id)"
    )


class MaintenanceFacet(SqliteBase):
    """Attachments, vacuum, attachment GC and the pending-work scan."""

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Keep the bytes under their sha256, held by this session (uncommitted until a commit)."""
        attachment_id = hashlib.sha256(data).hexdigest()
        payload = bytes(data)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO blobs (attachment_id, data) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (attachment_id, payload),
            )
            conn.execute(
                "INSERT INTO attachments (session_id, attachment_id, media_type, size, name, intent_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (session_id, attachment_id, media_type, len(payload), name, self._now()),
            )

        await self._check_open().write(run)
        return AttachmentRef(attachment_id, media_type, len(payload), name)

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds; ``KeyError`` otherwise."""

        def run(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT b.data FROM attachments a JOIN blobs b ON b.attachment_id = a.attachment_id "
                "WHERE a.session_id = ? AND a.attachment_id = ?",
                (session_id, attachment_id),
            ).fetchone()
            return bytes(row[0]) if row is not None else None

        found = await self._check_open().read(run)
        if found is None:
            raise KeyError(
                f"session {session_id!r} holds no attachment {attachment_id!r}; put it with this session first"
            )
        return found

    async def gc_attachments(self, *, grace_ms: int = DEFAULT_ATTACHMENT_GRACE_MS) -> GcReport:
        """Drop uncommitted attachments older than the grace period; keep committed ones."""

        def run(conn: sqlite3.Connection) -> GcReport:
            cutoff = self._now() - grace_ms
            deleted = conn.execute(
                "DELETE FROM attachments WHERE committed = 0 AND intent_at_ms <= ?", (cutoff,)
            ).rowcount
            retained = conn.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]
            drop_orphan_blobs(conn)
            return GcReport(retained=retained, deleted=deleted)

        return await self._check_open().write(run)

    async def vacuum(self) -> VacuumReport:
        """Delete terminal inputs and work batches (their source keys become free)."""

        def run(conn: sqlite3.Connection) -> VacuumReport:
            removed_inputs = conn.execute(
                "DELETE FROM inputs WHERE state IN (?, ?)",
                (PendingInputState.COMPLETED.value, PendingInputState.CANCELLED.value),
            ).rowcount
            removed_work = conn.execute(
                "DELETE FROM work_batches WHERE state != ?", (WorkState.PENDING.value,)
            ).rowcount
            return VacuumReport(removed_inputs=removed_inputs, removed_work_batches=removed_work)

        return await self._check_open().write(run)

    async def list_sessions_with_pending_work(self) -> Sequence[str]:
        """Sessions with a deferred input or ready work not under a live claim, sorted."""

        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                f"SELECT q.session_id FROM inputs q WHERE q.state = :deferred AND {_NOT_LIVE_CLAIMED} "
                f"UNION SELECT q.session_id FROM work_batches q WHERE q.state = :pending "
                f"AND q.available_at_ms <= :now AND {_NOT_LIVE_CLAIMED} ORDER BY 1",
                {
                    "now": self._now(),
                    "deferred": PendingInputState.DEFERRED_NEXT_TURN.value,
                    "pending": WorkState.PENDING.value,
                },
            ).fetchall()
            return [row[0] for row in rows]

        return await self._check_open().peek(run)
