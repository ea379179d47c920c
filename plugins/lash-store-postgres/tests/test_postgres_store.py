"""PostgreSQL-specific behaviour: the database clock, concurrency between pools, SKIP LOCKED,
errors that are safe to retry, and the store's life cycle."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import psycopg
import pytest
from lash_store_postgres import PostgresSettings, PostgresStore, PostgresUnavailable, TransientStoreError

from lash_core.errors import HeadConflict, LeaseLost, StoreClosed
from lash_core.model import TurnInput
from lash_core.store import LeaseAcquired, LeaseBusy, LeaseOwner, PendingInputDraft

pytestmark = pytest.mark.anyio

_NOW_EXPR = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"


def _db_now(sql: Callable[..., list[tuple[object, ...]]]) -> int:
    return int(sql(f"SELECT {_NOW_EXPR}")[0][0])  # type: ignore[call-overload]


async def test_leases_are_stamped_by_the_database_clock(
    make_store: Callable[..., PostgresStore],
    sql: Callable[..., list[tuple[object, ...]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the worker's clock a day ahead, a lease is still stamped and judged live by the server's clock."""
    day_ms = 86_400_000
    real_time, real_time_ns = time.time, time.time_ns
    monkeypatch.setattr(time, "time", lambda: real_time() + day_ms / 1000)
    monkeypatch.setattr(time, "time_ns", lambda: real_time_ns() + day_ms * 1_000_000)
    store = make_store()
    await store.open()
    try:
        before = _db_now(sql)
        claim = await store.try_claim_lease("clock-session", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
        after = _db_now(sql)
        assert isinstance(claim, LeaseAcquired)
        assert before <= claim.lease.claimed_at_ms <= after
        assert claim.lease.expires_at_ms == claim.lease.claimed_at_ms + 60_000
        assert await store.load_lease("clock-session") == claim.lease
        renewed = await store.renew_lease(claim.lease.fence, ttl_ms=60_000)
        assert renewed.expires_at_ms <= _db_now(sql) + 60_000
    finally:
        await store.close()


async def test_expiry_is_decided_by_the_database_clock(
    make_store: Callable[..., PostgresStore], sql: Callable[..., list[tuple[object, ...]]]
) -> None:
    """A lease whose recorded expiry passed on the server's clock is free for another owner at once."""
    store = make_store()
    await store.open()
    try:
        first = await store.try_claim_lease("expiry-session", LeaseOwner("worker-a", "1"), ttl_ms=600_000)
        assert isinstance(first, LeaseAcquired)
        sql(
            f"UPDATE {{s}}.leases SET expires_at_ms = {_NOW_EXPR} - 1 WHERE session_id = %s",
            ("expiry-session",),
        )
        assert await store.load_lease("expiry-session") is None
        with pytest.raises(LeaseLost, match=r"expired .* by the database clock"):
            await store.renew_lease(first.lease.fence)
        second = await store.try_claim_lease("expiry-session", LeaseOwner("worker-b", "1"), ttl_ms=60_000)
        assert isinstance(second, LeaseAcquired)
        assert second.lease.fencing_token == first.lease.fencing_token + 1
    finally:
        await store.close()


async def test_concurrent_first_claims_from_two_pools_have_one_winner(
    make_store: Callable[..., PostgresStore],
) -> None:
    """Two stores (two pools) racing for the same never-claimed leases: exactly one wins each session."""
    sessions = [f"race-{i}" for i in range(12)]
    results: dict[str, list[str]] = {sid: [] for sid in sessions}
    stores = [make_store(max_pool_size=6), make_store(max_pool_size=6)]
    for store in stores:
        await store.open()
    try:

        async def race(store: PostgresStore, who: str, sid: str) -> None:
            claim = await store.try_claim_lease(sid, LeaseOwner(who, "1"), ttl_ms=60_000)
            if isinstance(claim, LeaseAcquired):
                results[sid].append(who)
            else:
                assert isinstance(claim, LeaseBusy)

        async with anyio.create_task_group() as group:
            for sid in sessions:
                for index, store in enumerate(stores):
                    for copy in range(2):
                        group.start_soon(race, store, f"pool{index}-worker{copy}", sid)
        for sid in sessions:
            assert len(results[sid]) == 1, f"{sid}: winners {results[sid]}"
            held = await stores[0].load_lease(sid)
            assert held is not None and held.owner.owner_id == results[sid][0] and held.fencing_token == 1
    finally:
        for store in stores:
            await store.close()


async def test_claims_from_two_pools_never_double_claim(make_store: Callable[..., PostgresStore]) -> None:
    """Many small claims racing from two pools with the same fence take every input exactly once."""
    first, second = make_store(max_pool_size=4), make_store(max_pool_size=4)
    await first.open()
    await second.open()
    try:
        claim = await first.try_claim_lease("skip-session", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
        assert isinstance(claim, LeaseAcquired)
        fence = claim.lease.fence
        expected = set()
        for i in range(40):
            row = await first.enqueue_input(PendingInputDraft("skip-session", TurnInput.text(f"m{i}")))
            expected.add(row.input_id)
        taken: list[str] = []

        async def drain(store: PostgresStore) -> None:
            while (got := await store.claim_next_turn_inputs(fence, max_inputs=3)) is not None:
                taken.extend(i.input_id for i in got.inputs)

        async with anyio.create_task_group() as group:
            for store in (first, second, first, second):
                group.start_soon(drain, store)
        assert len(taken) == len(set(taken)) and set(taken) == expected
    finally:
        await first.close()
        await second.close()


async def test_claims_skip_rows_another_transaction_has_locked(
    make_store: Callable[..., PostgresStore], postgres_dsn: str, pg_schema: str
) -> None:
    """Rows locked by another open transaction are skipped at once (SKIP LOCKED), not waited for."""
    store = make_store(lock_timeout_ms=2_000)
    await store.open()
    try:
        claim = await store.try_claim_lease("locked-session", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
        assert isinstance(claim, LeaseAcquired)
        rows = [
            await store.enqueue_input(PendingInputDraft("locked-session", TurnInput.text(f"m{i}")))
            for i in range(4)
        ]
        with psycopg.connect(postgres_dsn) as other:  # a transaction stays open until the block ends
            other.execute(
                f'SELECT 1 FROM "{pg_schema}".inputs WHERE input_id = ANY(%s) FOR UPDATE',
                ([rows[0].input_id, rows[1].input_id],),
            )
            started = time.monotonic()
            got = await store.claim_next_turn_inputs(claim.lease.fence)
            assert time.monotonic() - started < 1.5
            assert got is not None and [i.input_id for i in got.inputs] == [r.input_id for r in rows[2:]]
            other.rollback()
        rest = await store.claim_next_turn_inputs(claim.lease.fence)
        assert rest is not None and [i.input_id for i in rest.inputs] == [r.input_id for r in rows[:2]]
    finally:
        await store.close()


async def test_a_lock_timeout_is_a_retryable_head_conflict(
    make_store: Callable[..., PostgresStore], postgres_dsn: str, pg_schema: str
) -> None:
    """When the session lock stays taken past lock_timeout_ms the call fails with a retryable error."""
    store = make_store(lock_timeout_ms=150)
    await store.open()
    try:
        with psycopg.connect(postgres_dsn) as other:
            other.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f'lash-session:"{pg_schema}":busy-session',),
            )
            with pytest.raises(TransientStoreError, match="lock timeout") as caught:
                await store.try_claim_lease("busy-session", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
            other.rollback()
        assert isinstance(caught.value, HeadConflict) and caught.value.retryable
        assert caught.value.sqlstate == "55P03"
        retry = await store.try_claim_lease("busy-session", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
        assert isinstance(retry, LeaseAcquired)
    finally:
        await store.close()


async def test_a_closed_store_refuses_calls(make_store: Callable[..., PostgresStore]) -> None:
    """Before open() and after close() every call raises StoreClosed; close() is idempotent."""
    store = make_store()
    with pytest.raises(StoreClosed):
        await store.load_head("s")
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreClosed, match="open"):
        await store.list_sessions()


async def test_an_unreachable_server_is_reported_with_the_fix() -> None:
    """Opening a store whose server is not listening fails with PostgresUnavailable naming the target."""
    store = PostgresStore(
        PostgresSettings(dsn="postgresql://lash@127.0.0.1:9/nowhere", connect_timeout_s=0.5, min_pool_size=1)
    )
    with pytest.raises(PostgresUnavailable, match=r"127\.0\.0\.1:9/nowhere.*dsn"):
        await store.open()
    with pytest.raises(StoreClosed):
        await store.load_head("s")
