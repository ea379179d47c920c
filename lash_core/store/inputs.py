"""Pending turn input: the store's admission evidence for input submitted to a session.

A host enqueues a :class:`PendingInputDraft` either for the **next turn** (state
``deferred_next_turn``) or into a running turn (**active turn** ingress, state
``pending_active``) to be accepted at one of the turn's checkpoints:

::

    pending_active ──claim at a checkpoint──▶ accepted ──turn commit──▶ completed
          │  └──a logical turn ended without it (defer)──▶ deferred_next_turn ──claim, commit──▶ completed
          └────────────── cancel (while not under a live claim) ──────────────▶ cancelled

Two rules keep active input from waiting for a turn that will never claim it:

* enqueued for a turn the session already committed (the store holds that turn id's
  commit stamp), it is stored ``deferred_next_turn`` with ``NextTurn`` ingress at once;
* the commit that ends a logical turn (``TurnCommit.defer_active_inputs_of_turn``) defers
  every active input of the session not under a live claim (``pending_active``, or
  ``accepted`` under a dead claim), whichever turn it names: under the session lease one
  turn runs at a time, so besides the ending turn's missed inputs these are orphans of
  turns that never committed (lost their lease, failed in a hook, crashed). An orphan
  stays ``pending_active`` (listed, cancellable; a re-run of its turn id still claims it)
  until the session's next logical turn ends.

A deferred input that is claimed keeps its state (its claim columns are set). Terminal
rows (``completed``, ``cancelled``) stay as tombstones, so a retried enqueue with the
same ``source_key`` still answers with them, until ``vacuum()`` removes them.

Idempotency: the same ``(session, source_key)`` with the same ingress and input *as
first submitted* returns the existing row whatever its state (a deferred active input
still matches a retry naming its original active-turn ingress: compare
:func:`~lash_core.store.codec.input_content_digest` recorded at enqueue time); changed
content raises :class:`~lash_core.errors.SourceKeyConflict`. An explicit ``input_id``
behaves the same.
Claims are fenced by the lease generation (see :mod:`lash_core.store.claims`).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import ClassVar, Protocol, runtime_checkable

from attrs import frozen

from lash_core.converter import register_tagged_union
from lash_core.model import TurnInput
from lash_core.store.claims import ClaimInfo, ClaimRef
from lash_core.store.leases import LeaseFence

__all__ = [
    "DEFAULT_CLAIM_LIMIT",
    "ActiveTurn",
    "AnchorNotFound",
    "ByInputId",
    "BySourceKey",
    "CancelResult",
    "CancelStatus",
    "CancelTarget",
    "InputBoundary",
    "InputClaim",
    "InputIngress",
    "NextTurn",
    "PendingInput",
    "PendingInputDraft",
    "PendingInputState",
    "TurnInputStore",
]

DEFAULT_CLAIM_LIMIT = 32


class InputBoundary(Enum):
    """A checkpoint of a running turn. An active input names the earliest one it may be
    accepted at; ``before_completion`` inputs are accepted only at the final checkpoint."""

    AFTER_WORK = "after_work"
    BEFORE_COMPLETION = "before_completion"

    def admits(self, min_boundary: InputBoundary) -> bool:
        """True when an input with ``min_boundary`` may be accepted at this checkpoint."""
        return self is InputBoundary.BEFORE_COMPLETION or min_boundary is InputBoundary.AFTER_WORK


@frozen
class NextTurn:
    """Run the input as (part of) the session's next turn."""

    TAG: ClassVar[str] = "next_turn"


@frozen
class ActiveTurn:
    """Feed the input into the running turn ``turn_id`` at a checkpoint no earlier than
    ``min_boundary``; if the turn ends without it (or has already committed), it becomes a
    next-turn input."""

    TAG: ClassVar[str] = "active_turn"
    turn_id: str
    min_boundary: InputBoundary = InputBoundary.AFTER_WORK


InputIngress = NextTurn | ActiveTurn
register_tagged_union(InputIngress)


