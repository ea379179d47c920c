"""What a running turn claims at a checkpoint, in one transaction.

At each checkpoint a turn run under the session lease takes what arrived for it: its
*active* pending inputs that the checkpoint admits (see
:meth:`~lash_core.store.inputs.TurnInputStore.claim_active_inputs`) and the queued *turn
work* at the head of the queue whose delivery is the earliest safe boundary (see
:meth:`~lash_core.store.queued_work.QueuedWorkStore.claim_ready_work` with
``WorkBoundary.ACTIVE_TURN_CHECKPOINT``). :meth:`CheckpointClaimStore.claim_at_checkpoint`
does both in one transaction (and, when nothing is there, in one cheap read).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from attrs import frozen

from lash_core.store.inputs import DEFAULT_CLAIM_LIMIT, InputBoundary, InputClaim
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import DEFAULT_WORK_BATCH_LIMIT, WorkClaim

__all__ = ["CheckpointClaimStore", "CheckpointClaims"]


@frozen
class CheckpointClaims:
    """What one checkpoint claimed: active inputs and turn work (each ``None`` when none)."""

    inputs: InputClaim | None = None
    work: WorkClaim | None = None


@runtime_checkable
class CheckpointClaimStore(Protocol):
    """The checkpoint facet of a store."""

    async def claim_at_checkpoint(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> CheckpointClaims:
        """In one transaction: claim turn ``turn_id``'s active inputs that ``checkpoint``
        admits (they become ``accepted``) and the ready earliest-safe-boundary turn work at the
        head of the queue; exactly what :meth:`claim_active_inputs` and :meth:`claim_ready_work`
        would claim one after the other. Raises :class:`~lash_core.errors.LeaseLost` when
        ``fence`` is not the live lease."""
        ...
