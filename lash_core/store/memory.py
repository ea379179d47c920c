"""The in-memory store: the kernel's reference implementation of the whole store contract.

Inline durability: everything is lost with the process. No method awaits between
reading and writing, so each call (a commit included) is atomic on its event loop, and
a commit validates everything before it changes anything.

Time comes from the injected clock (``MemoryStore(clock=FakeClock())`` in tests). Several
store objects over one :class:`MemoryStoreData` behave like handles on one database:
``MemoryStore(data=store.data)`` is how the conformance suite "reopens" a memory store.
A closed memory store stays readable (its data lives on in the object).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from attrs import evolve

from lash_core.clock import Clock
from lash_core.effects import DurabilityTier
from lash_core.errors import ClaimSuperseded, HeadConflict, TurnCommitConflict
from lash_core.model import AttachmentRef, initial_frame_id
from lash_core.store._memory_data import MemoryStoreData, _AttachmentRow, _LeaseRow, _Session
from lash_core.store._memory_queues import _ACTIVE, _InputsMixin, _owns, _WorkMixin
from lash_core.store.checkpoint import CheckpointClaims
from lash_core.store.contract import (
    CommitResult,
    SessionHead,
    SessionRecord,
    SessionSummary,
    TurnCommit,
)
from lash_core.store.inputs import DEFAULT_CLAIM_LIMIT, InputBoundary, NextTurn, PendingInputState
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
from lash_core.store.maintenance import DEFAULT_ATTACHMENT_GRACE_MS, GcReport, VacuumReport
from lash_core.store.queued_work import (
    DEFAULT_WORK_BATCH_LIMIT,
    QueuedWorkBatch,
    WorkBoundary,
    WorkState,
    work_class,
)

__all__ = ["MemoryStore", "MemoryStoreData"]


def _check_ttl(ttl_ms: int) -> None:
    if ttl_ms < 1:
        raise ValueError(f"a lease ttl_ms must be at least 1, got {ttl_ms}")


class MemoryStore(_InputsMixin, _WorkMixin):
    """Sessions in process memory. Useful for tests, benchmarks and throwaway agents."""

    durability = DurabilityTier.INLINE

    def __init__(self, clock: Clock | None = None, *, data: MemoryStoreData | None = None) -> None:
        super().__init__(clock, data=data)

    @property
    def data(self) -> MemoryStoreData:
        """The data this store object works on (share it to open another handle)."""
        return self._data

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close; the data stays with the object."""

    # -- sessions -----------------------------------------------------------------

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history, or ``None``."""
        session = self._data.sessions.get(session_id)
        if session is None:
            return None
        return SessionRecord(session.head, tuple(session.nodes))

    async def load_head(self, session_id: str) -> SessionHead | None:
        """The session's head, or ``None``."""
        session = self._data.sessions.get(session_id)
        return session.head if session else None

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""
        heads = sorted(
            (s.head for s in self._data.sessions.values()), key=lambda h: h.updated_at_ms, reverse=True
        )
        return [SessionSummary(h.session_id, h.head_revision, h.turn_count, h.updated_at_ms) for h in heads]

    async def delete_session(self, session_id: str) -> bool:
        """Forget a session with its inputs, work, lease and attachments."""
        data = self._data
        existed = data.sessions.pop(session_id, None) is not None
        existed = data.inputs.pop(session_id, None) is not None or existed
        existed = data.work.pop(session_id, None) is not None or existed
        existed = data.attachments.pop(session_id, None) is not None or existed
        lease_row = data.leases.get(session_id)
        if lease_row is not None:
            lease_row.lease = None  # keep the fencing counter: tokens never repeat for a session id
        self._drop_orphan_blobs()
        return existed

    # -- commit -------------------------------------------------------------------

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn atomically (the order is in :mod:`lash_core.store.contract`)."""
        data = self._data
        session = data.sessions.get(commit.session_id)
        if session is not None:
            recorded = session.commits.get(commit.turn_id)
            if recorded is not None:
                if recorded[0] != commit.commit_hash:
                    raise TurnCommitConflict(
                        f"turn {commit.turn_id!r} of session {commit.session_id!r} was already committed with "
                        "different content; use a new turn id for a new turn"
                    )
                if commit.release_lease and commit.lease is not None:
                    self._release(commit.lease)
                return recorded[1]
        now = self._now()
        if commit.lease is not None:
            self._check_fence(commit.lease, now)
        current = session.head.head_revision if session else 0
        if commit.expected_head_revision != current:
            raise HeadConflict(
                f"session {commit.session_id!r} is at revision {current}, but this turn was built on revision "
                f"{commit.expected_head_revision}; another writer committed first: reopen the session and retry"
            )
        self._check_completions(commit)
        for draft in commit.enqueue_work:
            work_class(draft.payloads)  # refuse a bad batch before anything changes
        if session is None:
            session = _Session(
                SessionHead(
                    session_id=commit.session_id,
                    head_revision=0,
                    current_frame_id=initial_frame_id(commit.session_id),
                    created_at_ms=commit.committed_at_ms,
                )
            )
            data.sessions[commit.session_id] = session
        head = session.head
        session.nodes.extend(commit.nodes)
        session.head = SessionHead(
            session_id=head.session_id,
            head_revision=current + 1,
            current_frame_id=commit.current_frame_id,
            frames=commit.frames,
            ledger=head.ledger.merge(commit.usage_deltas),
            plugin_state=commit.plugin_state,
            turn_count=head.turn_count + commit.counts_as_turn,
            node_count=len(session.nodes),
            last_prompt_usage=commit.last_prompt_usage,
            created_at_ms=head.created_at_ms,
            updated_at_ms=commit.committed_at_ms,
        )
        enqueued = self._apply_queues(commit, now) if _touches_queues(commit) else ()
        if commit.attachment_ids:
            held = data.attachments.get(commit.session_id, {})
            for attachment_id in commit.attachment_ids:
                row = held.get(attachment_id)
                if row is not None:
                    row.committed = True
        result = CommitResult(current + 1, enqueued_work=enqueued)
        session.commits[commit.turn_id] = (commit.commit_hash, CommitResult(current + 1, True, enqueued))
        if commit.release_lease and commit.lease is not None:
            self._release(commit.lease)
        return result

    def _check_completions(self, commit: TurnCommit) -> None:
        data = self._data
        for kind, refs, table in (
            ("input", commit.completed_input_claims, data.inputs.get(commit.session_id, {})),
            ("work", commit.completed_work_claims, data.work.get(commit.session_id, {})),
        ):
            for ref in refs:
                for item_id in ref.item_ids:
                    row = table.get(item_id)
                    if row is None:
                        raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} no longer exists")
                    if not _owns(row.record.claim, row.token, ref):
                        raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} is no longer held by it")

    def _apply_queues(self, commit: TurnCommit, now: int) -> tuple[QueuedWorkBatch, ...]:
        data = self._data
        inputs = data.inputs.get(commit.session_id, {})
        for ref in commit.completed_input_claims:
            for item_id in ref.item_ids:
                row = inputs[item_id]
                row.record = evolve(row.record, state=PendingInputState.COMPLETED, claim=None)
                row.token = None
        work = data.work.get(commit.session_id, {})
        for ref in commit.completed_work_claims:
            for item_id in ref.item_ids:
                wrow = work[item_id]
                wrow.record = evolve(wrow.record, state=WorkState.COMPLETED, claim=None)
                wrow.token = None
        if commit.defer_active_inputs_of_turn is not None:
            # The logical turn ended, and under the session lease no other turn runs: every active
            # input not under a live claim (this turn's missed ones, orphans of turns that never
            # committed) waits for the next turn.
            for row in inputs.values():
                record = row.record
                if record.state in _ACTIVE and not self._claim_live(commit.session_id, record.claim, now):
                    row.record = evolve(
                        record, state=PendingInputState.DEFERRED_NEXT_TURN, ingress=NextTurn(), claim=None
                    )
                    row.token = None
        return tuple(self._enqueue_work(draft, now) for draft in commit.enqueue_work)

    # -- lease --------------------------------------------------------------------

    async def try_claim_lease(
        self, session_id: str, owner: LeaseOwner, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS
    ) -> LeaseClaim:
        """Acquire, re-enter, or answer busy (with the head revision when acquired)."""
        return with_head_revision(self._try_claim(session_id, owner, ttl_ms), self._head_revision(session_id))

    def _head_revision(self, session_id: str) -> int:
        session = self._data.sessions.get(session_id)
        return session.head.head_revision if session else 0

    def _try_claim(self, session_id: str, owner: LeaseOwner, ttl_ms: int) -> LeaseClaim:
        _check_ttl(ttl_ms)
        now = self._now()
        row = self._data.leases.setdefault(session_id, _LeaseRow())
        current = row.lease
        if current is not None and current.is_live(now):
            if current.owner.same_incarnation(owner):
                row.lease = evolve(current, expires_at_ms=now + ttl_ms)
                return LeaseAcquired(row.lease)
            return LeaseBusy(current)
        return LeaseAcquired(self._grant(row, session_id, owner, now, ttl_ms))

    async def reclaim_lease(
        self,
        session_id: str,
        owner: LeaseOwner,
        observed: LeaseFence,
        *,
        ttl_ms: int = DEFAULT_LEASE_TTL_MS,
    ) -> LeaseClaim:
        """Take over from the observed holder when it is proven dead (or the lease is free)."""
        return with_head_revision(
            self._reclaim(session_id, owner, observed, ttl_ms), self._head_revision(session_id)
        )

    def _reclaim(self, session_id: str, owner: LeaseOwner, observed: LeaseFence, ttl_ms: int) -> LeaseClaim:
        _check_ttl(ttl_ms)
        now = self._now()
        row = self._data.leases.setdefault(session_id, _LeaseRow())
        current = row.lease
        if current is None or not current.is_live(now):
            return LeaseAcquired(self._grant(row, session_id, owner, now, ttl_ms))
        if current.owner.same_incarnation(owner):
            row.lease = evolve(current, expires_at_ms=now + ttl_ms)
            return LeaseAcquired(row.lease)
        if current.matches(observed) and holder_proven_dead(current.owner, owner):
            return LeaseAcquired(self._grant(row, session_id, owner, now, ttl_ms))
        return LeaseBusy(current)

    def _grant(
        self, row: _LeaseRow, session_id: str, owner: LeaseOwner, now: int, ttl_ms: int
    ) -> SessionLease:
        row.fencing += 1
        row.lease = SessionLease(session_id, owner, uuid.uuid4().hex, row.fencing, now, now + ttl_ms)
        return row.lease

    async def renew_lease(self, fence: LeaseFence, *, ttl_ms: int = DEFAULT_LEASE_TTL_MS) -> SessionLease:
        """Extend the live lease, keeping its tokens."""
        _check_ttl(ttl_ms)
        now = self._now()
        lease = self._check_fence(fence, now)
        row = self._data.leases[fence.session_id]
        row.lease = evolve(lease, expires_at_ms=now + ttl_ms)
        return row.lease

    async def release_lease(self, fence: LeaseFence) -> bool:
        """Release the lease if ``fence`` still holds it."""
        return self._release(fence)

    def _release(self, fence: LeaseFence) -> bool:
        row = self._data.leases.get(fence.session_id)
        if row is None or row.lease is None or not row.lease.matches(fence):
            return False
        row.lease = None
        return True

    async def claim_at_checkpoint(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> CheckpointClaims:
        """Claim the turn's admitted active inputs and the earliest-boundary turn work (both
        claims run without suspending, so nothing comes between them)."""
        inputs = await self.claim_active_inputs(fence, turn_id, checkpoint, max_inputs=max_inputs)
        work = await self.claim_ready_work(
            fence, WorkBoundary.ACTIVE_TURN_CHECKPOINT, max_batches=max_batches
        )
        return CheckpointClaims(inputs, work)

    async def load_lease(self, session_id: str) -> SessionLease | None:
        """The live lease, or ``None``."""
        return self._live_lease(session_id, self._now())

    async def list_live_leases(self) -> Sequence[SessionLease]:
        """Every live lease, sorted by session id."""
        now = self._now()
        live = (self._live_lease(session_id, now) for session_id in sorted(self._data.leases))
        return [lease for lease in live if lease is not None]

    # -- attachments ----------------------------------------------------------------

    async def put_attachment(
        self, session_id: str, data: bytes, media_type: str, name: str | None
    ) -> AttachmentRef:
        """Keep the bytes under their sha256, held by this session (uncommitted until a commit)."""
        attachment_id = hashlib.sha256(data).hexdigest()
        self._data.blobs.setdefault(attachment_id, bytes(data))
        held = self._data.attachments.setdefault(session_id, {})
        if attachment_id not in held:
            held[attachment_id] = _AttachmentRow(media_type, len(data), name, self._now())
        return AttachmentRef(attachment_id, media_type, len(data), name)

    async def get_attachment(self, session_id: str, attachment_id: str) -> bytes:
        """The bytes of an attachment this session holds."""
        if attachment_id not in self._data.attachments.get(session_id, {}):
            raise KeyError(
                f"session {session_id!r} holds no attachment {attachment_id!r}; put it with this session first"
            )
        return self._data.blobs[attachment_id]

    async def gc_attachments(self, *, grace_ms: int = DEFAULT_ATTACHMENT_GRACE_MS) -> GcReport:
        """Drop uncommitted attachments older than the grace period; keep committed ones."""
        cutoff = self._now() - grace_ms
        retained = deleted = 0
        for held in self._data.attachments.values():
            for attachment_id, row in list(held.items()):
                if not row.committed and row.intent_at_ms <= cutoff:
                    del held[attachment_id]
                    deleted += 1
                else:
                    retained += 1
        self._drop_orphan_blobs()
        return GcReport(retained=retained, deleted=deleted)

    def _drop_orphan_blobs(self) -> None:
        live = {attachment_id for held in self._data.attachments.values() for attachment_id in held}
        for attachment_id in [a for a in self._data.blobs if a not in live]:
            del self._data.blobs[attachment_id]

    # -- maintenance ------------------------------------------------------------------

    async def vacuum(self) -> VacuumReport:
        """Delete terminal inputs and work batches."""
        removed_inputs = removed_work = 0
        for rows in self._data.inputs.values():
            for input_id in [i for i, r in rows.items() if r.record.state.terminal]:
                del rows[input_id]
                removed_inputs += 1
        for batches in self._data.work.values():
            for batch_id in [b for b, r in batches.items() if r.record.state is not WorkState.PENDING]:
                del batches[batch_id]
                removed_work += 1
        return VacuumReport(removed_inputs=removed_inputs, removed_work_batches=removed_work)

    async def list_sessions_with_pending_work(self) -> Sequence[str]:
        """Sessions with a deferred input or ready work not under a live claim."""
        now = self._now()
        found: set[str] = set()
        for session_id, rows in self._data.inputs.items():
            if any(
                r.record.state is PendingInputState.DEFERRED_NEXT_TURN
                and not self._claim_live(session_id, r.record.claim, now)
                for r in rows.values()
            ):
                found.add(session_id)
        for session_id, batches in self._data.work.items():
            if any(
                r.record.state is WorkState.PENDING
                and r.record.available_at_ms <= now
                and not self._claim_live(session_id, r.record.claim, now)
                for r in batches.values()
            ):
                found.add(session_id)
        return sorted(found)


def _touches_queues(commit: TurnCommit) -> bool:
    return bool(
        commit.completed_input_claims
        or commit.completed_work_claims
        or commit.enqueue_work
        or commit.defer_active_inputs_of_turn is not None
    )
