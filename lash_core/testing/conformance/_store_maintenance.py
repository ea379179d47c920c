"""Conformance cases: durability, attachments, vacuum, the pending-work scan, reopen."""

from __future__ import annotations

import hashlib

import pytest

from lash_core.effects import DurabilityTier
from lash_core.model import TurnInput
from lash_core.store import BySourceKey, LeaseBusy, PendingInputState, WorkBoundary
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


class MaintenanceCases:
    """Durability, attachments, maintenance and reopening."""

    async def test_declares_its_durability(self, store_factory: StoreFactory) -> None:
        """The store declares a durability tier (the one the factory expects, when it names one)."""
        async with store_factory.opened() as store:
            assert isinstance(store.durability, DurabilityTier)
            if store_factory.durability is not None:
                assert store.durability is store_factory.durability

    async def test_attachments_are_content_addressed(self, store_factory: StoreFactory) -> None:
        """put returns the sha256 id and the bytes read back; the same bytes give the same id."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            ref = await store.put_attachment(sid, b"\x89PNG bytes", "image/png", "a.png")
            assert ref.attachment_id == hashlib.sha256(b"\x89PNG bytes").hexdigest()
            assert (ref.media_type, ref.size, ref.name) == ("image/png", 10, "a.png")
            assert await store.get_attachment(sid, ref.attachment_id) == b"\x89PNG bytes"
            again = await store.put_attachment(sid, b"\x89PNG bytes", "image/png", "a.png")
            assert again.attachment_id == ref.attachment_id

    async def test_a_session_cannot_read_another_sessions_attachment(
        self, store_factory: StoreFactory
    ) -> None:
        """Knowing the hash is not enough: another session's get raises KeyError."""
        owner_sid, other_sid = new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            ref = await store.put_attachment(owner_sid, b"secret", "text/plain", None)
            with pytest.raises(KeyError):
                await store.get_attachment(other_sid, ref.attachment_id)
            with pytest.raises(KeyError):
                await store.get_attachment(owner_sid, hashlib.sha256(b"never put").hexdigest())

    async def test_gc_keeps_committed_and_young_attachments(self, store_factory: StoreFactory) -> None:
        """GC deletes uncommitted attachments past the grace period and keeps committed ones."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            kept = await store.put_attachment(sid, b"referenced", "text/plain", None)
            dropped = await store.put_attachment(sid, b"abandoned", "text/plain", None)
            await store.commit(make_commit(sid, "t1", attachment_ids=(kept.attachment_id,)))
            young = await store.gc_attachments(grace_ms=3_600_000)
            assert young.deleted == 0 and young.retained >= 2
            report = await store.gc_attachments(grace_ms=0)
            assert report.deleted >= 1
            assert await store.get_attachment(sid, kept.attachment_id) == b"referenced"
            with pytest.raises(KeyError):
                await store.get_attachment(sid, dropped.attachment_id)

    async def test_vacuum_removes_terminal_rows(self, store_factory: StoreFactory) -> None:
        """Vacuum deletes cancelled and completed inputs and work; their keys are free afterwards."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            cancelled = await add_input(store, sid, "drop", source_key="drop")
            await store.cancel_inputs(sid, [BySourceKey("drop")])
            kept = await add_input(store, sid, "keep")
            work = await add_work(store, sid, task("a"), source_key="w")
            claim = await store.claim_ready_work(lease.fence, WorkBoundary.IDLE)
            assert claim is not None
            await store.commit(make_commit(sid, "t1", lease=lease.fence, completed_work_claims=(claim.ref,)))
            report = await store.vacuum()
            assert report.removed_inputs >= 1 and report.removed_work_batches >= 1
            assert await store.get_input(sid, cancelled.input_id) is None
            assert await store.get_input(sid, kept.input_id) is not None
            fresh = await add_input(store, sid, "drop", source_key="drop")
            assert fresh.input_id != cancelled.input_id
            assert (await add_work(store, sid, task("a"), source_key="w")).batch_id != work.batch_id

    async def test_sessions_with_pending_work_are_listed(self, store_factory: StoreFactory) -> None:
        """Sessions with a deferred input or ready work are listed; live-claimed ones are not."""
        with_input, with_work, claimed, idle = (new_session_id() for _ in range(4))
        async with store_factory.opened() as store:
            await add_input(store, with_input, "hi")
            await add_work(store, with_work, task("a"))
            await add_input(store, idle, "active only", active("t1"))
            lease = await acquire(store, claimed)
            await add_input(store, claimed, "mine")
            assert await store.claim_next_turn_inputs(lease.fence) is not None
            listed = set(await store.list_sessions_with_pending_work())
            assert {with_input, with_work} <= listed
            assert claimed not in listed and idle not in listed

    async def test_reopen_keeps_everything(self, store_factory: StoreFactory) -> None:
        """Closing and reopening finds the session, inputs, work, attachments and the live lease."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await store.commit(make_commit(sid, "t1", lease=lease.fence))
            row = await add_input(store, sid, "later", source_key="k")
            work = await add_work(store, sid, task("a"))
            ref = await store.put_attachment(sid, b"kept", "text/plain", None)
        async with store_factory.opened() as store:
            record = await store.load_session(sid)
            assert record is not None and record.head.head_revision == 1 and len(record.nodes) == 2
            assert record.nodes == make_commit(sid, "t1").nodes
            assert list(await store.list_pending_inputs(sid)) == [row]
            stored = await store.get_input(sid, row.input_id)
            assert stored is not None and stored.input == TurnInput.text("later")
            assert [b.batch_id for b in await store.list_work(sid)] == [work.batch_id]
            assert await store.get_attachment(sid, ref.attachment_id) == b"kept"
            renewed = await store.renew_lease(lease.fence)
            assert renewed.fencing_token == lease.fencing_token
            replay = await store.commit(make_commit(sid, "t1", lease=lease.fence))
            assert replay.replayed and replay.head_revision == 1
            assert (
                await add_input(store, sid, "later", source_key="k")
            ).state is PendingInputState.DEFERRED_NEXT_TURN
            busy = await store.try_claim_lease(sid, owner("worker-b"))
            assert isinstance(busy, LeaseBusy) and busy.holder.fence == lease.fence
