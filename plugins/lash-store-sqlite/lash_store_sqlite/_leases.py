"""The session execution lease of the SQLite store (private: use SqliteStore).

Every decision reads the lease row inside a ``BEGIN IMMEDIATE`` transaction, so two
connections (or processes) never both acquire: the second waits for the first's
transaction and then sees its lease. A release keeps the fencing counter in the row.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable

from lash_core.store.leases import (
    DEFAULT_LEASE_TTL_MS,
    LeaseAcquired,
    LeaseBusy,
    LeaseClaim,
    LeaseFence,
    LeaseOwner,
    SessionLease,
    holder_proven_dead,
    with_head_revision,
)
from lash_store_sqlite._base import (
    SqliteBase,
    check_fence,
    dumps,
    lease_from_row,
    live_lease,
    read_lease,
    release,
)

__all__: list[str] = []


def _check_ttl(ttl_ms: int) -> None:
    if ttl_ms < 1:
        raise ValueError(f"a lease ttl_ms must be at least 1, got {ttl_ms}")


def _grant(
    conn: sqlite3.Connection,
    row: sqlite3.Row | None,
    session_id: str,
    owner: LeaseOwner,
    now: int,
    ttl_ms: int,
) -> SessionLease:
    """A fresh lease with the next fencing token."""
    fencing = (row["fencing_token"] if row is not None else 0) + 1
    lease = SessionLease(session_id, owner, uuid.uuid4().hex, fencing, now, now + ttl_ms)
    conn.execute(
        "INSERT INTO leases (session_id, fencing_token, lease_token, owner_json, claimed_at_ms, expires_at_ms) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET fencing_token = excluded.fencing_token, "
        "lease_token = excluded.lease_token, owner_json = excluded.owner_json, "
        "claimed_at_ms = excluded.claimed_at_ms, expires_at_ms = excluded.expires_at_ms",
        (session_id, fencing, lease.lease_token, dumps(owner), now, now + ttl_ms),
    )
    return lease


def _extend(conn: sqlite3.Connection, lease: SessionLease, expires_at_ms: int) -> SessionLease:
    conn.execute(
        "UPDATE leases SET expires_at_ms = ? WHERE session_id = ?", (expires_at_ms, lease.session_id)
    )
    return SessionLease(
        lease.session_id,
        lease.owner,
        lease.lease_token,
        lease.fencing_token,
        lease.claimed_at_ms,
        expires_at_ms,
    )


def _lease_claim_with_head(
    session_id: str, run: Callable[[sqlite3.Connection], LeaseClaim]
) -> Callable[[sqlite3.Connection], LeaseClaim]:
    """``run``, then the session's head revision read in the same transaction."""

    def with_head(conn: sqlite3.Connection) -> LeaseClaim:
        claim = run(conn)
        row = conn.execute(
            "SELECT head_revision FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return with_head_revision(claim, row[0] if row else 0)

    return with_head


class LeasesFacet(SqliteBase):
    """The session execution lease facet."""

    async def try_claim_lease(
        self, session_id: str, owner: LeaseOwner, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS
    ) -> LeaseClaim:
        """Acquire, re-enter, or answer busy."""
        _check_ttl(ttl_ms)

        def run(conn: sqlite3.Connection) -> LeaseClaim:
            now = self._now()
            row, current = read_lease(conn, session_id)
            if current is not None and current.is_live(now):
                if current.owner.same_incarnation(owner):
                    return LeaseAcquired(_extend(conn, current, now + ttl_ms))
                return LeaseBusy(current)
            return LeaseAcquired(_grant(conn, row, session_id, owner, now, ttl_ms))

        return await self._check_open().write(_lease_claim_with_head(session_id, run))

    async def reclaim_lease(
        self,
        session_id: str,
        owner: LeaseOwner,
        observed: LeaseFence,
        *,
        ttl_ms: int = DEFAULT_LEASE_TTL_MS,
    ) -> LeaseClaim:
        """Take over from the observed holder when it is proven dead (or the lease is free)."""
        _check_ttl(ttl_ms)

        def run(conn: sqlite3.Connection) -> LeaseClaim:
            now = self._now()
            row, current = read_lease(conn, session_id)
            if current is None or not current.is_live(now):
                return LeaseAcquired(_grant(conn, row, session_id, owner, now, ttl_ms))
            if current.owner.same_incarnation(owner):
                return LeaseAcquired(_extend(conn, current, now + ttl_ms))
            if current.matches(observed) and holder_proven_dead(current.owner, owner):
                return LeaseAcquired(_grant(conn, row, session_id, owner, now, ttl_ms))
            return LeaseBusy(current)

        return await self._check_open().write(_lease_claim_with_head(session_id, run))

    async def renew_lease(self, fence: LeaseFence, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS) -> SessionLease:
        """Extend the live lease, keeping its tokens."""
        _check_ttl(ttl_ms)

        def run(conn: sqlite3.Connection) -> SessionLease:
            now = self._now()
            lease = check_fence(conn, fence, now)
            return _extend(conn, lease, now + ttl_ms)

        return await self._check_open().write(run)

    async def release_lease(self, fence: LeaseFence) -> bool:
        """Release the lease if ``fence`` still holds it."""
        return await self._check_open().write(lambda conn: release(conn, fence))

    async def load_lease(self, session_id: str) -> SessionLease | None:
        """The live lease, or ``None``."""
        return await self._check_open().peek(lambda conn: live_lease(conn, session_id, self._now()))

    async def list_live_leases(self) -> list[SessionLease]:
        """Every live lease, sorted by session id."""

        def run(conn: sqlite3.Connection) -> list[SessionLease]:
            now = self._now()
            rows = conn.execute(
                "SELECT * FROM leases WHERE lease_token IS NOT NULL AND expires_at_ms > ? ORDER BY session_id",
                (now,),
            ).fetchall()
            leases = (lease_from_row(row["session_id"], row) for row in rows)
            return [lease for lease in leases if lease is not None and lease.is_live(now)]

        return await self._check_open().peek(run)
