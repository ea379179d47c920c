"""Queued work: non-user background ingress of a session.

A batch holds one or more payloads of one class:

* **session commands** (:class:`RefreshToolCatalog`, :class:`ResetSession`) are applied
  between turns, each batch by itself, and always *before* turn work: a ready command
  at the head of the queue blocks turn work behind it;
* **turn work** (:class:`AgentFrameTask`, :class:`ProcessWake`) becomes turns or is fed
  to running turns at checkpoints.

Batches are ordered by ``enqueue_seq``. A batch is *ready* when ``available_at_ms`` is
not in the future (store clock) and it is not under a live claim.

* ``delivery``: ``earliest_safe_boundary`` work may be taken at a running turn's
  checkpoint; ``after_current_turn_commit`` work waits until the session is idle.
* ``slot``: an ``exclusive`` batch is claimed alone; a ``join`` batch at the head is
  claimed together with the *consecutive* following ``join`` batches of the same
  delivery and the same (non-``None``) ``merge_key``.

``source_key`` dedupes: enqueueing a key again returns the existing batch (terminal
batches stay as tombstones until ``vacuum()``). Claims are fenced by the lease
generation (see :mod:`lash_core.store.claims`); a claim is completed in the turn commit
(``TurnCommit.completed_work_claims``), and new work can be enqueued in the same commit
(``TurnCommit.enqueue_work``, an outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

from attrs import field, frozen

from lash_core.converter import register_tagged_union
from lash_core.store.claims import ClaimInfo, ClaimRef
from lash_core.store.leases import LeaseFence

__all__ = [
    "DEFAULT_WORK_BATCH_LIMIT",
    "AgentFrameTask",
    "DeliveryPolicy",
    "ProcessWake",
    "QueuedWorkBatch",
    "QueuedWorkDraft",
    "QueuedWorkStore",
    "RefreshToolCatalog",
    "ResetSession",
    "SessionCommand",
    "SlotPolicy",
    "TurnWork",
    "WorkBoundary",
    "WorkClaim",
    "WorkClass",
    "WorkItem",
    "WorkPayload",
    "WorkState",
    "work_class",
]

DEFAULT_WORK_BATCH_LIMIT = 16


@frozen
class RefreshToolCatalog:
    """Session command: rebuild the session's tool catalog."""

    TAG: ClassVar[str] = "refresh_tool_catalog"
    reason: str = ""


@frozen
class ResetSession:
    """Session command: reset the session's context."""

    TAG: ClassVar[str] = "reset_session"
    reason: str = ""


@frozen
class AgentFrameTask:
    """Turn work: run ``task`` in agent frame ``frame_id`` (the frame handoff outbox)."""

    TAG: ClassVar[str] = "agent_frame_task"
    frame_id: str
    task: str
    protocol_turn_options: dict[str, Any] | None = None


@frozen
class ProcessWake:
    """Turn work: a background process produced an event the session should see."""

    TAG: ClassVar[str] = "process_wake"
    process_id: str
    wake_id: str
    body: dict[str, Any] = field(factory=dict)


SessionCommand = RefreshToolCatalog | ResetSession
TurnWork = AgentFrameTask | ProcessWake
WorkPayload = RefreshToolCatalog | ResetSession | AgentFrameTask | ProcessWake
register_tagged_union(WorkPayload)


class WorkClass(Enum):
    """Whether a batch holds session commands or turn work."""

    SESSION_COMMAND = "session_command"
    TURN_WORK = "turn_work"


def work_class(payloads: Sequence[WorkPayload]) -> WorkClass:
    """The class of a batch's payloads; ``ValueError`` for an empty or mixed batch."""
    classes = {
        WorkClass.SESSION_COMMAND if isinstance(p, RefreshToolCatalog | ResetSession) else WorkClass.TURN_WORK
        for p in payloads
    }
    if len(classes) != 1:
        raise ValueError(
            "a queued work batch needs at least one payload, all session commands or all turn work; "
            "enqueue commands and turn work as separate batches"
        )
    return classes.pop()


