"""Conformance cases: the session execution lease."""

from __future__ import annotations

import anyio
import pytest
from attrs import evolve

from lash_core.errors import LeaseLost
from lash_core.store import (
    LeaseAcquired,
    LeaseBusy,
    LeaseOwner,
    current_process_liveness,
)
from lash_core.testing.conformance._store_support import (
    LONG_TTL_MS,
    StoreFactory,
    acquire,
    new_session_id,
    owner,
)


def _local_owner(name: str, *, dead: bool) -> LeaseOwner:
    """An owner with this process's liveness; ``dead`` makes its recorded start time wrong,
    which :func:`~lash_core.store.holder_proven_dead` reads as a reused pid."""
    liveness = current_process_liveness()
    if liveness is None:
        pytest.skip("local-process liveness needs /proc (Linux)")
    if dead:
        liveness = evolve(liveness, process_start=liveness.process_start + 1)
    return LeaseOwner(name, "1", liveness)


class LeaseCases:
    """The session execution lease contract."""

    async def test_fresh_lease_is_acquired_and_loaded(self, store_factory: StoreFactory) -> None:
        """A free lease is acquired with a positive fencing token and an expiry after its claim."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            assert lease.session_id == sid and lease.owner == owner()
            assert lease.fencing_token >= 1 and lease.expires_at_ms - lease.claimed_at_ms == LONG_TTL_MS
            assert await store.load_lease(sid) == lease

    async def test_same_owner_and_incarnation_re_enters(self, store_factory: StoreFactory) -> None:
        """The holder claiming again gets the same tokens and an expiry no earlier than before."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            first = await acquire(store, sid)
            await store_factory.sleep(0.01)
            again = await acquire(store, sid)
            assert (again.lease_token, again.fencing_token) == (first.lease_token, first.fencing_token)
            assert again.expires_at_ms >= first.expires_at_ms

    async def test_other_incarnation_and_other_owner_are_busy(self, store_factory: StoreFactory) -> None:
        """A restarted owner (new incarnation) and another owner both see the holder as busy."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            held = await acquire(store, sid)
            for other in (owner(incarnation="2"), owner("worker-b")):
                claim = await store.try_claim_lease(sid, other, ttl_ms=LONG_TTL_MS)
                assert isinstance(claim, LeaseBusy) and claim.holder.fence == held.fence

    async def test_renew_keeps_the_fencing_token(self, store_factory: StoreFactory) -> None:
        """Renewal extends the expiry and keeps both tokens."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await store_factory.sleep(0.01)
            renewed = await store.renew_lease(lease.fence, ttl_ms=LONG_TTL_MS)
            assert renewed.fence == lease.fence and renewed.expires_at_ms >= lease.expires_at_ms

    async def test_renew_after_release_is_lease_lost(self, store_factory: StoreFactory) -> None:
        """A released lease cannot be renewed."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            await store.release_lease(lease.fence)
            with pytest.raises(LeaseLost):
                await store.renew_lease(lease.fence)

    async def test_renew_after_expiry_is_lease_lost(self, store_factory: StoreFactory) -> None:
        """An expired lease cannot be renewed (store clock)."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await store_factory.expire()
            with pytest.raises(LeaseLost):
                await store.renew_lease(lease.fence)
            assert await store.load_lease(sid) is None

    async def test_expired_lease_goes_to_another_owner_with_a_greater_token(
        self, store_factory: StoreFactory
    ) -> None:
        """After expiry another owner acquires; its fencing token is greater; the old fence cannot renew."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await store_factory.expire()
            new = await acquire(store, sid, owner("worker-b"))
            assert new.fencing_token > old.fencing_token and new.lease_token != old.lease_token
            with pytest.raises(LeaseLost):
                await store.renew_lease(old.fence)

    async def test_release_then_acquire_increases_the_token(self, store_factory: StoreFactory) -> None:
        """A release keeps the fencing counter: the next acquisition, even by the same owner, is greater."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            first = await acquire(store, sid)
            assert await store.release_lease(first.fence)
            assert await store.load_lease(sid) is None
            second = await acquire(store, sid)
            assert second.fencing_token > first.fencing_token

    async def test_release_is_idempotent(self, store_factory: StoreFactory) -> None:
        """Releasing twice answers False the second time."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            lease = await acquire(store, sid)
            assert await store.release_lease(lease.fence)
            assert not await store.release_lease(lease.fence)

    async def test_release_never_clears_a_newer_owner(self, store_factory: StoreFactory) -> None:
        """A stale holder releasing after a takeover leaves the new holder's lease alone."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid, ttl_ms=store_factory.short_ttl_ms)
            await store_factory.expire()
            new = await acquire(store, sid, owner("worker-b"))
            assert not await store.release_lease(old.fence)
            held = await store.load_lease(sid)
            assert held is not None and held.fence == new.fence

    async def test_live_leases_are_listed(self, store_factory: StoreFactory) -> None:
        """list_live_leases shows held leases and leaves out released and expired ones."""
        held, released, expiring = new_session_id(), new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            kept = await acquire(store, held)
            gone = await acquire(store, released)
            assert await store.release_lease(gone.fence)
            await acquire(store, expiring, ttl_ms=store_factory.short_ttl_ms)
            ours = {held, released, expiring}
            listed = [lease for lease in await store.list_live_leases() if lease.session_id in ours]
            assert [lease.session_id for lease in listed] == sorted({held, expiring})
            await store_factory.expire()
            listed = [lease for lease in await store.list_live_leases() if lease.session_id in ours]
            assert [lease.fence for lease in listed] == [kept.fence]

    async def test_reclaim_of_a_free_lease_acquires(self, store_factory: StoreFactory) -> None:
        """Reclaiming a lease nobody holds any more simply acquires it."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            old = await acquire(store, sid)
            await store.release_lease(old.fence)
            claim = await store.reclaim_lease(sid, owner("worker-b"), old.fence, ttl_ms=LONG_TTL_MS)
            assert isinstance(claim, LeaseAcquired) and claim.lease.fencing_token > old.fencing_token

    async def test_reclaim_takes_over_a_holder_proven_dead(self, store_factory: StoreFactory) -> None:
        """A live lease whose local process is proven gone is taken over with a greater token."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            dead = await acquire(store, sid, _local_owner("worker-dead", dead=True))
            claimant = _local_owner("worker-b", dead=False)
            claim = await store.reclaim_lease(sid, claimant, dead.fence, ttl_ms=LONG_TTL_MS)
            assert isinstance(claim, LeaseAcquired)
            assert claim.lease.owner == claimant and claim.lease.fencing_token > dead.fencing_token
            with pytest.raises(LeaseLost):
                await store.renew_lease(dead.fence)

    async def test_reclaim_leaves_a_live_holder_alone(self, store_factory: StoreFactory) -> None:
        """A holder whose process is alive (or opaque) is busy for a reclaim."""
        sid, opaque_sid = new_session_id(), new_session_id()
        async with store_factory.opened() as store:
            alive = await acquire(store, sid, _local_owner("worker-alive", dead=False))
            claimant = _local_owner("worker-b", dead=False)
            claim = await store.reclaim_lease(sid, claimant, alive.fence, ttl_ms=LONG_TTL_MS)
            assert isinstance(claim, LeaseBusy) and claim.holder.fence == alive.fence
            opaque = await acquire(store, opaque_sid)
            claim = await store.reclaim_lease(opaque_sid, claimant, opaque.fence, ttl_ms=LONG_TTL_MS)
            assert isinstance(claim, LeaseBusy) and claim.holder.fence == opaque.fence

    async def test_reclaim_with_a_stale_observation_cannot_clear_a_newer_lease(
        self, store_factory: StoreFactory
    ) -> None:
        """A reclaim naming a holder that has since been replaced is busy with the current holder."""
        sid = new_session_id()
        async with store_factory.opened() as store:
            observed = await acquire(store, sid, _local_owner("worker-a", dead=True))
            await store.release_lease(observed.fence)
            newer = await acquire(store, sid, _local_owner("worker-c", dead=True))
            claim = await store.reclaim_lease(sid, _local_owner("worker-b", dead=False), observed.fence)
            assert isinstance(claim, LeaseBusy) and claim.holder.fence == newer.fence

    async def test_first_claim_excludes_concurrent_handles(self, store_factory: StoreFactory) -> None:
        """Two handles racing for a free lease: exactly one acquires."""
        sid = new_session_id()
        results: list[bool] = []

        async def race(name: str) -> None:
            async with store_factory.opened() as store:
                claim = await store.try_claim_lease(sid, owner(name), ttl_ms=LONG_TTL_MS)
                results.append(isinstance(claim, LeaseAcquired))

        async with anyio.create_task_group() as group:
            for name in ("worker-a", "worker-b", "worker-c"):
                group.start_soon(race, name)
        assert sorted(results) == [False, False, True]
