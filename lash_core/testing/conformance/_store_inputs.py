"""Conformance cases: pending turn input (idempotency, cancel, claims fenced by lease generation,
active input for a turn that already committed)."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from lash_core.errors import LeaseLost, SourceKeyConflict
from lash_core.model import TurnInput
from lash_core.store import (
    AnchorNotFound,
    ByInputId,
    BySourceKey,
    CancelStatus,
    InputBoundary,
    NextTurn,
    PendingInput,
    PendingInputDraft,
    PendingInputState,
)
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
)

_SCAN_SURPLUS = 33  # more same-generation claimed rows than a bounded scan would look past
_RACERS, _RACED_INPUTS = 4, 8  # enqueuers racing a commit, inputs each


class InputCases:
    """Pending turn input."""

    async def test_enqueue_sets_the_initial_state_by_ingress(self, store_factory: StoreFactory) -> None:
        """Next-turn input starts deferred, active-turn input pending_active; both are listed in order."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            later = await add_input(store, sid, "later")
            now = await add_input(store, sid, "now", active("t1"))
            assert later.state is PendingInputState.DEFERRED_NEXT_TURN
            assert now.state is PendingInputState.PENDING_ACTIVE and now.enqueue_seq > later.enqueue_seq
            listed = await store.list_pending_inputs(sid)
            assert [i.input_id for i in listed] == [later.input_id, now.input_id]
            assert listed[0].input == TurnInput.text("later")
            assert await store.get_input(sid, now.input_id) == now

    async def test_same_source_key_and_content_returns_the_existing_row(
        self, store_factory: StoreFactory
    ) -> None:
        """Re-enqueueing with the same key and content answers with the first row, even once it is terminal."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            first = await add_input(store, sid, "hi", source_key="msg-1")
            assert (await add_input(store, sid, "hi", source_key="msg-1")).input_id == first.input_id
            await store.cancel_inputs(sid, [BySourceKey("msg-1")])
            again = await add_input(store, sid, "hi", source_key="msg-1")
            assert again.input_id == first.input_id and again.state is PendingInputState.CANCELLED
            assert len(await store.list_pending_inputs(sid)) == 0

    async def test_same_source_key_with_changed_content_conflicts(self, store_factory: StoreFactory) -> None:
        """Changed text or changed ingress under a used key raises SourceKeyConflict naming the key."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            await add_input(store, sid, "hi", source_key="msg-1")
            with pytest.raises(SourceKeyConflict, match="msg-1"):
                await add_input(store, sid, "hello", source_key="msg-1")
            with pytest.raises(SourceKeyConflict, match="msg-1"):
                await add_input(store, sid, "hi", active("t1"), source_key="msg-1")
            assert len(await store.list_pending_inputs(sid)) == 1

    async def test_explicit_input_ids_are_idempotent(self, store_factory: StoreFactory) -> None:
        """A caller-chosen input id behaves like a key: same content returns the row, other content conflicts."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            draft = PendingInputDraft(sid, TurnInput.text("hi"), input_id="in-1")
            assert (await store.enqueue_input(draft)).input_id == "in-1"
            assert (await store.enqueue_input(draft)).input_id == "in-1"
            with pytest.raises(SourceKeyConflict):
                await store.enqueue_input(PendingInputDraft(sid, TurnInput.text("other"), input_id="in-1"))

    async def test_source_keys_are_per_session(self, store_factory: StoreFactory) -> None:
        """The same key in two sessions makes two inputs."""
        first, second = new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            a = await add_input(store, first, "hi", source_key="k")
            b = await add_input(store, second, "other", source_key="k")
            assert a.input_id != b.input_id
            assert [i.input_id for i in await store.list_pending_inputs(second)] == [b.input_id]

    async def test_cancel_reports_each_target(self, store_factory: StoreFactory) -> None:
        """Cancel answers per target, in order: cancelled, already_cancelled, not_found, already_completed."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            a = await add_input(store, sid, "a", source_key="a")
            b = await add_input(store, sid, "b")
            results = await store.cancel_inputs(sid, [BySourceKey("a"), ByInputId(b.input_id)])
            assert [r.status for r in results] == [CancelStatus.CANCELLED, CancelStatus.CANCELLED]
            assert results[0].input is not None and results[0].input.input_id == a.input_id
            results = await store.cancel_inputs(
                sid, [BySourceKey("a"), ByInputId(b.input_id), ByInputId("missing"), BySourceKey("nope")]
            )
            assert [r.status for r in results] == [
                CancelStatus.ALREADY_CANCELLED,
                CancelStatus.ALREADY_CANCELLED,
                CancelStatus.NOT_FOUND,
                CancelStatus.NOT_FOUND,
            ]
            assert results[2].input is None
            fresh = await add_input(store, sid, "fresh")
            claim = await store.claim_next_turn_inputs(lease.fence)
            assert claim is not None and [i.input_id for i in claim.inputs] == [fresh.input_id]
            await store.commit(make_commit(sid, "t1", lease=lease.fence, completed_input_claims=(claim.ref,)))
            (result,) = await store.cancel_inputs(sid, [ByInputId(fresh.input_id)])
            assert result.status is CancelStatus.ALREADY_COMPLETED

    async def test_cancel_of_a_live_claim_reports_the_claimant(self, store_factory: StoreFactory) -> None:
        """A row under a live claim is already_claimed with diagnostics; after the lease is released it cancels."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            row = await add_input(store, sid, "busy")
            claim = await store.claim_next_turn_inputs(lease.fence)
            assert claim is not None
            (result,) = await store.cancel_inputs(sid, [ByInputId(row.input_id)])
            assert result.status is CancelStatus.ALREADY_CLAIMED and result.input is not None
            info = result.input.claim
            assert info is not None and info.owner == owner() and info.lease_generation == lease.fencing_token
            assert info.claim_id == claim.claim_id and info.claim_fencing_token >= 1
            await store.release_lease(lease.fence)
            (result,) = await store.cancel_inputs(sid, [ByInputId(row.input_id)])
            assert result.status is CancelStatus.CANCELLED
            assert result.input is not None and result.input.state is PendingInputState.CANCELLED

    async def test_cancel_covers_active_and_deferred_inputs(self, store_factory: StoreFactory) -> None:
        """Both pending_active and deferred inputs can be cancelled."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            a = await add_input(store, sid, "active", active("t1"))
            d = await add_input(store, sid, "deferred")
            results = await store.cancel_inputs(sid, [ByInputId(a.input_id), ByInputId(d.input_id)])
            assert [r.status for r in results] == [CancelStatus.CANCELLED, CancelStatus.CANCELLED]
            assert list(await store.list_pending_inputs(sid)) == []

    async def test_suffix_cancel_takes_the_anchor_and_everything_after(
        self, store_factory: StoreFactory
    ) -> None:
        """Suffix cancel leaves earlier rows, cancels the anchor and later rows, reports claimed ones."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            first = await add_input(store, sid, "first", active("t9"))
            claimed = await add_input(store, sid, "claimed", active("t1"))
            anchor = await add_input(store, sid, "anchor", source_key="anchor")
            last = await add_input(store, sid, "last")
            assert await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK) is not None
            missing = await store.cancel_input_suffix(sid, BySourceKey("nope"))
            assert missing == AnchorNotFound(BySourceKey("nope"))
            results = await store.cancel_input_suffix(sid, BySourceKey("anchor"))
            assert not isinstance(results, AnchorNotFound)
            assert [(r.target, r.status) for r in results] == [
                (ByInputId(anchor.input_id), CancelStatus.CANCELLED),
                (ByInputId(last.input_id), CancelStatus.CANCELLED),
            ]
            results = await store.cancel_input_suffix(sid, ByInputId(claimed.input_id))
            assert not isinstance(results, AnchorNotFound)
            assert [r.status for r in results] == [
                CancelStatus.ALREADY_CLAIMED,
                CancelStatus.ALREADY_CANCELLED,
                CancelStatus.ALREADY_CANCELLED,
            ]
            assert [i.input_id for i in await store.list_pending_inputs(sid)] == [first.input_id]

    async def test_next_turn_claims_are_oldest_first_and_hidden(self, store_factory: StoreFactory) -> None:
        """Claims take the oldest deferred inputs up to the limit; claimed rows leave the pending list."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            rows = [await add_input(store, sid, f"m{i}") for i in range(3)]
            await add_input(store, sid, "active", active("t1"))
            claim = await store.claim_next_turn_inputs(lease.fence, max_inputs=2)
            assert claim is not None and claim.lease_generation == lease.fencing_token
            assert [i.input_id for i in claim.inputs] == [r.input_id for r in rows[:2]]
            assert all(i.state is PendingInputState.DEFERRED_NEXT_TURN for i in claim.inputs)
            listed = await store.list_pending_inputs(sid)
            assert [i.input_id for i in listed] == [rows[2].input_id, listed[1].input_id]
            rest = await store.claim_next_turn_inputs(lease.fence)
            assert rest is not None and [i.input_id for i in rest.inputs] == [rows[2].input_id]
            assert await store.claim_next_turn_inputs(lease.fence) is None

    async def test_claims_need_the_live_lease(self, store_factory: StoreFactory) -> None:
        """Claiming with a released fence raises LeaseLost."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await add_input(store, sid, "x")
            await store.release_lease(lease.fence)
            with pytest.raises(LeaseLost):
                await store.claim_next_turn_inputs(lease.fence)
            with pytest.raises(LeaseLost):
                await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK)

    async def test_active_claims_respect_the_checkpoint(self, store_factory: StoreFactory) -> None:
        """after_work takes only after_work inputs; before_completion takes the rest; other turns are untouched."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            early = await add_input(store, sid, "early", active("t1"))
            late = await add_input(store, sid, "late", active("t1", InputBoundary.BEFORE_COMPLETION))
            await add_input(store, sid, "other", active("t2"))
            first = await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK)
            assert first is not None and [i.input_id for i in first.inputs] == [early.input_id]
            assert first.inputs[0].state is PendingInputState.ACCEPTED
            final = await store.claim_active_inputs(lease.fence, "t1", InputBoundary.BEFORE_COMPLETION)
            assert final is not None and [i.input_id for i in final.inputs] == [late.input_id]
            assert await store.claim_active_inputs(lease.fence, "t1", InputBoundary.BEFORE_COMPLETION) is None

    async def test_abandoned_claims_are_claimable_again(self, store_factory: StoreFactory) -> None:
        """Abandoning returns accepted inputs to pending_active and frees deferred ones."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            row = await add_input(store, sid, "now", active("t1"))
            claim = await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK)
            assert claim is not None
            assert await store.abandon_input_claim(claim.ref) == 1
            assert await state_of(store, sid, row.input_id) is PendingInputState.PENDING_ACTIVE
            assert await store.abandon_input_claim(claim.ref) == 0
            again = await store.claim_active_inputs(lease.fence, "t1", InputBoundary.AFTER_WORK)
            assert again is not None and again.claim_id != claim.claim_id

    async def test_completed_inputs_leave_the_queue(self, store_factory: StoreFactory) -> None:
        """Inputs completed in a commit are completed, unlisted, and their key still answers."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            row = await add_input(store, sid, "hi", source_key="k")
            claim = await store.claim_next_turn_inputs(lease.fence)
            assert claim is not None
            await store.commit(make_commit(sid, "t1", lease=lease.fence, completed_input_claims=(claim.ref,)))
            assert list(await store.list_pending_inputs(sid)) == []
            again = await add_input(store, sid, "hi", source_key="k")
            assert again.input_id == row.input_id and again.state is PendingInputState.COMPLETED

    async def test_claims_supersede_across_lease_generations(self, store_factory: StoreFactory) -> None:
        """A dead generation's claim is visible as pending again and the new generation can claim its rows."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            row = await add_input(store, sid, "hi")
            stale = await store.claim_next_turn_inputs(old.fence)
            assert stale is not None and list(await store.list_pending_inputs(sid)) == []
            await store_factory.expire()
            assert [i.input_id for i in await store.list_pending_inputs(sid)] == [row.input_id]
            new = await acquire(store, sid, owner("worker-b"))
            fresh = await store.claim_next_turn_inputs(new.fence)
            assert fresh is not None and fresh.lease_generation == new.fencing_token
            assert fresh.inputs[0].claim is not None and stale.inputs[0].claim is not None
            assert fresh.inputs[0].claim.claim_fencing_token > stale.inputs[0].claim.claim_fencing_token
            assert await store.abandon_input_claim(stale.ref) == 0

    async def test_a_dead_claim_is_reclaimed_as_the_same_group(self, store_factory: StoreFactory) -> None:
        """After the claimant's lease died, its inputs are claimed again alone, not merged with newer input."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            first = await add_input(store, sid, "a")
            second = await add_input(store, sid, "b")
            stale = await store.claim_next_turn_inputs(old.fence)
            assert stale is not None and len(stale.inputs) == 2
            await store_factory.expire()
            newer = await add_input(store, sid, "c")
            new = await acquire(store, sid, owner("worker-b"))
            again = await store.claim_next_turn_inputs(new.fence)
            assert again is not None
            assert [i.input_id for i in again.inputs] == [first.input_id, second.input_id]
            rest = await store.claim_next_turn_inputs(new.fence)
            assert rest is not None and [i.input_id for i in rest.inputs] == [newer.input_id]

    async def test_same_generation_scans_reach_rows_beyond_the_surplus(
        self, store_factory: StoreFactory
    ) -> None:
        """Many rows claimed by this generation do not hide later claimable rows from the next claim."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            rows = [await add_input(store, sid, f"m{i}") for i in range(_SCAN_SURPLUS + 4)]
            first = await store.claim_next_turn_inputs(lease.fence, max_inputs=_SCAN_SURPLUS)
            assert first is not None and len(first.inputs) == _SCAN_SURPLUS
            rest = await store.claim_next_turn_inputs(lease.fence, max_inputs=10)
            assert rest is not None
            assert [i.input_id for i in rest.inputs] == [r.input_id for r in rows[_SCAN_SURPLUS:]]

    async def test_concurrent_claims_have_one_owner(self, store_factory: StoreFactory) -> None:
        """Two handles claiming at once with the same fence never take the same row."""
        sid = new_session_id()
        taken: list[str] = []
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            for i in range(6):
                await add_input(store, sid, f"m{i}")

        async def claim() -> None:
            async with store_factory.opened() as handle:
                got = await handle.claim_next_turn_inputs(lease.fence, max_inputs=4)
                if got is not None:
                    taken.extend(i.input_id for i in got.inputs)

        async with anyio.create_task_group() as group:
            group.start_soon(claim)
            group.start_soon(claim)
        assert len(taken) == len(set(taken)) == 6

    async def test_dead_generation_accepted_inputs_are_reclaimed_or_deferred(
        self, store_factory: StoreFactory
    ) -> None:
        """Inputs accepted under a dead lease are claimable by the new generation at the same turn,
        and deferred by its commit when it does not take them."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            taken = await add_input(store, sid, "taken again", active("t1"))
            missed = await add_input(store, sid, "missed", active("t1"))
            stale = await store.claim_active_inputs(old.fence, "t1", InputBoundary.AFTER_WORK)
            assert stale is not None and len(stale.inputs) == 2
            assert all(i.state is PendingInputState.ACCEPTED for i in stale.inputs)
            await store_factory.expire()
            new = await acquire(store, sid, owner("worker-b"))
            again = await store.claim_active_inputs(new.fence, "t1", InputBoundary.AFTER_WORK, max_inputs=1)
            assert again is not None and [i.input_id for i in again.inputs] == [taken.input_id]
            await store.commit(
                make_commit(
                    sid,
                    "t1",
                    lease=new.fence,
                    completed_input_claims=(again.ref,),
                    defer_active_inputs_of_turn="t1",
                )
            )
            assert await state_of(store, sid, taken.input_id) is PendingInputState.COMPLETED
            assert await state_of(store, sid, missed.input_id) is PendingInputState.DEFERRED_NEXT_TURN
            follow_up = await store.claim_next_turn_inputs(new.fence)
            assert follow_up is not None and [i.input_id for i in follow_up.inputs] == [missed.input_id]

    async def test_retry_of_a_deferred_active_input_is_idempotent(self, store_factory: StoreFactory) -> None:
        """After deferral rewrote its ingress, a retry naming the original active turn returns the row."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            row = await add_input(store, sid, "hi", active("t1"), source_key="msg-1")
            await store.commit(make_commit(sid, "t1", lease=lease.fence, defer_active_inputs_of_turn="t1"))
            again = await add_input(store, sid, "hi", active("t1"), source_key="msg-1")
            assert again.input_id == row.input_id and again.state is PendingInputState.DEFERRED_NEXT_TURN
            with pytest.raises(SourceKeyConflict):
                await add_input(store, sid, "hi", source_key="msg-1")

    async def test_active_input_for_a_committed_turn_is_deferred(self, store_factory: StoreFactory) -> None:
        """Active input naming a turn the session already committed is stored as a next-turn input
        (no checkpoint of that turn will claim it); its key still matches the input as submitted.
        Turns that did not commit, and the same turn id in another session, are unaffected."""
        sid, elsewhere = new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await commit(store, sid, "t1", lease=lease.fence)
            late = await add_input(store, sid, "late", active("t1"), source_key="late-1")
            assert late.state is PendingInputState.DEFERRED_NEXT_TURN
            assert late.ingress == NextTurn() and late.claim is None
            assert await store.get_input(sid, late.input_id) == late
            running = await add_input(store, sid, "running", active("t2"))
            assert running.state is PendingInputState.PENDING_ACTIVE
            other = await add_input(store, elsewhere, "other session", active("t1"))
            assert other.state is PendingInputState.PENDING_ACTIVE
            again = await add_input(store, sid, "late", active("t1"), source_key="late-1")
            assert again.input_id == late.input_id and again.state is PendingInputState.DEFERRED_NEXT_TURN
            with pytest.raises(SourceKeyConflict, match="late-1"):
                await add_input(store, sid, "late", source_key="late-1")
            assert await store.claim_active_inputs(lease.fence, "t1", InputBoundary.BEFORE_COMPLETION) is None
            claim = await store.claim_next_turn_inputs(lease.fence)
            assert claim is not None and [i.input_id for i in claim.inputs] == [late.input_id]

    async def test_active_input_racing_the_commit_of_its_turn_is_never_stranded(
        self, store_factory: StoreFactory
    ) -> None:
        """Active inputs enqueued through other handles while the turn commits are each either
        deferred by the commit or, when the commit came first, stored deferred: none is left
        pending_active for a turn that is over."""
        sid = new_session_id()
        enqueued: list[PendingInput] = []
        ready: list[str] = []
        go = anyio.Event()

        async def start(name: str) -> None:  # every handle is open before any of them writes
            ready.append(name)
            if len(ready) == _RACERS + 1:
                go.set()
            await go.wait()

        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await commit(store, sid, "t0", lease=lease.fence)

            async def enqueue(racer: int) -> None:
                async with store_factory.opened() as handle:
                    await start(f"enqueuer {racer}")
                    for i in range(_RACED_INPUTS):
                        enqueued.append(await add_input(handle, sid, f"r{racer}-{i}", active("t1")))
                        await anyio.lowlevel.checkpoint()  # let the commit land between two enqueues

            async def end_turn() -> None:
                async with store_factory.opened() as handle:
                    sent = make_commit(
                        sid, "t1", expected=1, lease=lease.fence, defer_active_inputs_of_turn="t1"
                    )
                    await start("committer")
                    await handle.commit(sent)

            async with anyio.create_task_group() as group:
                for racer in range(_RACERS):
                    group.start_soon(enqueue, racer)
                group.start_soon(end_turn)
            assert len(enqueued) == _RACERS * _RACED_INPUTS
            stranded = [
                row.input_id
                for row in enqueued
                if await state_of(store, sid, row.input_id) is not PendingInputState.DEFERRED_NEXT_TURN
            ]
            assert stranded == []
