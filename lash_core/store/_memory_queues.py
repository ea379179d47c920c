"""Pending turn input and queued work of the in-memory store (private: use MemoryStore)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

from attrs import evolve

from lash_core.errors import SourceKeyConflict
from lash_core.store._memory_data import _InputRow, _MemoryBase, _WorkRow
from lash_core.store.claims import ClaimInfo, ClaimRef
from lash_core.store.codec import input_content_digest
from lash_core.store.inputs import (
    DEFAULT_CLAIM_LIMIT,
    ActiveTurn,
    AnchorNotFound,
    ByInputId,
    CancelResult,
    CancelStatus,
    CancelTarget,
    InputBoundary,
    InputClaim,
    NextTurn,
    PendingInput,
    PendingInputDraft,
    PendingInputState,
)
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import (
    DEFAULT_WORK_BATCH_LIMIT,
    DeliveryPolicy,
    QueuedWorkBatch,
    QueuedWorkDraft,
    SlotPolicy,
    WorkBoundary,
    WorkClaim,
    WorkClass,
    WorkItem,
    WorkState,
    work_class,
)

__all__: list[str] = []

_ACTIVE = (PendingInputState.PENDING_ACTIVE, PendingInputState.ACCEPTED)


def _check_limit(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _new_claim() -> tuple[str, str]:
    return f"claim_{uuid.uuid4().hex}", uuid.uuid4().hex


def _claimable(claim: ClaimInfo | None, generation: int) -> bool:
    """Claim path: unclaimed, or claimed by another (hence dead) lease generation."""
    return claim is None or claim.lease_generation != generation


class _InputsMixin(_MemoryBase):
    """The pending turn input facet."""

    async def enqueue_input(self, draft: PendingInputDraft) -> PendingInput:
        """Record the input, or return the row with the same source key / id and content.
        Active-turn input for a turn the session already committed is recorded deferred."""
        rows = self._data.inputs.setdefault(draft.session_id, {})
        existing: _InputRow | None = None
        if draft.source_key is not None:
            existing = next((r for r in rows.values() if r.record.source_key == draft.source_key), None)
        by_id = rows.get(draft.input_id) if draft.input_id is not None else None
        if existing is None:
            existing = by_id
        elif by_id is not None and by_id is not existing:
            raise SourceKeyConflict(draft.session_id, draft.input_id or "", "input id")
        content = input_content_digest(draft.ingress, draft.input)
        if existing is not None:
            record = existing.record
            if (
                existing.content != content
                or (draft.source_key is not None and record.source_key != draft.source_key)
                or (draft.input_id is not None and record.input_id != draft.input_id)
            ):
                key, what = (
                    (draft.source_key, "source key") if draft.source_key else (record.input_id, "input id")
                )
                raise SourceKeyConflict(draft.session_id, key, what)
            return record
        ingress = draft.ingress
        if isinstance(ingress, ActiveTurn):
            session = self._data.sessions.get(draft.session_id)
            if session is not None and ingress.turn_id in session.commits:
                ingress = NextTurn()  # the turn committed: no checkpoint of it will claim the input
        state = (
            PendingInputState.DEFERRED_NEXT_TURN
            if isinstance(ingress, NextTurn)
            else PendingInputState.PENDING_ACTIVE
        )
        record = PendingInput(
            input_id=draft.input_id or f"in_{uuid.uuid4().hex}",
            session_id=draft.session_id,
            enqueue_seq=self._data.next_seq(),
            ingress=ingress,
            state=state,
            enqueued_at_ms=self._now(),
            input=draft.input,
            source_key=draft.source_key,
        )
        rows[record.input_id] = _InputRow(record, content)
        return record

    async def get_input(self, session_id: str, input_id: str) -> PendingInput | None:
        """One input by id, in any state."""
        row = self._data.inputs.get(session_id, {}).get(input_id)
        return row.record if row is not None else None

    async def list_pending_inputs(self, session_id: str) -> Sequence[PendingInput]:
        """Inputs neither terminal nor under a live claim, oldest first."""
        now = self._now()
        return [
            row.record
            for row in self._data.inputs.get(session_id, {}).values()
            if not row.record.state.terminal and not self._claim_live(session_id, row.record.claim, now)
        ]

    async def cancel_inputs(
        self, session_id: str, targets: Sequence[CancelTarget]
    ) -> tuple[CancelResult, ...]:
        """Cancel each pending target that is not under a live claim."""
        now = self._now()
        return tuple(self._cancel_one(session_id, target, now) for target in targets)

    async def cancel_input_suffix(
        self, session_id: str, anchor: CancelTarget
    ) -> tuple[CancelResult, ...] | AnchorNotFound:
        """Cancel the anchor and every later input."""
        rows = self._data.inputs.get(session_id, {})
        found = self._find(session_id, anchor)
        if found is None:
            return AnchorNotFound(anchor)
        now = self._now()
        suffix = [
            r.record.input_id for r in rows.values() if r.record.enqueue_seq >= found.record.enqueue_seq
        ]
        return tuple(self._cancel_one(session_id, ByInputId(input_id), now) for input_id in suffix)

    def _find(self, session_id: str, target: CancelTarget) -> _InputRow | None:
        rows = self._data.inputs.get(session_id, {})
        if isinstance(target, ByInputId):
            return rows.get(target.input_id)
        return next((r for r in rows.values() if r.record.source_key == target.source_key), None)

    def _cancel_one(self, session_id: str, target: CancelTarget, now: int) -> CancelResult:
        row = self._find(session_id, target)
        if row is None:
            return CancelResult(target, CancelStatus.NOT_FOUND)
        record = row.record
        if record.state is PendingInputState.COMPLETED:
            return CancelResult(target, CancelStatus.ALREADY_COMPLETED, record)
        if record.state is PendingInputState.CANCELLED:
            return CancelResult(target, CancelStatus.ALREADY_CANCELLED, record)
        if self._claim_live(session_id, record.claim, now):
            return CancelResult(target, CancelStatus.ALREADY_CLAIMED, record)
        row.record = evolve(record, state=PendingInputState.CANCELLED, claim=None)
        row.token = None
        return CancelResult(target, CancelStatus.CANCELLED, row.record)

    async def claim_next_turn_inputs(
        self, fence: LeaseFence, *, max_inputs: int = DEFAULT_CLAIM_LIMIT
    ) -> InputClaim | None:
        """Claim deferred next-turn inputs, oldest first."""
        _check_limit("max_inputs", max_inputs)
        now = self._now()
        generation = self._check_fence(fence, now).fencing_token
        rows = self._claimable_inputs(
            fence.session_id,
            generation,
            max_inputs,
            lambda r: r.state is PendingInputState.DEFERRED_NEXT_TURN,
        )
        head_claim = rows[0].record.claim if rows else None
        if head_claim is not None:  # the head was under a claim that died: take that group again, alone
            rows = [
                r
                for r in rows
                if r.record.claim is not None and r.record.claim.claim_id == head_claim.claim_id
            ]
        return self._claim_inputs(fence, generation, rows, None, now)

    async def claim_active_inputs(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
    ) -> InputClaim | None:
        """Claim the turn's active inputs the checkpoint admits; they become ``accepted``."""
        _check_limit("max_inputs", max_inputs)
        now = self._now()
        generation = self._check_fence(fence, now).fencing_token

        def admitted(record: PendingInput) -> bool:
            ingress = record.ingress
            return (
                record.state in _ACTIVE
                and isinstance(ingress, ActiveTurn)
                and ingress.turn_id == turn_id
                and checkpoint.admits(ingress.min_boundary)
            )

        rows = self._claimable_inputs(fence.session_id, generation, max_inputs, admitted)
        return self._claim_inputs(fence, generation, rows, PendingInputState.ACCEPTED, now)

    def _claimable_inputs(
        self, session_id: str, generation: int, limit: int, wanted: Callable[[PendingInput], bool]
    ) -> list[_InputRow]:
        found: list[_InputRow] = []
        for row in self._data.inputs.get(session_id, {}).values():
            if wanted(row.record) and _claimable(row.record.claim, generation):
                found.append(row)
                if len(found) == limit:
                    break
        return found

    def _claim_inputs(
        self,
        fence: LeaseFence,
        generation: int,
        rows: list[_InputRow],
        state: PendingInputState | None,
        now: int,
    ) -> InputClaim | None:
        if not rows:
            return None
        claim_id, token = _new_claim()
        for row in rows:
            row.claims += 1
            info = ClaimInfo(claim_id, fence.owner, generation, row.claims, now)
            row.record = evolve(row.record, claim=info, state=state or row.record.state)
            row.token = token
        return InputClaim(fence.session_id, claim_id, token, generation, tuple(r.record for r in rows))

    async def abandon_input_claim(self, ref: ClaimRef) -> int:
        """Release the rows that still carry the claim."""
        released = 0
        for row in self._owned_inputs(ref):
            record = row.record
            state = (
                PendingInputState.PENDING_ACTIVE
                if record.state is PendingInputState.ACCEPTED
                else record.state
            )
            row.record = evolve(record, claim=None, state=state)
            row.token = None
            released += 1
        return released

    def _owned_inputs(self, ref: ClaimRef) -> Iterable[_InputRow]:
        rows = self._data.inputs.get(ref.session_id, {})
        for input_id in ref.item_ids:
            row = rows.get(input_id)
            if row is not None and _owns(row.record.claim, row.token, ref):
                yield row


