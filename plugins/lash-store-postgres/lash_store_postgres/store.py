"""The PostgreSQL session store: the whole store contract over one shared schema.

Many workers (processes, machines) share one database: the session execution lease,
decided by the **database clock**, keeps one writer per session; input and work claims
are fenced by the lease generation; every call is one transaction. See the package
README for the schema, the locking and multi-worker use.
"""

from __future__ import annotations

from collections.abc import Sequence

from lash_core.effects import DurabilityTier
from lash_core.model import AttachmentRef
from lash_core.store.checkpoint import CheckpointClaims
from lash_core.store.claims import ClaimRef
from lash_core.store.contract import CommitResult, SessionHead, SessionRecord, SessionSummary, TurnCommit
from lash_core.store.inputs import (
    DEFAULT_CLAIM_LIMIT,
    AnchorNotFound,
    CancelResult,
    CancelTarget,
    InputBoundary,
    InputClaim,
    PendingInput,
    PendingInputDraft,
)
from lash_core.store.leases import DEFAULT_LEASE_TTL_MS, LeaseClaim, LeaseFence, LeaseOwner, SessionLease
from lash_core.store.maintenance import DEFAULT_ATTACHMENT_GRACE_MS, GcReport, VacuumReport
from lash_core.store.queued_work import (
    DEFAULT_WORK_BATCH_LIMIT,
    QueuedWorkBatch,
    QueuedWorkDraft,
    WorkBoundary,
    WorkClaim,
    work_class,
)
from lash_store_postgres import _commit, _inputs, _leases, _sessions, _work
from lash_store_postgres._db import Database, Tx
from lash_store_postgres.settings import PostgresSettings, resolve_dsn

__all__ = ["PostgresStore"]


