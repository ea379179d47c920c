"""Row conversions and the lease checks every facet of the SQLite store shares (private).

Everything here runs on the database's worker thread, inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from lash_core.clock import Clock, SystemClock
from lash_core.errors import LeaseLost, StoreClosed
from lash_core.model import TurnInput
from lash_core.store.claims import ClaimInfo, ClaimRef
from lash_core.store.codec import decode, encode
from lash_core.store.inputs import InputIngress, PendingInput, PendingInputState
from lash_core.store.leases import LeaseFence, LeaseOwner, SessionLease
from lash_core.store.queued_work import (
    DeliveryPolicy,
    QueuedWorkBatch,
    SlotPolicy,
    WorkClass,
    WorkItem,
    WorkState,
)
from lash_store_sqlite.database import SqliteDatabase

T = TypeVar("T")

__all__: list[str] = []


def dumps(value: Any) -> str:
    """Compact JSON text of an encoded store record or model value."""
    return json.dumps(encode(value), separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def loads(text: str, as_type: Any) -> Any:
    """The record of type ``as_type`` stored as JSON ``text``."""
    return decode(json.loads(text), as_type)


def new_claim() -> tuple[str, str]:
    """A fresh claim id and claim token."""
    return f"claim_{uuid.uuid4().hex}", uuid.uuid4().hex


def check_limit(name: str, value: int) -> None:
    """Refuse a limit below 1."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def claim_info(row: sqlite3.Row) -> ClaimInfo | None:
    """The claim columns of an input or work row, or ``None`` when unclaimed."""
    if row["claim_id"] is None:
        return None
    return ClaimInfo(
        claim_id=row["claim_id"],
        owner=loads(row["claim_owner_json"], LeaseOwner),
        lease_generation=row["claim_generation"],
        claim_fencing_token=row["claim_fencing_token"],
        claimed_at_ms=row["claimed_at_ms"],
    )


def owns(row: sqlite3.Row, ref: ClaimRef) -> bool:
    """True when the row still carries the claim ``ref`` names (id and token)."""
    return (
        row["claim_id"] is not None
        and row["claim_id"] == ref.claim_id
        and row["claim_token"] == ref.claim_token
    )


def input_from_row(row: sqlite3.Row) -> PendingInput:
    """A pending input from its ``inputs`` row."""
    return PendingInput(
        input_id=row["input_id"],
        session_id=row["session_id"],
        enqueue_seq=row["enqueue_seq"],
        ingress=loads(row["ingress_json"], InputIngress),
        state=PendingInputState(row["state"]),
        enqueued_at_ms=row["enqueued_at_ms"],
        input=loads(row["input_json"], TurnInput),
        source_key=row["source_key"],
        claim=claim_info(row),
    )


def batch_from_row(row: sqlite3.Row) -> QueuedWorkBatch:
    """A queued work batch from its ``work_batches`` row."""
    items: tuple[WorkItem, ...] = tuple(decode(item, WorkItem) for item in json.loads(row["items_json"]))
    return QueuedWorkBatch(
        batch_id=row["batch_id"],
        session_id=row["session_id"],
        enqueue_seq=row["enqueue_seq"],
        work_class=WorkClass(row["work_class"]),
        items=items,
        delivery=DeliveryPolicy(row["delivery"]),
        slot=SlotPolicy(row["slot"]),
        available_at_ms=row["available_at_ms"],
        enqueued_at_ms=row["enqueued_at_ms"],
        merge_key=row["merge_key"],
        source_key=row["source_key"],
        state=WorkState(row["state"]),
        claim=claim_info(row),
    )


def lease_from_row(session_id: str, row: sqlite3.Row | None) -> SessionLease | None:
    """The lease a ``leases`` row holds (``None`` when free or missing), expired or not."""
    if row is None or row["lease_token"] is None:
        return None
    return SessionLease(
        session_id=session_id,
        owner=loads(row["owner_json"], LeaseOwner),
        lease_token=row["lease_token"],
        fencing_token=row["fencing_token"],
        claimed_at_ms=row["claimed_at_ms"],
        expires_at_ms=row["expires_at_ms"],
    )


def read_lease(conn: sqlite3.Connection, session_id: str) -> tuple[sqlite3.Row | None, SessionLease | None]:
    """The session's ``leases`` row and the lease it holds."""
    row = conn.execute("SELECT * FROM leases WHERE session_id = ?", (session_id,)).fetchone()
    return row, lease_from_row(session_id, row)


def live_lease(conn: sqlite3.Connection, session_id: str, now: int) -> SessionLease | None:
    """The session's live lease, or ``None``."""
    _, lease = read_lease(conn, session_id)
    return lease if lease is not None and lease.is_live(now) else None


def live_generation(conn: sqlite3.Connection, session_id: str, now: int) -> int | None:
    """The fencing token of the session's live lease (claims of that generation are live)."""
    lease = live_lease(conn, session_id, now)
    return lease.fencing_token if lease is not None else None


def claim_live(row: sqlite3.Row, generation: int | None) -> bool:
    """Lease-less liveness: the row is claimed under the live lease's generation."""
    return row["claim_id"] is not None and generation is not None and row["claim_generation"] == generation


def check_fence(conn: sqlite3.Connection, fence: LeaseFence, now: int) -> SessionLease:
    """The live lease ``fence`` proves, or :class:`LeaseLost`."""
    _, lease = read_lease(conn, fence.session_id)
    if lease is None:
        reason = "it was released"
    elif not lease.matches(fence):
        reason = f"owner {lease.owner.owner_id!r} holds fencing token {lease.fencing_token} now"
    elif not lease.is_live(now):
        reason = f"it expired {now - lease.expires_at_ms} ms ago"
    else:
        return lease
    raise LeaseLost(
        f"the execution lease of session {fence.session_id!r} with fencing token {fence.fencing_token} "
        f"is no longer live ({reason}); stop working on the session and claim the lease again"
    )


def release(conn: sqlite3.Connection, fence: LeaseFence) -> bool:
    """Release the lease if ``fence`` still holds it (expired or not); keep the fencing counter."""
    _, lease = read_lease(conn, fence.session_id)
    if lease is None or not lease.matches(fence):
        return False
    conn.execute(
        "UPDATE leases SET lease_token = NULL, owner_json = NULL, claimed_at_ms = NULL, expires_at_ms = NULL "
        "WHERE session_id = ?",
        (fence.session_id,),
    )
    return True


def next_seq(conn: sqlite3.Connection) -> int:
    """The next enqueue sequence number (shared by inputs and work, strictly increasing)."""
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'enqueue_seq'")
    return int(conn.execute("SELECT value FROM counters WHERE name = 'enqueue_seq'").fetchone()[0])


class SqliteBase:
    """What every facet of the store shares: the database, the clock, the open state."""

    _db: SqliteDatabase
    _clock: Clock
    _open: bool

    def __init__(self, db: SqliteDatabase, clock: Clock | None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._open = False

    def _now(self) -> int:
        return self._clock.now_ms()

    def _check_open(self) -> SqliteDatabase:
        if not self._open:
            raise StoreClosed("sqlite")
        return self._db

    async def _run_claim(
        self, probe: Callable[[sqlite3.Connection], bool], claim: Callable[[sqlite3.Connection], T]
    ) -> T | None:
        """Run ``claim`` in a write transaction, unless ``probe`` (a cheap read) finds nothing
        claimable: then no write transaction is opened and the answer is ``None``."""
        db = self._check_open()
        if not await db.peek(probe):
            return None
        return await db.write(claim)
