"""Holding a session's execution lease while its turns run.

A :class:`LeaseGuard` acquires the lease (taking it over from a holder proven dead on
this machine), renews it in the background every ``renew_interval_ms`` and, when a
renewal fails, marks itself lost and calls ``on_lost`` (the runner cancels the turn,
which then commits nothing: the host gets :class:`~lash_core.errors.LeaseLost`).
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Callable

import anyio

from lash_core.errors import LeaseLost, SessionBusy
from lash_core.store.leases import (
    LeaseAcquired,
    LeaseBusy,
    LeaseFence,
    LeaseOwner,
    LeaseTimings,
    SessionLease,
    SessionLeaseStore,
    current_process_liveness,
    holder_proven_dead,
)

__all__ = ["LeaseGuard", "runtime_lease_owner"]

log = logging.getLogger("lash.leasing")


def runtime_lease_owner(owner_id: str | None = None) -> LeaseOwner:
    """The lease owner of one runtime: ``owner_id`` (default ``<host>:<pid>``), a fresh
    incarnation, and this process's liveness so peers on this machine can prove it dead."""
    liveness = current_process_liveness()
    default_id = f"{socket.gethostname()}:{liveness.pid if liveness else 0}"
    return LeaseOwner(owner_id or default_id, secrets.token_hex(8), liveness)


class LeaseGuard:
    """The lease of one session, held by one runtime for one logical turn (or drain)."""

    def __init__(
        self,
        store: SessionLeaseStore,
        session_id: str,
        owner: LeaseOwner,
        timings: LeaseTimings,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.owner = owner
        self.timings = timings
        self.on_lost = on_lost
        self.lease: SessionLease | None = None
        self.lost = False
        # The session's head revision when the lease was acquired, if the store reported it.
        self.head_revision: int | None = None

    @property
    def fence(self) -> LeaseFence:
        """The fence of the held lease (raises when none is held)."""
        if self.lease is None:
            raise LeaseLost(f"session {self.session_id!r}: no execution lease is held")
        return self.lease.fence

    async def try_acquire(self) -> bool:
        """Acquire the lease, or take it over from a holder proven dead; ``False`` when busy."""
        claim = await self.store.try_claim_lease(self.session_id, self.owner, ttl_ms=self.timings.ttl_ms)
        if isinstance(claim, LeaseBusy) and holder_proven_dead(claim.holder.owner, self.owner):
            claim = await self.store.reclaim_lease(
                self.session_id, self.owner, claim.holder.fence, ttl_ms=self.timings.ttl_ms
            )
        if isinstance(claim, LeaseAcquired):
            self.lease, self.head_revision = claim.lease, claim.head_revision
            return True
        return False

    async def acquire(self) -> SessionLease:
        """Acquire the lease or raise :class:`SessionBusy` naming the holder."""
        if not await self.try_acquire():
            holder = await self.store.load_lease(self.session_id)
            detail = f" (lease held by {holder.owner.owner_id!r})" if holder else ""
            raise SessionBusy(self.session_id, detail)
        assert self.lease is not None
        return self.lease

    async def keep_renewed(self) -> None:
        """Renew until cancelled; on failure mark the guard lost and call ``on_lost``."""
        interval = self.timings.renew_interval_ms / 1000
        while True:
            await anyio.sleep(interval)
            try:
                self.lease = await self.store.renew_lease(self.fence, ttl_ms=self.timings.ttl_ms)
            except Exception as exc:
                log.warning(
                    "session %s: lease renewal failed (%s); cancelling its turn", self.session_id, exc
                )
                self.lost = True
                self.on_lost()
                return

    async def release(self) -> None:
        """Release the lease if still held (best effort: errors are logged)."""
        if self.lease is None:
            return
        fence, self.lease = self.lease.fence, None
        try:
            with anyio.CancelScope(shield=True):
                await self.store.release_lease(fence)
        except Exception as exc:
            log.warning("session %s: releasing the lease failed: %s", self.session_id, exc)
