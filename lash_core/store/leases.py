"""The session execution lease: one writer per session at a time.

A worker that runs turns of a session holds its lease. The lease names its
:class:`LeaseOwner` (an owner id, an incarnation of that owner and, optionally, the
local process that holds it), carries an opaque ``lease_token`` and a ``fencing_token``
and expires ``ttl_ms`` after it was claimed or last renewed, by the store's clock.

Rules every store keeps (the conformance suite checks them):

* the same owner *and* the same incarnation re-enters a live lease: same tokens, later
  expiry; any other owner, or the same owner with another incarnation, is
  :class:`LeaseBusy`;
* every fresh acquisition or takeover gets a ``fencing_token`` greater than any before
  for that session (a release keeps the counter); renewal keeps it;
* ``renew`` of a stale, released, superseded or expired lease raises
  :class:`~lash_core.errors.LeaseLost`; ``release`` is idempotent and never clears a
  newer owner's lease;
* ``reclaim`` takes over a *live* lease only when the observed holder's fence still
  matches (a stale observation cannot clear a newer lease) and
  :func:`holder_proven_dead` says its local process is gone.

Pending-input and queued-work claims are fenced by the lease generation (the
``fencing_token`` the claimant held), not by a TTL of their own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from attrs import frozen

__all__ = [
    "DEFAULT_LEASE_RENEW_INTERVAL_MS",
    "DEFAULT_LEASE_TTL_MS",
    "LeaseAcquired",
    "LeaseBusy",
    "LeaseClaim",
    "LeaseFence",
    "LeaseOwner",
    "LeaseTimings",
    "LocalProcessLiveness",
    "SessionLease",
    "SessionLeaseStore",
    "current_process_liveness",
    "holder_proven_dead",
    "read_process_start",
    "with_head_revision",
]

DEFAULT_LEASE_TTL_MS = 30_000
DEFAULT_LEASE_RENEW_INTERVAL_MS = 10_000


@frozen
class LocalProcessLiveness:
    """The local process that holds a lease, so a peer on the same machine can prove it dead.

    ``process_start`` is the process start time as the kernel reports it (field 22 of
    ``/proc/<pid>/stat``, clock ticks since boot), which tells a reused pid apart.
    """

    host_id: str
    boot_id: str
    pid: int
    process_start: int


@frozen
class LeaseOwner:
    """Who holds (or asks for) a lease.

    ``owner_id`` names the worker (or durable invocation); ``incarnation`` tells its
    restarts apart: a restarted worker keeps its owner id and gets a new incarnation.
    ``liveness`` is ``None`` for opaque owners, which peers can only wait out.
    """

    owner_id: str
    incarnation: str
    liveness: LocalProcessLiveness | None = None

    def same_incarnation(self, other: LeaseOwner) -> bool:
        """True when ``other`` is this owner in this incarnation (liveness is not compared)."""
        return self.owner_id == other.owner_id and self.incarnation == other.incarnation


@frozen
class LeaseFence:
    """The proof a lease holder presents: the lease minus its timestamps."""

    session_id: str
    owner: LeaseOwner
    lease_token: str
    fencing_token: int


@frozen
class SessionLease:
    """A session execution lease as the store recorded it (epoch milliseconds, store clock)."""

    session_id: str
    owner: LeaseOwner
    lease_token: str
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int

    @property
    def fence(self) -> LeaseFence:
        """The fence to present to renew, release, claim and commit."""
        return LeaseFence(self.session_id, self.owner, self.lease_token, self.fencing_token)

    def is_live(self, now_ms: int) -> bool:
        """True while the lease has not expired at ``now_ms``."""
        return now_ms < self.expires_at_ms

    def matches(self, fence: LeaseFence) -> bool:
        """True when ``fence`` is this lease's fence."""
        return (
            fence.session_id == self.session_id
            and fence.owner.same_incarnation(self.owner)
            and fence.lease_token == self.lease_token
            and fence.fencing_token == self.fencing_token
        )


@frozen
class LeaseAcquired:
    """The caller holds the lease (freshly acquired, re-entered or taken over).

    ``head_revision`` is the session's head revision read in the same transaction (0 for a
    session without a head; ``None`` when the store does not report it): a runtime whose
    handle is at that revision need not reload the session before its turn.
    """

    lease: SessionLease
    head_revision: int | None = None


def with_head_revision(claim: LeaseClaim, head_revision: int) -> LeaseClaim:
    """``claim`` with ``head_revision`` filled in when the lease was acquired."""
    return LeaseAcquired(claim.lease, head_revision) if isinstance(claim, LeaseAcquired) else claim


@frozen
class LeaseBusy:
    """Another owner (or another incarnation) holds a live lease."""

    holder: SessionLease


LeaseClaim = LeaseAcquired | LeaseBusy