class PostgresStore:
    """Sessions in PostgreSQL, shared by any number of workers (durable).

    ``PostgresStore(PostgresSettings(dsn=...))``; ``open()`` connects the pool and checks
    (or creates) the schema, ``close()`` closes the pool; a closed store raises
    :class:`~lash_core.errors.StoreClosed`. It runs on asyncio and trio: queries run on
    worker threads (see :mod:`lash_store_postgres._db`).
    """

    durability = DurabilityTier.DURABLE

    def __init__(self, settings: PostgresSettings | None = None) -> None:
        self.settings = settings or PostgresSettings()
        self._db = Database(resolve_dsn(self.settings.dsn), self.settings)

    @property
    def database(self) -> Database:
        """The pool and transaction runner (shared with the ``postgres-journal`` effect host)."""
        return self._db

    async def open(self) -> None:
        """Connect the pool and check the schema version (creating the tables when the schema
        has none and ``create_schema`` is set)."""
        await self._db.open()

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        await self._db.close()

    # -- sessions -----------------------------------------------------------------

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history (one snapshot), or ``None``."""
        return await self._db.run("loading a session", _sessions.load_session, session_id)

    async def load_head(self, session_id: str) -> SessionHead | None:
        """The session's head, or ``None``."""
        return await self._db.run("loading a session head", _sessions.load_head, session_id)

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn atomically (see :mod:`lash_core.store.contract` for the order)."""
        return await self._db.run("a turn commit", _commit.commit, commit)

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""
        return await self._db.run("listing sessions", _sessions.list_sessions)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session with its history, inputs, work and attachments; its lease is released."""
        return await self._db.run("deleting a session", _sessions.delete_session, session_id)

    # -- lease ----------------------------------------------------------------------

    async def try_claim_lease(
        self, session_id: str, owner: LeaseOwner, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS
    ) -> LeaseClaim:
        """Acquire the lease when free or expired (database clock), re-enter our own, or answer busy."""
        _leases.check_ttl(ttl_ms)
        return await self._db.run("claiming a session lease", _leases.try_claim, session_id, owner, ttl_ms)

    async def reclaim_lease(
        self,
        session_id: str,
        owner: LeaseOwner,
        observed: LeaseFence,
        *,
        ttl_ms: int = DEFAULT_LEASE_TTL_MS,
    ) -> LeaseClaim:
        """Take the lease over from the observed holder when it is proven dead (or it is free)."""
        _leases.check_ttl(ttl_ms)
        return await self._db.run(
            "reclaiming a session lease", _leases.reclaim, session_id, owner, observed, ttl_ms
        )

    async def renew_lease(self, fence: LeaseFence, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS) -> SessionLease:
        """Extend the live lease to now + ttl (database clock), keeping its tokens."""
        _leases.check_ttl(ttl_ms)
        return await self._db.run("renewing a session lease", _leases.renew, fence, ttl_ms)

    async def release_lease(self, fence: LeaseFence) -> bool:
        """Release the lease if ``fence`` still holds it."""
        return await self._db.run("releasing a session lease", _leases.release, fence)

    async def load_lease(self, session_id: str) -> SessionLease | None:
        """The live lease of the session, or ``None``."""
        return await self._db.run("loading a session lease", _leases.load_live, session_id)

    async def list_live_leases(self) -> Sequence[SessionLease]:
        """Every live lease by the database clock, sorted by session id."""
        return await self._db.run("listing live session leases", _leases.list_live)

    # -- pending turn input -----------------------------------------------------------

    async def enqueue_input(self, draft: PendingInputDraft) -> PendingInput:
        """Record the input, or return the row with the same source key / id and content."""
        return await self._db.run("enqueueing a turn input", _inputs.enqueue, draft)

    async def get_input(self, session_id: str, input_id: str) -> PendingInput | None:
        """One input by id, in any state."""
        return await self._db.run("reading a turn input", _inputs.get, session_id, input_id)

    async def list_pending_inputs(self, session_id: str) -> Sequence[PendingInput]:
        """Inputs neither terminal nor under a live claim, oldest first."""
        return await self._db.run("listing pending turn inputs", _inputs.list_pending, session_id)

    async def cancel_inputs(
        self, session_id: str, targets: Sequence[CancelTarget]
    ) -> tuple[CancelResult, ...]:
        """Cancel each pending target that is not under a live claim, atomically."""
        return await self._db.run("cancelling turn inputs", _inputs.cancel, session_id, list(targets))

    async def cancel_input_suffix(
        self, session_id: str, anchor: CancelTarget
    ) -> tuple[CancelResult, ...] | AnchorNotFound:
        """Cancel the anchor and every later input, atomically."""
        return await self._db.run("cancelling turn inputs", _inputs.cancel_suffix, session_id, anchor)

    async def claim_next_turn_inputs(
        self, fence: LeaseFence, *, max_inputs: int = DEFAULT_CLAIM_LIMIT
    ) -> InputClaim | None:
        """Claim deferred next-turn inputs, oldest first (``SKIP LOCKED``)."""
        _inputs.check_limit("max_inputs", max_inputs)
        return await self._db.run("claiming turn inputs", _inputs.claim_next_turn, fence, max_inputs)

    async def claim_active_inputs(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
    ) -> InputClaim | None:
        """Claim the turn's active inputs the checkpoint admits; they become ``accepted``."""
        _inputs.check_limit("max_inputs", max_inputs)
        return await self._db.run(
            "claiming turn inputs", _inputs.claim_active, fence, turn_id, checkpoint, max_inputs
        )

    async def abandon_input_claim(self, ref: ClaimRef) -> int:
        """Give the claimed rows back; returns how many were released."""
        return await self._db.run("abandoning an input claim", _inputs.abandon, ref)

    # -- queued work ------------------------------------------------------------------

    async def enqueue_work(self, draft: QueuedWorkDraft) -> QueuedWorkBatch:
        """Record a batch, or return the batch with the same source key."""
        work_class(draft.payloads)
        return await self._db.run("enqueueing queued work", _work.insert, draft)

    async def list_work(self, session_id: str, *, include_claimed: bool = True) -> Sequence[QueuedWorkBatch]:
        """Pending batches in queue order."""
        return await self._db.run("listing queued work", _work.list_pending, session_id, include_claimed)

    async def claim_leading_command(self, fence: LeaseFence) -> WorkClaim | None:
        """Claim the head batch if it is a session command."""
        return await self._db.run("claiming a session command", _work.claim_leading_command, fence)

    async def claim_at_checkpoint(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> CheckpointClaims:
        """Claim the turn's admitted active inputs and the earliest-boundary turn work at the
        head of the queue in one transaction."""
        _inputs.check_limit("max_inputs", max_inputs)
        _inputs.check_limit("max_batches", max_batches)
        return await self._db.run(
            "claiming at a checkpoint",
            _claim_at_checkpoint,
            fence,
            turn_id,
            checkpoint,
            max_inputs,
            max_batches,
        )

    async def claim_ready_work(
        self,
        fence: LeaseFence,
        boundary: WorkBoundary,
        *,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> WorkClaim | None:
        """Claim turn work at the head of the queue (join/exclusive grouping)."""
        _inputs.check_limit("max_batches", max_batches)
        return await self._db.run("claiming queued work", _work.claim_ready, fence, boundary, max_batches)

    async def claim_work_batches(self, fence: LeaseFence, batch_ids: Sequence[str]) -> WorkClaim | None:
        """Claim exactly the named batches that are pending, ready and claimable."""
        return await self._db.run("claiming queued work", _work.claim_batches, fence, list(batch_ids))

    async def abandon_work_claim(self, ref: ClaimRef) -> int:
        """Give the claimed batches back; returns how many were released."""
        return await self._db.run("abandoning a work claim", _work.abandon, ref)

    async def cancel_work(self, session_id: str, batch_id: str) -> QueuedWorkBatch | None:
        """Cancel a pending batch that is not under a live claim."""
        return await self._db.run("cancelling queued work", _work.cancel, session_id, batch_id)

    # -- attachments and maintenance ----------------------------------------------------

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Store bytes content-addressed for the session (uncommitted until a commit names them)."""
        return await self._db.run(
            "storing an attachment", _sessions.put_attachment, session_id, bytes(data), media_type, name
        )

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds; ``KeyError`` otherwise."""
        return await self._db.run(
            "reading an attachment", _sessions.get_attachment, session_id, attachment_id
        )

    async def vacuum(self) -> VacuumReport:
        """Delete terminal inputs and work batches."""
        return await self._db.run("vacuuming", _sessions.vacuum)

    async def gc_attachments(self, *, grace_ms: int = DEFAULT_ATTACHMENT_GRACE_MS) -> GcReport:
        """Delete uncommitted attachments older than the grace period (database clock)."""
        return await self._db.run("collecting attachments", _sessions.gc_attachments, grace_ms)

    async def list_sessions_with_pending_work(self) -> Sequence[str]:
        """Sessions with a deferred input or ready work not under a live claim."""
        return await self._db.run("scanning for pending work", _sessions.sessions_with_pending_work)


def _claim_at_checkpoint(
    tx: Tx, fence: LeaseFence, turn_id: str, checkpoint: InputBoundary, max_inputs: int, max_batches: int
) -> CheckpointClaims:
    """Both claims of a checkpoint in the transaction ``tx`` (each of them would end the
    transaction with its last statement when run alone; composed, the commit follows both)."""
    tx.composing = True
    inputs = _inputs.claim_active(tx, fence, turn_id, checkpoint, max_inputs)
    work = _work.claim_ready(tx, fence, WorkBoundary.ACTIVE_TURN_CHECKPOINT, max_batches)
    return CheckpointClaims(inputs, work)
