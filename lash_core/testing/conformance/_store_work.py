"""Conformance cases: queued work (commands first, join/exclusive batching, claims, outbox)."""

from __future__ import annotations

import pytest

from lash_core.errors import ClaimSuperseded, LeaseLost
from lash_core.store import (
    CheckpointClaims,
    DeliveryPolicy,
    InputBoundary,
    PendingInputState,
    QueuedWorkDraft,
    RefreshToolCatalog,
    ResetSession,
    SlotPolicy,
    WorkBoundary,
    WorkClass,
    WorkState,
)
from lash_core.testing.conformance._store_support import (
    StoreFactory,
    acquire,
    active,
    add_input,
    add_work,
    make_commit,
    new_session_id,
    owner,
    task,
)

_FAR_FUTURE_MS = 10**15
_IDLE = WorkBoundary.IDLE
_CHECKPOINT = WorkBoundary.ACTIVE_TURN_CHECKPOINT


def _ids(claim: object) -> list[str]:
    batches = getattr(claim, "batches", None)
    assert batches is not None, "expected a claim, got None"
    return [b.batch_id for b in batches]


class WorkCases:
    """Queued work."""

    async def test_enqueue_lists_in_order_and_dedupes_by_source_key(
        self, store_factory: StoreFactory
    ) -> None:
        """Batches list in enqueue order with their class; a reused source key returns the first batch."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            work = await add_work(store, sid, task("a"), task("b"), source_key="wake:1")
            command = await add_work(store, sid, RefreshToolCatalog("plugins changed"))
            again = await add_work(store, sid, task("different"), source_key="wake:1")
            assert again.batch_id == work.batch_id and again.items == work.items
            assert [p.payload for p in work.items] == [task("a"), task("b")]
            assert (work.work_class, command.work_class) == (WorkClass.TURN_WORK, WorkClass.SESSION_COMMAND)
            listed = await store.list_work(sid)
            assert [b.batch_id for b in listed] == [work.batch_id, command.batch_id]
            assert listed[0].enqueue_seq < listed[1].enqueue_seq

    async def test_mixed_or_empty_batches_are_refused(self, store_factory: StoreFactory) -> None:
        """A batch mixing commands and turn work, or holding nothing, is a ValueError."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            with pytest.raises(ValueError):
                await add_work(store, sid, RefreshToolCatalog(), task("a"))
            with pytest.raises(ValueError):
                await add_work(store, sid)
            assert list(await store.list_work(sid)) == []

    async def test_commands_are_drained_before_turn_work(self, store_factory: StoreFactory) -> None:
        """A command at the head blocks turn work until it is completed; then the work is claimable."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            command = await add_work(store, sid, ResetSession("user asked"))
            work = await add_work(store, sid, task("a"))
            assert await store.claim_ready_work(lease.fence, _IDLE) is None
            claim = await store.claim_leading_command(lease.fence)
            assert _ids(claim) == [command.batch_id]
            assert claim is not None
            await store.commit(
                make_commit(sid, "cmd-1", lease=lease.fence, completed_work_claims=(claim.ref,))
            )
            assert await store.claim_leading_command(lease.fence) is None
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [work.batch_id]

    async def test_leading_command_waits_behind_earlier_turn_work(self, store_factory: StoreFactory) -> None:
        """Only the earliest ready batch can be claimed as a command; turn work claims skip nothing."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            work = await add_work(store, sid, task("a"), slot=SlotPolicy.EXCLUSIVE)
            await add_work(store, sid, RefreshToolCatalog())
            assert await store.claim_leading_command(lease.fence) is None
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE, max_batches=5)) == [work.batch_id]
            assert await store.claim_ready_work(lease.fence, _IDLE) is None
            assert await store.claim_leading_command(lease.fence) is not None

    async def test_exclusive_head_is_claimed_alone(self, store_factory: StoreFactory) -> None:
        """An exclusive batch at the head is claimed by itself."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            first = await add_work(store, sid, task("a"), slot=SlotPolicy.EXCLUSIVE, merge_key="g")
            second = await add_work(store, sid, task("b"), merge_key="g")
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [first.batch_id]
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [second.batch_id]

    async def test_join_head_extends_over_matching_batches(self, store_factory: StoreFactory) -> None:
        """A join head takes the following join batches with its delivery and merge key, up to the limit."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            g = [await add_work(store, sid, task(f"g{i}"), merge_key="g") for i in range(3)]
            other = await add_work(store, sid, task("h"), merge_key="h")
            tail = await add_work(store, sid, task("g-late"), merge_key="g")
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE, max_batches=2)) == [
                g[0].batch_id,
                g[1].batch_id,
            ]
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [g[2].batch_id]
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [other.batch_id]
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [tail.batch_id]

    async def test_join_groups_by_delivery_policy(self, store_factory: StoreFactory) -> None:
        """Join batches with another delivery policy are not grouped with the head."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            soon = await add_work(store, sid, task("a"), merge_key="g")
            after = await add_work(
                store, sid, task("b"), merge_key="g", delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT
            )
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [soon.batch_id]
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [after.batch_id]

    async def test_checkpoints_take_only_earliest_safe_boundary_work(
        self, store_factory: StoreFactory
    ) -> None:
        """At a running turn's checkpoint, after-commit work waits; at idle it is claimed."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            after = await add_work(store, sid, task("a"), delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT)
            soon = await add_work(store, sid, task("b"))
            assert _ids(await store.claim_ready_work(lease.fence, _CHECKPOINT)) == [soon.batch_id]
            assert await store.claim_ready_work(lease.fence, _CHECKPOINT) is None
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [after.batch_id]

    async def test_future_work_is_not_ready(self, store_factory: StoreFactory) -> None:
        """Work available later is neither claimable nor pending work now; it becomes ready with time."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            probe = await add_work(store, sid, RefreshToolCatalog(), source_key="probe")
            assert await store.cancel_work(sid, probe.batch_id) is not None
            later = await add_work(store, sid, task("later"), available_at_ms=probe.enqueued_at_ms + 20_000)
            await add_work(store, sid, task("never"), available_at_ms=_FAR_FUTURE_MS)
            assert await store.claim_ready_work(lease.fence, _IDLE) is None
            assert sid not in await store.list_sessions_with_pending_work()
            if not store_factory.clock_injectable:
                return
            await store_factory.sleep(21)
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [later.batch_id]

    async def test_claim_by_batch_ids_may_bypass_earlier_work(self, store_factory: StoreFactory) -> None:
        """Claiming named batches takes exactly those, even behind a command."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await add_work(store, sid, RefreshToolCatalog())
            a = await add_work(store, sid, task("a"))
            b = await add_work(store, sid, task("b"))
            assert _ids(await store.claim_work_batches(lease.fence, [b.batch_id, "missing"])) == [b.batch_id]
            assert await store.claim_work_batches(lease.fence, [b.batch_id]) is None
            assert _ids(await store.claim_work_batches(lease.fence, [a.batch_id])) == [a.batch_id]

    async def test_abandoned_work_is_claimable_again(self, store_factory: StoreFactory) -> None:
        """An abandoned claim frees its batches."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            work = await add_work(store, sid, task("a"))
            claim = await store.claim_ready_work(lease.fence, _IDLE)
            assert claim is not None and await store.claim_ready_work(lease.fence, _IDLE) is None
            assert await store.abandon_work_claim(claim.ref) == 1
            assert _ids(await store.claim_ready_work(lease.fence, _IDLE)) == [work.batch_id]

    async def test_cancel_removes_only_unclaimed_batches(self, store_factory: StoreFactory) -> None:
        """Cancel returns an unclaimed batch as cancelled; a live-claimed or missing batch gives None."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            claimed = await add_work(store, sid, task("a"), slot=SlotPolicy.EXCLUSIVE)
            free = await add_work(store, sid, task("b"))
            assert await store.claim_ready_work(lease.fence, _IDLE) is not None
            assert await store.cancel_work(sid, claimed.batch_id) is None
            assert await store.cancel_work(sid, "missing") is None
            cancelled = await store.cancel_work(sid, free.batch_id)
            assert cancelled is not None and cancelled.state is WorkState.CANCELLED
            assert await store.cancel_work(sid, free.batch_id) is None
            assert [b.batch_id for b in await store.list_work(sid)] == [claimed.batch_id]
            assert list(await store.list_work(sid, include_claimed=False)) == []

    async def test_completed_work_leaves_the_queue(self, store_factory: StoreFactory) -> None:
        """Work completed in a commit is gone from the lists; its source key still answers with it."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            work = await add_work(store, sid, task("a"), source_key="wake:7")
            claim = await store.claim_ready_work(lease.fence, _IDLE)
            assert claim is not None
            await store.commit(make_commit(sid, "t1", lease=lease.fence, completed_work_claims=(claim.ref,)))
            assert list(await store.list_work(sid)) == []
            again = await add_work(store, sid, task("a"), source_key="wake:7")
            assert again.batch_id == work.batch_id and again.state is WorkState.COMPLETED
            assert await store.claim_ready_work(lease.fence, _IDLE) is None

    async def test_work_claims_need_the_live_lease(self, store_factory: StoreFactory) -> None:
        """Every work claim raises LeaseLost with a released fence."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            work = await add_work(store, sid, task("a"))
            await store.release_lease(lease.fence)
            with pytest.raises(LeaseLost):
                await store.claim_ready_work(lease.fence, _IDLE)
            with pytest.raises(LeaseLost):
                await store.claim_leading_command(lease.fence)
            with pytest.raises(LeaseLost):
                await store.claim_work_batches(lease.fence, [work.batch_id])

    async def test_work_claims_supersede_across_lease_generations(self, store_factory: StoreFactory) -> None:
        """After a takeover the new generation claims the batch and the old claim cannot complete,
        and the failed commit leaves the turn and its outbox unwritten."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            work = await add_work(store, sid, task("a"))
            stale = await store.claim_ready_work(old.fence, _IDLE)
            assert stale is not None
            await store_factory.expire()
            assert [b.batch_id for b in await store.list_work(sid, include_claimed=False)] == [work.batch_id]
            new = await acquire(store, sid, owner("worker-b"))
            fresh = await store.claim_ready_work(new.fence, _IDLE)
            assert _ids(fresh) == [work.batch_id]
            outbox = (QueuedWorkDraft(sid, (task("next"),)),)
            with pytest.raises(ClaimSuperseded):
                await store.commit(
                    make_commit(sid, "t1", completed_work_claims=(stale.ref,), enqueue_work=outbox)
                )
            assert await store.load_head(sid) is None
            assert [b.batch_id for b in await store.list_work(sid)] == [work.batch_id]

    async def test_a_checkpoint_claims_active_input_and_earliest_boundary_work_together(
        self, store_factory: StoreFactory
    ) -> None:
        """claim_at_checkpoint takes the turn's admitted active input and the ready earliest-boundary work at once."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            assert (
                await store.claim_at_checkpoint(lease.fence, "t1", InputBoundary.AFTER_WORK)
                == CheckpointClaims()
            )
            row = await add_input(store, sid, "now", active("t1"))
            await add_input(store, sid, "other turn", active("t2"))
            soon = await add_work(store, sid, task("soon"))
            await add_work(store, sid, task("later"), delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT)
            claims = await store.claim_at_checkpoint(lease.fence, "t1", InputBoundary.AFTER_WORK)
            assert claims.inputs is not None and [i.input_id for i in claims.inputs.inputs] == [row.input_id]
            assert claims.inputs.inputs[0].state is PendingInputState.ACCEPTED
            assert _ids(claims.work) == [soon.batch_id]
            again = await store.claim_at_checkpoint(lease.fence, "t1", InputBoundary.BEFORE_COMPLETION)
            assert again == CheckpointClaims()  # after-commit work is not for a checkpoint

    async def test_a_checkpoint_claim_needs_the_live_lease(self, store_factory: StoreFactory) -> None:
        """claim_at_checkpoint with a released lease raises LeaseLost."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await add_work(store, sid, task("soon"))
            assert await store.release_lease(lease.fence)
            with pytest.raises(LeaseLost):
                await store.claim_at_checkpoint(lease.fence, "t1", InputBoundary.AFTER_WORK)