class DeliveryPolicy(Enum):
    """When turn work may be delivered."""

    EARLIEST_SAFE_BOUNDARY = "earliest_safe_boundary"
    AFTER_CURRENT_TURN_COMMIT = "after_current_turn_commit"


class SlotPolicy(Enum):
    """Whether a batch may be claimed together with its neighbours."""

    JOIN = "join"
    EXCLUSIVE = "exclusive"


class WorkBoundary(Enum):
    """Where the claimant is: between turns (``idle``: any delivery) or at a running turn's
    checkpoint (``active_turn_checkpoint``: only ``earliest_safe_boundary`` work)."""

    IDLE = "idle"
    ACTIVE_TURN_CHECKPOINT = "active_turn_checkpoint"


class WorkState(Enum):
    """A batch is pending until completed (in a commit) or cancelled."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@frozen
class QueuedWorkDraft:
    """A batch to enqueue (``available_at_ms=0``: ready at once)."""

    session_id: str
    payloads: tuple[WorkPayload, ...]
    source_key: str | None = None
    delivery: DeliveryPolicy = DeliveryPolicy.EARLIEST_SAFE_BOUNDARY
    slot: SlotPolicy = SlotPolicy.JOIN
    merge_key: str | None = None
    available_at_ms: int = 0


@frozen
class WorkItem:
    """One payload of a batch."""

    item_id: str
    payload: WorkPayload


@frozen
class QueuedWorkBatch:
    """A batch as the store holds it."""

    batch_id: str
    session_id: str
    enqueue_seq: int
    work_class: WorkClass
    items: tuple[WorkItem, ...]
    delivery: DeliveryPolicy
    slot: SlotPolicy
    available_at_ms: int
    enqueued_at_ms: int
    merge_key: str | None = None
    source_key: str | None = None
    state: WorkState = WorkState.PENDING
    claim: ClaimInfo | None = None


@frozen
class WorkClaim:
    """Batches one claimant took, in queue order."""

    session_id: str
    claim_id: str
    claim_token: str
    lease_generation: int
    batches: tuple[QueuedWorkBatch, ...]

    @property
    def ref(self) -> ClaimRef:
        """The reference to complete or abandon this claim with."""
        return ClaimRef(
            self.session_id, self.claim_id, self.claim_token, tuple(b.batch_id for b in self.batches)
        )


@runtime_checkable
class QueuedWorkStore(Protocol):
    """The queued work facet of a store (see the module docs).

    Every claim method raises :class:`~lash_core.errors.LeaseLost` when ``fence`` is not
    the session's live lease.
    """

    async def enqueue_work(self, draft: QueuedWorkDraft) -> QueuedWorkBatch:
        """Record a batch (or return the existing batch with the same source key)."""
        ...

    async def list_work(self, session_id: str, *, include_claimed: bool = True) -> Sequence[QueuedWorkBatch]:
        """The session's pending batches in queue order (with ``include_claimed=False``, those
        under a live claim are left out)."""
        ...

    async def claim_leading_command(self, fence: LeaseFence) -> WorkClaim | None:
        """Claim the earliest ready claimable batch if it is a session command; else ``None``."""
        ...

    async def claim_ready_work(
        self,
        fence: LeaseFence,
        boundary: WorkBoundary,
        *,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> WorkClaim | None:
        """Claim turn work at the head of the queue (see the module docs for join/exclusive);
        ``None`` when the head is a command or nothing is ready."""
        ...

    async def claim_work_batches(self, fence: LeaseFence, batch_ids: Sequence[str]) -> WorkClaim | None:
        """Claim exactly the named batches that are pending, ready and claimable (bypassing
        earlier work); ``None`` when none is."""
        ...

    async def abandon_work_claim(self, ref: ClaimRef) -> int:
        """Give the claimed batches back; returns how many were released."""
        ...

    async def cancel_work(self, session_id: str, batch_id: str) -> QueuedWorkBatch | None:
        """Cancel a pending batch that is not under a live claim; return it (state
        ``cancelled``), or ``None`` when it is missing, terminal or live-claimed."""
        ...
