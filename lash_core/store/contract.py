"""The session store contract.

One store object serves many sessions. :class:`SessionStore` is the whole contract, the
union of its facets (each a ``Protocol`` of its own module):

* :class:`SessionCommitStore` (here): load a session, commit a turn;
* :class:`~lash_core.store.leases.SessionLeaseStore`: the session execution lease;
* :class:`~lash_core.store.inputs.TurnInputStore`: pending turn input;
* :class:`~lash_core.store.queued_work.QueuedWorkStore`: queued background work;
* :class:`~lash_core.store.checkpoint.CheckpointClaimStore`: what a running turn claims at a
  checkpoint (active input and turn work, in one transaction);
* :class:`~lash_core.store.maintenance.AttachmentStore` and
  :class:`~lash_core.store.maintenance.StoreMaintenance`: attachments, vacuum, GC.

A store declares its ``durability`` and decides time (lease expiry, readiness of work)
by its clock: an injected :class:`~lash_core.clock.Clock`, or the database's own.
The conformance suite :mod:`lash_core.testing.conformance.store` is the executable form
of this contract.

A session keeps a head (revision, agent frames, usage ledger, plugin state) and an
append-only history of messages, each tagged with its agent frame. A turn is committed
once, atomically, by :meth:`SessionCommitStore.commit`; one transaction, and any failure
leaves nothing behind. In order:

1. ``commit_hash`` makes it idempotent: when the turn id was committed before, the same
   hash is answered with the recorded result (``replayed=True``; a requested lease
   release is applied) without needing a live lease; another hash raises
   :class:`~lash_core.errors.TurnCommitConflict`;
2. ``lease``, when given, must be the session's live lease by the store clock, else
   :class:`~lash_core.errors.LeaseLost`;
3. ``expected_head_revision`` is compared and set: a stale writer gets
   :class:`~lash_core.errors.HeadConflict`;
4. every completed input and work claim must still own all its rows, else
   :class:`~lash_core.errors.ClaimSuperseded`;
5. the turn's new history nodes are appended (cost does not grow with the history),
   the head is rewritten (revision + 1);
6. completed inputs become ``completed``, completed work batches ``completed``; with
   ``defer_active_inputs_of_turn`` (the commit ends a logical turn), every active input of
   the session not under a live claim (``pending_active``, or ``accepted`` under a claim
   that is no longer live), whichever turn it names, becomes a ``deferred_next_turn`` input
   with ``NextTurn`` ingress: the session lease lets one turn run at a time, so these are
   the ending turn's missed inputs and orphans of turns that never committed (lost their
   lease, failed in a hook, crashed), which would otherwise wait for a checkpoint that may
   never come;
7. ``attachment_ids`` are marked committed; ``enqueue_work`` batches are enqueued
   (an outbox, same session only);
8. the result is recorded under the turn id; the lease is released if
   ``release_lease`` (which needs ``lease``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from lash_core.effects import DurabilityTier
from lash_core.model import (
    AgentFrameRecord,
    Message,
    TokenLedger,
    TokenLedgerEntry,
    TokenUsage,
    TurnOutcome,
)
from lash_core.store.checkpoint import CheckpointClaimStore
from lash_core.store.claims import ClaimRef
from lash_core.store.inputs import TurnInputStore
from lash_core.store.leases import LeaseFence, SessionLeaseStore
from lash_core.store.maintenance import AttachmentStore, StoreMaintenance
from lash_core.store.queued_work import QueuedWorkBatch, QueuedWorkDraft, QueuedWorkStore

__all__ = [
    "STORE_SCHEMA_VERSION",
    "CommitResult",
    "HistoryNode",
    "SessionCommitStore",
    "SessionHead",
    "SessionRecord",
    "SessionStore",
    "SessionSummary",
    "TurnCommit",
]

STORE_SCHEMA_VERSION = 1


@frozen
class HistoryNode:
    """One message of the history, with the agent frame and turn it belongs to."""

    frame_id: str
    turn_id: str
    message: Message


@frozen
class SessionHead:
    """The small, rewritten part of a session."""

    session_id: str
    head_revision: int
    current_frame_id: str
    frames: tuple[AgentFrameRecord, ...] = ()
    ledger: TokenLedger = field(factory=TokenLedger)
    plugin_state: dict[str, Any] = field(factory=dict)
    turn_count: int = 0
    node_count: int = 0
    last_prompt_usage: TokenUsage | None = None
    created_at_ms: int = 0
    updated_at_ms: int = 0
    schema_version: int = STORE_SCHEMA_VERSION


@frozen
class SessionRecord:
    """A loaded session: its head and its history."""

    head: SessionHead
    nodes: tuple[HistoryNode, ...] = ()


@frozen
class SessionSummary:
    """A line of a session listing."""

    session_id: str
    head_revision: int
    turn_count: int
    updated_at_ms: int


@frozen
class TurnCommit:
    """Everything one turn writes, in one atomic commit (see the module docs for the order).

    The durable-runtime parts are all defaulted, so a commit without them is the plain
    session commit: ``lease`` (the fence to verify; ``None`` skips the check, for sessions run
    without a lease), ``release_lease`` (release it after the commit; needs ``lease``),
    ``completed_input_claims`` / ``completed_work_claims`` (claims this turn consumed),
    ``defer_active_inputs_of_turn``, ``enqueue_work`` (batches to enqueue in the same
    transaction) and ``counts_as_turn`` (``False`` for the commit that applies a session
    command: it changes the head but records no turn, so ``turn_count`` stays).

    ``defer_active_inputs_of_turn`` is set (to the logical turn id) on the commit that ends a
    logical turn, and ``None`` on commits the logical turn goes on after (an agent frame
    switch). When set, the commit defers *every* active input of the session that is not
    under a live claim, not only those naming this turn (see step 6 of the module docs); the
    turn id is kept for diagnostics.
    """

    session_id: str
    turn_id: str
    commit_hash: str
    expected_head_revision: int
    nodes: tuple[HistoryNode, ...]
    current_frame_id: str
    frames: tuple[AgentFrameRecord, ...]
    outcome: TurnOutcome
    usage_deltas: tuple[TokenLedgerEntry, ...] = ()
    plugin_state: dict[str, Any] = field(factory=dict)
    last_prompt_usage: TokenUsage | None = None
    attachment_ids: tuple[str, ...] = ()
    committed_at_ms: int = 0
    schema_version: int = STORE_SCHEMA_VERSION
    lease: LeaseFence | None = None
    release_lease: bool = False
    completed_input_claims: tuple[ClaimRef, ...] = ()
    completed_work_claims: tuple[ClaimRef, ...] = ()
    defer_active_inputs_of_turn: str | None = None
    enqueue_work: tuple[QueuedWorkDraft, ...] = ()
    counts_as_turn: bool = True

    def __attrs_post_init__(self) -> None:
        if self.release_lease and self.lease is None:
            raise ValueError("TurnCommit(release_lease=True) needs the lease fence in `lease`")
        for ref in (*self.completed_input_claims, *self.completed_work_claims):
            if ref.session_id != self.session_id:
                raise ValueError(
                    f"claim {ref.claim_id!r} belongs to session {ref.session_id!r}, not {self.session_id!r}"
                )
        for draft in self.enqueue_work:
            if draft.session_id != self.session_id:
                raise ValueError(
                    f"a turn commit of session {self.session_id!r} can only enqueue work for that session, "
                    f"not for {draft.session_id!r}"
                )
        if self.lease is not None and self.lease.session_id != self.session_id:
            raise ValueError(
                f"the lease fence is for session {self.lease.session_id!r}, not {self.session_id!r}"
            )


@frozen
class CommitResult:
    """The head revision after the commit; ``replayed`` when the turn had been committed before;
    ``enqueued_work`` the batches the commit's outbox enqueued (existing ones for reused keys)."""

    head_revision: int
    replayed: bool = False
    enqueued_work: tuple[QueuedWorkBatch, ...] = ()