@frozen
class LeaseTimings:
    """How long a lease lives and how often its holder renews it (milliseconds).

    ``ttl_ms`` must be at least three renew intervals so a holder survives two missed
    renewals. Applies to session leases, not to input or work claims (those are fenced
    by the lease generation).
    """

    ttl_ms: int = DEFAULT_LEASE_TTL_MS
    renew_interval_ms: int = DEFAULT_LEASE_RENEW_INTERVAL_MS

    def __attrs_post_init__(self) -> None:
        if self.ttl_ms < 1 or self.renew_interval_ms < 1:
            raise ValueError(
                f"lease timings must be at least 1 ms each (ttl_ms={self.ttl_ms}, "
                f"renew_interval_ms={self.renew_interval_ms})"
            )
        if self.ttl_ms < 3 * self.renew_interval_ms:
            raise ValueError(
                f"lease ttl_ms={self.ttl_ms} must be at least 3 x renew_interval_ms={self.renew_interval_ms} "
                "so a holder survives two missed renewals: raise ttl_ms or lower renew_interval_ms"
            )


def read_process_start(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """The start time of process ``pid`` (field 22 of ``/proc/<pid>/stat``), or ``None`` when
    there is no such process (or no readable ``/proc``)."""
    try:
        text = (proc_root / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def holder_proven_dead(
    holder: LeaseOwner,
    claimant: LeaseOwner,
    read_start: Callable[[int], int | None] = read_process_start,
) -> bool:
    """True only when ``claimant`` can prove ``holder``'s process is gone.

    Both must carry local-process liveness with the same host id and boot id, and the
    holder's pid must be missing or show another start time (a reused pid).
    Opaque holders, other machines and other boots are never proven dead: wait for the
    lease to expire. ``read_start`` reads a pid's start time (``None`` when absent).
    """
    mine, theirs = claimant.liveness, holder.liveness
    if mine is None or theirs is None:
        return False
    if mine.host_id != theirs.host_id or mine.boot_id != theirs.boot_id:
        return False
    started = read_start(theirs.pid)
    return started is None or started != theirs.process_start


def _read_first_line(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.readline().strip() or None
    except OSError:
        return None


def current_process_liveness() -> LocalProcessLiveness | None:
    """This process's liveness (host id, boot id, pid, start time), or ``None`` where the
    system does not expose it (no ``/proc``): such owners are opaque."""
    pid = os.getpid()
    start = read_process_start(pid)
    boot_id = _read_first_line("/proc/sys/kernel/random/boot_id")
    if start is None or boot_id is None:
        return None
    host_id = _read_first_line("/etc/machine-id") or socket.gethostname()
    return LocalProcessLiveness(host_id=host_id, boot_id=boot_id, pid=pid, process_start=start)


@runtime_checkable
class SessionLeaseStore(Protocol):
    """The session execution lease facet of a store (see the module docs for the rules).

    Expiry is decided by the store's clock. ``ttl_ms`` defaults to
    :data:`DEFAULT_LEASE_TTL_MS`.
    """

    async def try_claim_lease(
        self, session_id: str, owner: LeaseOwner, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS
    ) -> LeaseClaim:
        """Acquire the lease when it is free or expired (a new, greater fencing token), re-enter it
        when ``owner`` holds it in the same incarnation (same tokens, expiry moved to now + ttl),
        else answer :class:`LeaseBusy` with the holder."""
        ...

    async def reclaim_lease(
        self,
        session_id: str,
        owner: LeaseOwner,
        observed: LeaseFence,
        *,
        ttl_ms: int = DEFAULT_LEASE_TTL_MS,
    ) -> LeaseClaim:
        """Take the lease over from the holder the caller observed.

        Succeeds (new lease token, fencing token + 1) when the lease is free or expired, or
        when the live holder still matches ``observed`` exactly and
        :func:`holder_proven_dead` says its process is gone. Otherwise :class:`LeaseBusy`
        with the current holder: a stale observation never clears a newer lease.
        """
        ...

    async def renew_lease(self, fence: LeaseFence, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS) -> SessionLease:
        """Extend a live lease to now + ttl, keeping its tokens; raise
        :class:`~lash_core.errors.LeaseLost` when ``fence`` is not the live lease."""
        ...

    async def release_lease(self, fence: LeaseFence) -> bool:
        """Release the lease if ``fence`` is still its holder; ``False`` (and nothing changed)
        when it was released already, expired into another owner's hands or superseded.
        The fencing counter is kept so the next acquisition gets a greater token."""
        ...

    async def load_lease(self, session_id: str) -> SessionLease | None:
        """The live lease of the session, or ``None`` when it is free (released or expired)."""
        ...

    async def list_live_leases(self) -> Sequence[SessionLease]:
        """Every live lease of the store, sorted by session id (a worker looks among them for
        holders proven dead, whose sessions it may take over before the leases expire)."""
        ...