class PendingInputState(Enum):
    """Where a pending input is in its life (see the module docs)."""

    PENDING_ACTIVE = "pending_active"
    ACCEPTED = "accepted"
    DEFERRED_NEXT_TURN = "deferred_next_turn"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for ``completed`` and ``cancelled``."""
        return self in (PendingInputState.COMPLETED, PendingInputState.CANCELLED)


@frozen
class PendingInputDraft:
    """An input to enqueue. ``input_id`` is generated when omitted."""

    session_id: str
    input: TurnInput
    ingress: InputIngress = NextTurn()
    source_key: str | None = None
    input_id: str | None = None


@frozen
class PendingInput:
    """A pending input as the store holds it. ``enqueue_seq`` orders a session's inputs
    (oldest first); ``claim`` is set while a claim (live or not) sits on the row."""

    input_id: str
    session_id: str
    enqueue_seq: int
    ingress: InputIngress
    state: PendingInputState
    enqueued_at_ms: int
    input: TurnInput
    source_key: str | None = None
    claim: ClaimInfo | None = None


@frozen
class InputClaim:
    """Inputs one claimant took, oldest first. Complete it in the turn commit
    (``TurnCommit.completed_input_claims``) or give it back with ``abandon_input_claim``."""

    session_id: str
    claim_id: str
    claim_token: str
    lease_generation: int
    inputs: tuple[PendingInput, ...]

    @property
    def ref(self) -> ClaimRef:
        """The reference to complete or abandon this claim with."""
        return ClaimRef(
            self.session_id, self.claim_id, self.claim_token, tuple(i.input_id for i in self.inputs)
        )


@frozen
class ByInputId:
    """Select a pending input by its id."""

    input_id: str


@frozen
class BySourceKey:
    """Select a pending input by its source key."""

    source_key: str


CancelTarget = ByInputId | BySourceKey


class CancelStatus(Enum):
    """What cancelling one target did."""

    CANCELLED = "cancelled"
    ALREADY_CLAIMED = "already_claimed"
    ALREADY_COMPLETED = "already_completed"
    ALREADY_CANCELLED = "already_cancelled"
    NOT_FOUND = "not_found"


@frozen
class CancelResult:
    """The outcome for one cancel target. ``input`` is the row after the call (``None`` when
    not found); for ``already_claimed`` its ``claim`` holds the diagnostics (claimant,
    lease generation, claim fencing token) and its ``state`` the row's state."""

    target: CancelTarget
    status: CancelStatus
    input: PendingInput | None = None


@frozen
class AnchorNotFound:
    """A suffix cancel whose anchor is not one of the session's inputs: nothing changed."""

    anchor: CancelTarget


@runtime_checkable
class TurnInputStore(Protocol):
    """The pending turn input facet of a store (see the module docs)."""

    async def enqueue_input(self, draft: PendingInputDraft) -> PendingInput:
        """Record the input (or return the existing row for the same source key / input id and
        the same content); raise :class:`~lash_core.errors.SourceKeyConflict` on changed content.
        Active-turn input for a turn the session already committed is recorded as a deferred
        next-turn input, atomically with the check (a racing commit defers it or is seen)."""
        ...

    async def get_input(self, session_id: str, input_id: str) -> PendingInput | None:
        """One input by id, in any state (tombstones included until vacuumed)."""
        ...

    async def list_pending_inputs(self, session_id: str) -> Sequence[PendingInput]:
        """The session's inputs that are neither terminal nor under a live claim, oldest first."""
        ...

    async def cancel_inputs(
        self, session_id: str, targets: Sequence[CancelTarget]
    ) -> tuple[CancelResult, ...]:
        """Cancel each target that is pending and not under a live claim, atomically; one
        result per target, in order."""
        ...

    async def cancel_input_suffix(
        self, session_id: str, anchor: CancelTarget
    ) -> tuple[CancelResult, ...] | AnchorNotFound:
        """Cancel the anchor and every later input (by enqueue order), atomically; a result per
        row (targets are :class:`ByInputId`), or :class:`AnchorNotFound`."""
        ...

    async def claim_next_turn_inputs(
        self, fence: LeaseFence, *, max_inputs: int = DEFAULT_CLAIM_LIMIT
    ) -> InputClaim | None:
        """Claim up to ``max_inputs`` deferred next-turn inputs of ``fence``'s session, oldest
        first, for ``fence``'s owner; ``None`` when none is claimable. When the oldest one is
        still marked with a claim that is no longer live (its claimant died or lost the lease),
        only the inputs of that dead claim are taken, so the turn re-run for them sees exactly
        the input it saw before (a journaling effect host can then replay its effects). Raises
        :class:`~lash_core.errors.LeaseLost` when ``fence`` is not the live lease."""
        ...

    async def claim_active_inputs(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
    ) -> InputClaim | None:
        """At a checkpoint of turn ``turn_id``: claim its active inputs that the checkpoint
        admits (state becomes ``accepted``), oldest first; ``None`` when there are none.
        Raises :class:`~lash_core.errors.LeaseLost` when ``fence`` is not the live lease."""
        ...

    async def abandon_input_claim(self, ref: ClaimRef) -> int:
        """Give the claimed rows back (``accepted`` returns to ``pending_active``); rows that no
        longer carry this claim are left alone. Returns how many rows were released."""
        ...
