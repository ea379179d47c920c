"""The session execution lease in SQL (private; runs inside :meth:`Database.run`).

Every function takes the session's advisory lock first, so two first claims of a free
lease (no row yet, nothing to row-lock) cannot both win, and reads the database clock
after the lock: expiry is decided by the server, never by a worker's clock.
"""

from __future__ import annotations

import uuid

from lash_core.store.leases import (
    LeaseAcquired,
    LeaseBusy,
    LeaseClaim,
    LeaseFence,
    LeaseOwner,
    SessionLease,
    holder_proven_dead,
    with_head_revision,
)
from lash_store_postgres._db import NOW_MS, Tx
from lash_store_postgres._rows import LEASE_COLUMNS, LeaseRow, lease_later, owner_columns, read_lease

__all__: list[str] = []


def check_ttl(ttl_ms: int) -> None:
    """Refuse a TTL below 1 ms."""
    if ttl_ms < 1:
        raise ValueError(f"a lease ttl_ms must be at least 1, got {ttl_ms}")


def _extend(tx: Tx, lease: SessionLease, expires_at_ms: int) -> SessionLease:
    tx.send(
        "UPDATE {s}.leases SET expires_at_ms = %s WHERE session_id = %s AND lease_token = %s",
        (expires_at_ms, lease.session_id, lease.lease_token),
    )
    return SessionLease(
        lease.session_id,
        lease.owner,
        lease.lease_token,
        lease.fencing_token,
        lease.claimed_at_ms,
        expires_at_ms,
    )


def _grant(tx: Tx, row: LeaseRow, session_id: str, owner: LeaseOwner, ttl_ms: int) -> SessionLease:
    fencing = row.fencing + 1
    token = uuid.uuid4().hex
    owner_id, incarnation, liveness = owner_columns(owner)
    tx.send(
        "INSERT INTO {s}.leases (session_id, owner_id, owner_incarnation, owner_liveness_json, lease_token, "
        "fencing_token, claimed_at_ms, expires_at_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (session_id) DO UPDATE SET owner_id = EXCLUDED.owner_id, "
        "owner_incarnation = EXCLUDED.owner_incarnation, owner_liveness_json = EXCLUDED.owner_liveness_json, "
        "lease_token = EXCLUDED.lease_token, fencing_token = EXCLUDED.fencing_token, "
        "claimed_at_ms = EXCLUDED.claimed_at_ms, expires_at_ms = EXCLUDED.expires_at_ms",
        (session_id, owner_id, incarnation, liveness, token, fencing, row.now, row.now + ttl_ms),
    )
    return SessionLease(session_id, owner, token, fencing, row.now, row.now + ttl_ms)


def try_claim(tx: Tx, session_id: str, owner: LeaseOwner, ttl_ms: int) -> LeaseClaim:
    """Acquire a free or expired lease, re-enter our own, or answer busy (with the head
    revision when acquired)."""
    return with_head_revision(_try_claim(tx, session_id, owner, ttl_ms), _head_revision(tx, session_id))


def reclaim(tx: Tx, session_id: str, owner: LeaseOwner, observed: LeaseFence, ttl_ms: int) -> LeaseClaim:
    """Take the lease over from the observed holder when it is proven dead (or the lease is
    free), with the head revision when acquired."""
    return with_head_revision(
        _reclaim(tx, session_id, owner, observed, ttl_ms), _head_revision(tx, session_id)
    )


def _head_revision(tx: Tx, session_id: str) -> int:
    """The session's head revision (0 without a head); the claim's last statement, sent with
    its writes and the commit."""
    row = tx.one("SELECT head_revision FROM {s}.sessions WHERE session_id = %s", (session_id,), last=True)
    return int(row["head_revision"]) if row else 0


def _try_claim(tx: Tx, session_id: str, owner: LeaseOwner, ttl_ms: int) -> LeaseClaim:
    tx.lock_session(session_id)
    row = read_lease(tx, session_id)
    current = row.live
    if current is not None:
        if current.owner.same_incarnation(owner):
            return LeaseAcquired(_extend(tx, current, row.now + ttl_ms))
        return LeaseBusy(current)
    return LeaseAcquired(_grant(tx, row, session_id, owner, ttl_ms))


def _reclaim(tx: Tx, session_id: str, owner: LeaseOwner, observed: LeaseFence, ttl_ms: int) -> LeaseClaim:
    tx.lock_session(session_id)
    row = read_lease(tx, session_id)
    current = row.live
    if current is None:
        return LeaseAcquired(_grant(tx, row, session_id, owner, ttl_ms))
    if current.owner.same_incarnation(owner):
        return LeaseAcquired(_extend(tx, current, row.now + ttl_ms))
    if current.matches(observed) and holder_proven_dead(current.owner, owner):
        return LeaseAcquired(_grant(tx, row, session_id, owner, ttl_ms))
    return LeaseBusy(current)


def renew(tx: Tx, fence: LeaseFence, ttl_ms: int) -> SessionLease:
    """Extend the live lease ``fence`` proves, keeping its tokens."""
    tx.lock_session(fence.session_id)
    row = read_lease(tx, fence.session_id)
    lease = row.check(fence)
    return _extend(tx, lease, row.now + ttl_ms)


def release(tx: Tx, fence: LeaseFence) -> bool:
    """Release the lease if ``fence`` still holds it (live or expired); keep the fencing counter."""
    tx.lock_session(fence.session_id)
    return tx.execute(*_release_statement(fence), last=True) == 1


def release_locked(tx: Tx, fence: LeaseFence) -> None:
    """Queue :func:`release` for a caller that holds the session lock already."""
    tx.send(*_release_statement(fence))


def _release_statement(fence: LeaseFence) -> tuple[str, tuple[str, str, int, str, str]]:
    return (
        "UPDATE {s}.leases SET owner_id = NULL, owner_incarnation = NULL, owner_liveness_json = NULL, "
        "lease_token = NULL, claimed_at_ms = NULL, expires_at_ms = NULL "
        "WHERE session_id = %s AND lease_token = %s AND fencing_token = %s AND owner_id = %s "
        "AND owner_incarnation = %s",
        (
            fence.session_id,
            fence.lease_token,
            fence.fencing_token,
            fence.owner.owner_id,
            fence.owner.incarnation,
        ),
    )


def list_live(tx: Tx) -> list[SessionLease]:
    """Every live lease by the database clock, sorted by session id."""
    tx.idempotent = True
    rows = tx.all(
        f"SELECT session_id, {NOW_MS} AS now_ms, {LEASE_COLUMNS} FROM {{s}}.leases "
        f"WHERE lease_token IS NOT NULL AND expires_at_ms > {NOW_MS} ORDER BY session_id",
        last=True,
    )
    leases = (LeaseRow(row).live for row in rows)
    return [lease for lease in leases if lease is not None]


def load_live(tx: Tx, session_id: str) -> SessionLease | None:
    """The live lease of the session, or ``None``."""
    tx.idempotent = True
    lease = lease_later(tx, session_id)
    tx.end()
    return LeaseRow(lease.one()).live