@runtime_checkable
class SessionCommitStore(Protocol):
    """Loads and commits sessions. All methods are safe to call concurrently from one event loop."""

    durability: DurabilityTier

    async def open(self) -> None:
        """Acquire resources (connections, files); called once by the runtime."""
        ...

    async def close(self) -> None:
        """Release resources; called once when the runtime closes."""
        ...

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history, or ``None`` when it does not exist."""
        ...

    async def load_head(self, session_id: str) -> SessionHead | None:
        """Only the session's head (cheap), or ``None``."""
        ...

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn atomically (see the module docs for the rules)."""
        ...

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""
        ...

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session with its inputs, work, lease and attachments; ``False`` when it did
        not exist."""
        ...


@runtime_checkable
class SessionStore(
    SessionCommitStore,
    SessionLeaseStore,
    TurnInputStore,
    QueuedWorkStore,
    CheckpointClaimStore,
    AttachmentStore,
    StoreMaintenance,
    Protocol,
):
    """The whole store contract: every facet, sharing one transactional domain.

    ``open()`` acquires resources; ``close()`` releases them, and a store opened again
    over the same data (the same file, database or memory data) finds everything it
    held. A store that holds connections raises :class:`~lash_core.errors.StoreClosed`
    when used while closed (the memory store stays readable).
    """

    durability: DurabilityTier