def _owns(claim: ClaimInfo | None, token: str | None, ref: ClaimRef) -> bool:
    return claim is not None and claim.claim_id == ref.claim_id and token == ref.claim_token


class _WorkMixin(_MemoryBase):
    """The queued work facet."""

    async def enqueue_work(self, draft: QueuedWorkDraft) -> QueuedWorkBatch:
        """Record a batch, or return the batch with the same source key."""
        return self._enqueue_work(draft, self._now())

    def _enqueue_work(self, draft: QueuedWorkDraft, now: int) -> QueuedWorkBatch:
        kind = work_class(draft.payloads)
        rows = self._data.work.setdefault(draft.session_id, {})
        if draft.source_key is not None:
            for row in rows.values():
                if row.record.source_key == draft.source_key:
                    return row.record
        batch_id = f"wb_{uuid.uuid4().hex}"
        record = QueuedWorkBatch(
            batch_id=batch_id,
            session_id=draft.session_id,
            enqueue_seq=self._data.next_seq(),
            work_class=kind,
            items=tuple(WorkItem(f"{batch_id}:{i}", p) for i, p in enumerate(draft.payloads)),
            delivery=draft.delivery,
            slot=draft.slot,
            available_at_ms=draft.available_at_ms,
            enqueued_at_ms=now,
            merge_key=draft.merge_key,
            source_key=draft.source_key,
        )
        rows[batch_id] = _WorkRow(record)
        return record

    async def list_work(self, session_id: str, *, include_claimed: bool = True) -> Sequence[QueuedWorkBatch]:
        """Pending batches in queue order."""
        now = self._now()
        return [
            row.record
            for row in self._data.work.get(session_id, {}).values()
            if row.record.state is WorkState.PENDING
            and (include_claimed or not self._claim_live(session_id, row.record.claim, now))
        ]

    def _ready(self, session_id: str, generation: int, now: int) -> list[_WorkRow]:
        return [
            row
            for row in self._data.work.get(session_id, {}).values()
            if row.record.state is WorkState.PENDING
            and row.record.available_at_ms <= now
            and _claimable(row.record.claim, generation)
        ]

    async def claim_leading_command(self, fence: LeaseFence) -> WorkClaim | None:
        """Claim the head batch if it is a session command."""
        now = self._now()
        generation = self._check_fence(fence, now).fencing_token
        ready = self._ready(fence.session_id, generation, now)
        if not ready or ready[0].record.work_class is not WorkClass.SESSION_COMMAND:
            return None
        return self._claim_work(fence, generation, ready[:1], now)

    async def claim_ready_work(
        self,
        fence: LeaseFence,
        boundary: WorkBoundary,
        *,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> WorkClaim | None:
        """Claim turn work at the head of the queue (join/exclusive grouping)."""
        _check_limit("max_batches", max_batches)
        now = self._now()
        generation = self._check_fence(fence, now).fencing_token
        ready = self._ready(fence.session_id, generation, now)
        if boundary is WorkBoundary.ACTIVE_TURN_CHECKPOINT:
            ready = [
                r
                for r in ready
                if r.record.work_class is WorkClass.SESSION_COMMAND
                or r.record.delivery is DeliveryPolicy.EARLIEST_SAFE_BOUNDARY
            ]
        if not ready or ready[0].record.work_class is not WorkClass.TURN_WORK:
            return None
        head = ready[0].record
        taken = ready[:1]
        if head.slot is SlotPolicy.JOIN and head.merge_key is not None:
            for row in ready[1:]:
                batch = row.record
                if (
                    len(taken) == max_batches
                    or batch.work_class is not WorkClass.TURN_WORK
                    or batch.slot is not SlotPolicy.JOIN
                    or batch.delivery is not head.delivery
                    or batch.merge_key != head.merge_key
                ):
                    break
                taken.append(row)
        return self._claim_work(fence, generation, taken, now)

    async def claim_work_batches(self, fence: LeaseFence, batch_ids: Sequence[str]) -> WorkClaim | None:
        """Claim exactly the named batches that are pending, ready and claimable."""
        now = self._now()
        generation = self._check_fence(fence, now).fencing_token
        wanted = set(batch_ids)
        rows = [r for r in self._ready(fence.session_id, generation, now) if r.record.batch_id in wanted]
        return self._claim_work(fence, generation, rows, now)

    def _claim_work(
        self, fence: LeaseFence, generation: int, rows: list[_WorkRow], now: int
    ) -> WorkClaim | None:
        if not rows:
            return None
        claim_id, token = _new_claim()
        for row in rows:
            row.claims += 1
            row.record = evolve(
                row.record, claim=ClaimInfo(claim_id, fence.owner, generation, row.claims, now)
            )
            row.token = token
        return WorkClaim(fence.session_id, claim_id, token, generation, tuple(r.record for r in rows))

    async def abandon_work_claim(self, ref: ClaimRef) -> int:
        """Release the batches that still carry the claim."""
        released = 0
        for row in self._owned_work(ref):
            row.record = evolve(row.record, claim=None)
            row.token = None
            released += 1
        return released

    def _owned_work(self, ref: ClaimRef) -> Iterable[_WorkRow]:
        rows = self._data.work.get(ref.session_id, {})
        for batch_id in ref.item_ids:
            row = rows.get(batch_id)
            if row is not None and _owns(row.record.claim, row.token, ref):
                yield row

    async def cancel_work(self, session_id: str, batch_id: str) -> QueuedWorkBatch | None:
        """Cancel a pending batch not under a live claim."""
        row = self._data.work.get(session_id, {}).get(batch_id)
        if row is None or row.record.state is not WorkState.PENDING:
            return None
        if self._claim_live(session_id, row.record.claim, self._now()):
            return None
        row.record = evolve(row.record, state=WorkState.CANCELLED, claim=None)
        row.token = None
        return row.record
