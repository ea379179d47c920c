"""Conformance cases: session commit (atomicity, head CAS, turn hash idempotency, lease fence)."""

from __future__ import annotations

import anyio
import pytest

from lash_core.errors import ClaimSuperseded, HeadConflict, LeaseLost, TurnCommitConflict
from lash_core.store import InputBoundary, NextTurn, PendingInputState, QueuedWorkDraft
from lash_core.testing.conformance._store_support import (
    StoreFactory,
    acquire,
    active,
    add_input,
    commit,
    make_commit,
    new_session_id,
    owner,
    state_of,
    task,
)


class CommitCases:
    """Loading and committing sessions."""

    async def test_missing_session_loads_as_none(self, store_factory: StoreFactory) -> None:
        """A session that was never committed has no record and no head."""
        async with store_factory.opened() as store:
            assert await store.load_session(new_session_id()) is None
            assert await store.load_head(new_session_id()) is None

    async def test_commit_creates_the_session_and_round_trips(self, store_factory: StoreFactory) -> None:
        """The first commit makes revision 1 and the head and nodes read back as committed."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            sent = make_commit(sid, "t1")
            result = await store.commit(sent)
            assert (result.head_revision, result.replayed) == (1, False)
            record = await store.load_session(sid)
            assert record is not None
            assert [n.message for n in record.nodes] == [n.message for n in sent.nodes]
            assert [(n.frame_id, n.turn_id) for n in record.nodes] == [
                (n.frame_id, n.turn_id) for n in sent.nodes
            ]
            head = record.head
            assert (head.head_revision, head.turn_count, head.node_count) == (1, 1, 2)
            assert head.frames == sent.frames and head.current_frame_id == sent.current_frame_id
            assert head.ledger.entries == sent.usage_deltas
            assert head.plugin_state == sent.plugin_state
            assert await store.load_head(sid) == head

    async def test_commits_append_and_increment_the_head(self, store_factory: StoreFactory) -> None:
        """Each commit adds its nodes after the earlier ones and moves the revision by one."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            await commit(store, sid, "t1")
            result = await commit(store, sid, "t2")
            assert result.head_revision == 2
            record = await store.load_session(sid)
            assert record is not None
            assert [n.turn_id for n in record.nodes] == ["t1", "t1", "t2", "t2"]
            assert record.head.turn_count == 2 and record.head.node_count == 4
            assert record.head.ledger.entries[0].usage.input_tokens == 20

    async def test_stale_head_revision_conflicts_and_writes_nothing(
        self, store_factory: StoreFactory
    ) -> None:
        """A commit built on an old revision raises HeadConflict and changes nothing."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            await commit(store, sid, "t1")
            with pytest.raises(HeadConflict):
                await store.commit(make_commit(sid, "t2", expected=0))
            record = await store.load_session(sid)
            assert record is not None and record.head.head_revision == 1 and len(record.nodes) == 2

    async def test_concurrent_head_cas_applies_exactly_once(self, store_factory: StoreFactory) -> None:
        """Two handles committing on the same revision at once: one wins, the other conflicts."""
        sid = new_session_id()
        outcomes: list[str] = []

        async def attempt(turn_id: str) -> None:
            async with store_factory.opened() as store:
                try:
                    await store.commit(make_commit(sid, turn_id, expected=0))
                    outcomes.append("ok")
                except HeadConflict:
                    outcomes.append("conflict")

        async with anyio.create_task_group() as group:
            group.start_soon(attempt, "t-a")
            group.start_soon(attempt, "t-b")
        assert sorted(outcomes) == ["conflict", "ok"]
        async with store_factory.opened() as store:
            head = await store.load_head(sid)
            assert head is not None and head.head_revision == 1 and head.node_count == 2

    async def test_same_turn_and_hash_is_answered_with_the_recorded_result(
        self, store_factory: StoreFactory
    ) -> None:
        """Re-committing a turn with the same hash returns the recorded revision and writes nothing."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            first = await store.commit(make_commit(sid, "t1"))
            again = await store.commit(make_commit(sid, "t1"))
            assert again.head_revision == first.head_revision and again.replayed
            record = await store.load_session(sid)
            assert record is not None and len(record.nodes) == 2 and record.head.head_revision == 1

    async def test_replay_ignores_the_expected_revision(self, store_factory: StoreFactory) -> None:
        """A retry is recognised by turn id and hash, whatever revision it expected."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            await store.commit(make_commit(sid, "t1"))
            await commit(store, sid, "t2")
            again = await store.commit(make_commit(sid, "t1", expected=7))
            assert again.replayed and again.head_revision == 1

    async def test_same_turn_with_another_hash_conflicts(self, store_factory: StoreFactory) -> None:
        """A turn id committed again with different content raises TurnCommitConflict."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            await store.commit(make_commit(sid, "t1"))
            with pytest.raises(TurnCommitConflict):
                await store.commit(make_commit(sid, "t1", expected=1, text="something else"))
            head = await store.load_head(sid)
            assert head is not None and head.head_revision == 1

    async def test_identical_retry_needs_no_live_lease(self, store_factory: StoreFactory) -> None:
        """After a commit released the lease, the identical retry still returns the recorded result."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            sent = make_commit(sid, "t1", lease=lease.fence, release_lease=True)
            first = await store.commit(sent)
            assert await store.load_lease(sid) is None
            again = await store.commit(sent)
            assert again.replayed and again.head_revision == first.head_revision

    async def test_commit_with_a_live_fence_succeeds(self, store_factory: StoreFactory) -> None:
        """A commit presenting the live lease is applied and keeps the lease."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            result = await store.commit(make_commit(sid, "t1", lease=lease.fence))
            assert result.head_revision == 1
            held = await store.load_lease(sid)
            assert held is not None and held.fencing_token == lease.fencing_token

    async def test_commit_with_a_released_fence_is_lease_lost(self, store_factory: StoreFactory) -> None:
        """A fence whose lease was released cannot commit, and nothing is written."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            assert await store.release_lease(lease.fence)
            with pytest.raises(LeaseLost):
                await store.commit(make_commit(sid, "t1", lease=lease.fence))
            assert await store.load_head(sid) is None

    async def test_commit_with_an_expired_fence_is_lease_lost(self, store_factory: StoreFactory) -> None:
        """A fence whose lease expired (store clock) cannot commit."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await store_factory.expire()
            with pytest.raises(LeaseLost):
                await store.commit(make_commit(sid, "t1", lease=lease.fence))
            assert await store.load_head(sid) is None

    async def test_commit_with_a_superseded_fence_is_lease_lost(self, store_factory: StoreFactory) -> None:
        """After another owner took the expired lease, the old fence cannot commit."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await store_factory.expire()
            await acquire(store, sid, owner("worker-b"))
            with pytest.raises(LeaseLost):
                await store.commit(make_commit(sid, "t1", lease=old.fence))

    async def test_commit_can_release_the_lease(self, store_factory: StoreFactory) -> None:
        """``release_lease`` frees the lease in the commit; the next holder gets a greater token."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await store.commit(make_commit(sid, "t1", lease=lease.fence, release_lease=True))
            assert await store.load_lease(sid) is None
            after = await acquire(store, sid, owner("worker-b"))
            assert after.fencing_token > lease.fencing_token

    async def test_superseded_claim_rolls_back_the_whole_commit(self, store_factory: StoreFactory) -> None:
        """A commit completing a claim that no longer owns its rows raises and leaves nothing:
        no nodes, no head move, no outbox batch, no input state change."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await add_input(store, sid, "queued")
            stale = await store.claim_next_turn_inputs(lease.fence)
            assert stale is not None
            await store.abandon_input_claim(stale.ref)
            fresh = await store.claim_next_turn_inputs(lease.fence)
            assert fresh is not None
            await add_input(store, sid, "active", active("t1"))
            with pytest.raises(ClaimSuperseded):
                await store.commit(
                    make_commit(
                        sid,
                        "t1",
                        lease=lease.fence,
                        completed_input_claims=(stale.ref,),
                        defer_active_inputs_of_turn="t1",
                        enqueue_work=(QueuedWorkDraft(sid, (task("outbox"),)),),
                    )
                )
            assert await store.load_head(sid) is None
            assert list(await store.list_work(sid)) == []
            row = await store.get_input(sid, fresh.inputs[0].input_id)
            assert row is not None and row.state is PendingInputState.DEFERRED_NEXT_TURN
            assert row.claim is not None and row.claim.claim_id == fresh.claim_id
            pending = await store.list_pending_inputs(sid)
            assert [p.state for p in pending] == [PendingInputState.PENDING_ACTIVE]

    async def test_old_generation_claim_cannot_complete_after_takeover(
        self, store_factory: StoreFactory
    ) -> None:
        """A claim taken under an expired lease cannot be completed once a new generation claimed the rows."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await add_input(store, sid, "hello")
            stale = await store.claim_next_turn_inputs(old.fence)
            assert stale is not None
            await store_factory.expire()
            new = await acquire(store, sid, owner("worker-b"))
            fresh = await store.claim_next_turn_inputs(new.fence)
            assert fresh is not None and [i.input_id for i in fresh.inputs] == [
                i.input_id for i in stale.inputs
            ]
            with pytest.raises(LeaseLost):
                await store.commit(
                    make_commit(sid, "t1", lease=old.fence, completed_input_claims=(stale.ref,))
                )
            with pytest.raises(ClaimSuperseded):
                await store.commit(make_commit(sid, "t1", completed_input_claims=(stale.ref,)))
            done = await store.commit(
                make_commit(sid, "t1", lease=new.fence, completed_input_claims=(fresh.ref,))
            )
            assert done.head_revision == 1

    async def test_commit_defers_missed_active_inputs_once(self, store_factory: StoreFactory) -> None:
        """Active inputs the turn did not accept become next-turn inputs, with those of any other
        turn not under a live claim; accepted ones complete; a replay changes nothing."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            early = await add_input(store, sid, "early", active("t1"))
            late = await add_input(store, sid, "late", active("t1", InputBoundary.BEFORE_COMPLETION))
            other = await add_input(store, sid, "other turn", active("t0"))
            claim = await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK)
            assert claim is not None and [i.input_id for i in claim.inputs] == [early.input_id]
            sent = make_commit(
                sid,
                "t1",
                lease=lease.fence,
                completed_input_claims=(claim.ref,),
                defer_active_inputs_of_turn="t1",
            )
            await store.commit(sent)
            assert await state_of(store, sid, early.input_id) is PendingInputState.COMPLETED
            for row in (late, other):
                deferred = await store.get_input(sid, row.input_id)
                assert deferred is not None and deferred.state is PendingInputState.DEFERRED_NEXT_TURN
                assert deferred.ingress == NextTurn() and deferred.claim is None
            await store.commit(sent)  # the replay changes nothing
            assert [p.input_id for p in await store.list_pending_inputs(sid)] == [
                late.input_id,
                other.input_id,
            ]

    async def test_commit_ending_a_logical_turn_defers_every_unclaimed_active_input(
        self, store_factory: StoreFactory
    ) -> None:
        """Under the session lease one turn runs at a time, so the commit that ends a logical turn
        (``defer_active_inputs_of_turn``) defers every active input not under a live claim: orphans
        of turns that never committed (pending, or accepted under a dead generation), whatever
        turn they name. Inputs under a live claim stay; a commit without it defers nothing."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            lost = await add_input(store, sid, "accepted by a turn that lost its lease", active("t-lost"))
            stale = await store.claim_active_inputs(old.fence, "t-lost", InputBoundary.AFTER_WORK)
            assert stale is not None and [i.input_id for i in stale.inputs] == [lost.input_id]
            await store_factory.expire()  # the claim is never abandoned: its generation dies
            lease = await acquire(store, sid, owner("worker-b"))
            crashed = await add_input(store, sid, "for a turn that crashed", active("t-crashed"))
            held = await add_input(store, sid, "under a live claim", active("t-held"))
            live = await store.claim_active_inputs(lease.fence, "t-held", InputBoundary.AFTER_WORK)
            assert live is not None and [i.input_id for i in live.inputs] == [held.input_id]
            queued = await add_input(store, sid, "queued")
            # A frame switch commit: the logical turn goes on, nothing is deferred.
            await commit(store, sid, "t1", lease=lease.fence)
            assert await state_of(store, sid, lost.input_id) is PendingInputState.ACCEPTED
            assert await state_of(store, sid, crashed.input_id) is PendingInputState.PENDING_ACTIVE
            await commit(store, sid, "t1:agent-frame:1", lease=lease.fence, defer_active_inputs_of_turn="t1")
            for row in (lost, crashed):
                deferred = await store.get_input(sid, row.input_id)
                assert deferred is not None and deferred.state is PendingInputState.DEFERRED_NEXT_TURN
                assert deferred.ingress == NextTurn() and deferred.claim is None
            still = await store.get_input(sid, held.input_id)
            assert still is not None and still.state is PendingInputState.ACCEPTED
            assert still.claim is not None and still.claim.claim_id == live.claim_id
            assert await store.abandon_input_claim(stale.ref) == 0
            follow_up = await store.claim_next_turn_inputs(lease.fence)
            assert follow_up is not None
            order = [lost.input_id, crashed.input_id, queued.input_id]
            assert [i.input_id for i in follow_up.inputs] == order

    async def test_commit_outbox_enqueues_work(self, store_factory: StoreFactory) -> None:
        """Work enqueued in the commit is in the queue afterwards and reported in the result."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            drafts = (QueuedWorkDraft(sid, (task("next"),), source_key="handoff:t1"),)
            result = await store.commit(make_commit(sid, "t1", enqueue_work=drafts))
            assert [b.source_key for b in result.enqueued_work] == ["handoff:t1"]
            assert [b.batch_id for b in await store.list_work(sid)] == [result.enqueued_work[0].batch_id]

    async def test_list_and_delete_sessions(self, store_factory: StoreFactory) -> None:
        """Committed sessions are listed; a deleted one is gone with its inputs."""
        first, second = new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            await commit(store, first, "t1")
            await commit(store, second, "t1")
            listed = {s.session_id for s in await store.list_sessions()}
            assert {first, second} <= listed
            await add_input(store, first, "left over")
            assert await store.delete_session(first)
            assert await store.load_session(first) is None
            assert list(await store.list_pending_inputs(first)) == []
            assert first not in {s.session_id for s in await store.list_sessions()}
            assert not await store.delete_session(new_session_id())
