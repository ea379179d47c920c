"""Reading, listing and deleting sessions, attachments and maintenance in SQL (private)."""

from __future__ import annotations

import hashlib

from lash_core.model import AttachmentRef
from lash_core.store.contract import HistoryNode, SessionHead, SessionRecord, SessionSummary
from lash_core.store.maintenance import GcReport, VacuumReport
from lash_store_postgres._db import NOW_MS, Tx
from lash_store_postgres._rows import load

__all__: list[str] = []


def load_head(tx: Tx, session_id: str) -> SessionHead | None:
    """The session's head, or ``None``."""
    row = tx.one("SELECT head_json FROM {s}.sessions WHERE session_id = %s", (session_id,))
    head: SessionHead | None = load(row["head_json"], SessionHead) if row is not None else None
    return head


def load_session(tx: Tx, session_id: str) -> SessionRecord | None:
    """The head and the history, read from one snapshot."""
    tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    head = load_head(tx, session_id)
    if head is None:
        return None
    rows = tx.all("SELECT node_json FROM {s}.nodes WHERE session_id = %s ORDER BY seq", (session_id,))
    nodes: tuple[HistoryNode, ...] = tuple(load(r["node_json"], HistoryNode) for r in rows)
    return SessionRecord(head, nodes)


def list_sessions(tx: Tx) -> list[SessionSummary]:
    """Every session, most recently updated first."""
    rows = tx.all(
        "SELECT session_id, head_revision, turn_count, updated_at_ms FROM {s}.sessions "
        "ORDER BY updated_at_ms DESC, session_id"
    )
    return [
        SessionSummary(
            r["session_id"], int(r["head_revision"]), int(r["turn_count"]), int(r["updated_at_ms"])
        )
        for r in rows
    ]


def delete_session(tx: Tx, session_id: str) -> bool:
    """Delete the session with everything it holds; the lease row stays (released) so its
    fencing tokens never repeat."""
    tx.lock_session(session_id)
    existed = False
    for table in ("sessions", "inputs", "work_batches", "attachments"):
        existed = tx.execute(f"DELETE FROM {{s}}.{table} WHERE session_id = %s", (session_id,)) > 0 or existed
    for table in ("nodes", "usage_deltas", "turn_commits", "effect_journal"):
        tx.execute(f"DELETE FROM {{s}}.{table} WHERE session_id = %s", (session_id,))
    tx.execute(
        "UPDATE {s}.leases SET owner_id = NULL, owner_incarnation = NULL, owner_liveness_json = NULL, "
        "lease_token = NULL, claimed_at_ms = NULL, expires_at_ms = NULL WHERE session_id = %s",
        (session_id,),
    )
    return existed


def put_attachment(tx: Tx, session_id: str, data: bytes, media_type: str, name: str | None) -> AttachmentRef:
    """Keep the bytes under their sha256 for this session (uncommitted until a commit names them)."""
    attachment_id = hashlib.sha256(data).hexdigest()
    tx.execute(
        "INSERT INTO {s}.attachments (session_id, attachment_id, media_type, size, name, data, intent_at_ms) "
        f"VALUES (%s, %s, %s, %s, %s, %s, {NOW_MS}) ON CONFLICT (session_id, attachment_id) DO NOTHING",
        (session_id, attachment_id, media_type, len(data), name, data),
    )
    return AttachmentRef(attachment_id, media_type, len(data), name)


def get_attachment(tx: Tx, session_id: str, attachment_id: str) -> bytes:
    """The bytes of an attachment this session holds; ``KeyError`` otherwise."""
    row = tx.one(
        "SELECT data FROM {s}.attachments WHERE session_id = %s AND attachment_id = %s",
        (session_id, attachment_id),
    )
    if row is None:
        raise KeyError(
            f"session {session_id!r} holds no attachment {attachment_id!r}; put it with this session first"
        )
    return bytes(row["data"])


def gc_attachments(tx: Tx, grace_ms: int) -> GcReport:
    """Delete uncommitted attachments put more than ``grace_ms`` ago (database clock)."""
    deleted = tx.execute(
        f"DELETE FROM {{s}}.attachments WHERE NOT committed AND intent_at_ms <= {NOW_MS} - %s", (grace_ms,)
    )
    row = tx.one("SELECT count(*) AS retained FROM {s}.attachments")
    return GcReport(retained=int(row["retained"]) if row else 0, deleted=deleted)


def vacuum(tx: Tx) -> VacuumReport:
    """Delete terminal inputs and work batches."""
    inputs = tx.execute("DELETE FROM {s}.inputs WHERE state IN ('completed', 'cancelled')")
    work = tx.execute("DELETE FROM {s}.work_batches WHERE state <> 'pending'")
    return VacuumReport(removed_inputs=inputs, removed_work_batches=work)


_LIVE_CLAIM = (
    "t.claim_id IS NOT NULL AND EXISTS (SELECT 1 FROM {s}.leases l WHERE l.session_id = t.session_id "
    "AND l.lease_token IS NOT NULL AND l.expires_at_ms > %(now)s AND l.fencing_token = t.claim_generation)"
)


def sessions_with_pending_work(tx: Tx) -> list[str]:
    """Sessions with a deferred input or ready work not under a live claim, sorted."""
    now = tx.now_ms()
    rows = tx.all(
        "SELECT DISTINCT t.session_id FROM {s}.inputs t WHERE t.state = 'deferred_next_turn' "
        f"AND NOT ({_LIVE_CLAIM}) "
        "UNION SELECT DISTINCT t.session_id FROM {s}.work_batches t WHERE t.state = 'pending' "
        f"AND t.available_at_ms <= %(now)s AND NOT ({_LIVE_CLAIM}) ORDER BY 1",
        {"now": now},
    )
    return [r["session_id"] for r in rows]
