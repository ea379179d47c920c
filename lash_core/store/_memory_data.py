"""The rows of the in-memory store and the lease checks its facets share (private)."""

from __future__ import annotations

from attrs import define, field

from lash_core.clock import Clock, SystemClock
from lash_core.errors import LeaseLost
from lash_core.store.claims import ClaimInfo
from lash_core.store.contract import CommitResult, HistoryNode, SessionHead
from lash_core.store.inputs import PendingInput
from lash_core.store.leases import LeaseFence, SessionLease
from lash_core.store.queued_work import QueuedWorkBatch

__all__ = ["MemoryStoreData"]


class _Session:
    __slots__ = ("commits", "head", "nodes")

    def __init__(self, head: SessionHead) -> None:
        self.head = head
        self.nodes: list[HistoryNode] = []
        self.commits: dict[str, tuple[str, CommitResult]] = {}


@define
class _LeaseRow:
    """A session's lease (``None`` when free) and the last fencing token it handed out."""

    lease: SessionLease | None = None
    fencing: int = 0


@define
class _InputRow:
    record: PendingInput
    content: str  # input_content_digest of the draft as submitted
    token: str | None = None
    claims: int = 0  # per-row claim fencing counter, bumped on every (re)claim


@define
class _WorkRow:
    record: QueuedWorkBatch
    token: str | None = None
    claims: int = 0


@define
class _AttachmentRow:
    media_type: str
    size: int
    name: str | None
    intent_at_ms: int
    committed: bool = False


@define
class MemoryStoreData:
    """Everything a memory store holds. Several :class:`~lash_core.store.memory.MemoryStore`
    objects over one data object behave like handles on one database (a "reopen")."""

    sessions: dict[str, _Session] = field(factory=dict)
    leases: dict[str, _LeaseRow] = field(factory=dict)
    inputs: dict[str, dict[str, _InputRow]] = field(factory=dict)
    work: dict[str, dict[str, _WorkRow]] = field(factory=dict)
    attachments: dict[str, dict[str, _AttachmentRow]] = field(factory=dict)
    blobs: dict[str, bytes] = field(factory=dict)
    seq: int = 0

    def next_seq(self) -> int:
        """The next enqueue sequence number (shared by inputs and work, strictly increasing)."""
        self.seq += 1
        return self.seq


class _MemoryBase:
    """State and lease checks shared by the memory store's facets."""

    _data: MemoryStoreData
    _clock: Clock

    def __init__(self, clock: Clock | None = None, *, data: MemoryStoreData | None = None) -> None:
        self._clock = clock or SystemClock()
        self._data = data if data is not None else MemoryStoreData()

    def _now(self) -> int:
        return self._clock.now_ms()

    def _live_lease(self, session_id: str, now: int) -> SessionLease | None:
        row = self._data.leases.get(session_id)
        lease = row.lease if row is not None else None
        return lease if lease is not None and lease.is_live(now) else None

    def _check_fence(self, fence: LeaseFence, now: int) -> SessionLease:
        """The live lease ``fence`` proves, or :class:`LeaseLost`."""
        row = self._data.leases.get(fence.session_id)
        lease = row.lease if row is not None else None
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

    def _claim_live(self, session_id: str, claim: ClaimInfo | None, now: int) -> bool:
        """Lease-less liveness: the session's lease is live and of the claim's generation."""
        if claim is None:
            return False
        lease = self._live_lease(session_id, now)
        return lease is not None and lease.fencing_token == claim.lease_generation
