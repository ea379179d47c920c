"""Reading, listing and deleting sessions, attachments and maintenance in SQL (private)."""

from __future__ import annotations

import hashlib

from psycopg.rows import DictRow

from lash_core.model import AttachmentRef
from lash_core.store.contract import HistoryNode, SessionHead, SessionRecord, SessionSummary
from lash_core.store.maintenance import GcReport, VacuumReport
from lash_store_postgres._db import NOW_MS, Tx
from lash_store_postgres._rows import load

__all__: list[str] = []


def _head(row: DictRow | None) -> SessionHead | None:
    head: SessionHead | None = load(row["head_json"], SessionHead) if row is not None else None
    return head


def load_head(tx: Tx, session_id: str) -> SessionHead | None:
    """The session's head, or ``None``."""
    tx.idempotent = True
    return _head(tx.one("SELECT head_json FROM {s}.sessions WHERE session_id = %s", (session_id,), last=True))


def load_session(tx: Tx, session_id: str) -> SessionRecord | None:
    """The head and the history, read from one snapshot (in one round trip: the history is
    read whether or not the head exists; without a head it is empty)."""
    tx.idempotent = True
    tx.send("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    head_rows = tx.later("SELECT head_json FROM {s}.sessions WHERE session_id = %s", (session_id,))
    rows = tx.all(
        "SELECT node_json FROM {s}.nodes WHERE session_id = %s ORDER BY seq", (session_id,), last=True
    )
    head = _head(head_rows.one())
    if head is None:
        return None
    nodes: tuple[HistoryNode, ...] = tuple(load(r["node_json"], HistoryNode) for r in rows)
    return SessionRecord(head, nodes)


def list_sessions(tx: Tx) -> list[SessionSummary]:
    """Every session, most recently updated first."""
    tx.idempotent = True
    rows = tx.all(
        "SELECT session_id, head_revision, turn_count, updated_at_ms FROM {s}.sessions "
        "ORDER BY updated_at_ms DESC, session_id",
        last=True,
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
    counted = [
        tx.later(f"DELETE FROM {{s}}.{table} WHERE session_id = %s", (session_id,))
        for table in ("sessions", "inputs", "work_batches", "attachments")
    ]
    for table in ("nodes", "usage_deltas", "turn_commits", "effect_journal"):
        tx.send(f"DELETE FROM {{s}}.{table} WHERE session_id = %s", (session_id,))
    tx.execute(
        "UPDATE {s}.leases SET owner_id = NULL, owner_incarnation = NULL, owner_liveness_json = NULL, "
        "lease_token = NULL, claimed_at_ms = NULL, expires_at_ms = NULL WHERE session_id = %s",
        (session_id,),
        last=True,
    )
    return any(deleted.count > 0 for deleted in counted)


def put_attachment(tx: Tx, session_id: str, data: bytes, media_type: str, name: str | None) -> AttachmentRef:
    """Keep the bytes under their sha256 for this session (uncommitted until a commit names them)."""
    attachment_id = hashlib.sha256(data).hexdigest()
    tx.send(
        "INSERT INTO {s}.attachments (session_id, attachment_id, media_type, size, name, data, intent_at_ms) "
        f"VALUES (%s, %s, %s, %s, %s, %s, {NOW_MS}) ON CONFLICT (session_id, attachment_id) DO NOTHING",
        (session_id, attachment_id, media_type, len(data), name, data),
    )
    return AttachmentRef(attachment_id, media_type, len(data), name)


def get_attachment(tx: Tx, session_id: str, attachment_id: str) -> bytes:
    """The bytes of an attachment this session holds; ``KeyError`` otherwise."""
    tx.idempotent = True
    row = tx.one(
        "SELECT data FROM {s}.attachments WHERE session_id = %s AND attachment_id = %s",
        (session_id, attachment_id),
        last=True,
    )
    if row is None:
        raise KeyError(
            f"session {session_id!r} holds no attachment {attachment_id!r}; put it with this session first"
        )
    return bytes(row["data"])


def gc_attachments(tx: Tx, grace_ms: int) -> GcReport:
    """Delete uncommitted attachments put more than ``grace_ms`` ago (database clock)."""
    deleted = tx.later(
        f"DELETE FROM {{s}}.attachments WHERE NOT committed AND intent_at_ms <= {NOW_MS} - %s", (grace_ms,)
    )
    row = tx.one("SELECT count(*) AS retained FROM {s}.attachments", last=True)
    return GcReport(retained=int(row["retained"]) if row else 0, deleted=deleted.count)


def vacuum(tx: Tx) -> VacuumReport:
    """Delete terminal inputs and work batches."""
    inputs = tx.later("DELETE FROM {s}.inputs WHERE state IN ('completed', 'cancelled')")
    work = tx.execute("DELETE FROM {s}.work_batches WHERE state <> 'pending'", last=True)
    return VacuumReport(removed_inputs=inputs.count, removed_work_batches=work)


_LIVE_CLAIM = (
    "t.claim_id IS NOT NULL AND EXISTS (SELECT 1 FROM {s}.leases l WHERE l.session_id = t.session_id "
    "AND l.lease_token IS NOT NULL AND l.expires_at_ms > clock.now_ms AND l.fencing_token = t.claim_generation)"
)


def sessions_with_pending_work(tx: Tx) -> list[str]:
    """Sessions with a deferred input or ready work not under a live claim, sorted (the
    database clock is read once, by the statement)."""
    tx.idempotent = True
    rows = tx.all(
        f"WITH clock AS MATERIALIZED (SELECT {NOW_MS} AS now_ms) "
        "SELECT DISTINCT t.session_id FROM {s}.inputs t, clock WHERE t.state = 'deferred_next_turn' "
        f"AND NOT ({_LIVE_CLAIM}) "
        "UNION SELECT DISTINCT t.session_id FROM {s}.work_batches t, clock WHERE t.state = 'pending' "
        f"AND t.available_at_ms <= clock.now_ms AND NOT ({_LIVE_CLAIM}) ORDER BY 1",
        last=True,
    )
    return [r["session_id"] for r in rows]
