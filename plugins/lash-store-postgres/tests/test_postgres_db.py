"""The PostgreSQL store's transaction runner: broken pooled connections, retries, round trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from lash_store_postgres import PostgresStore, PostgresUnavailable
from lash_store_postgres._db import Tx
from psycopg_pool import ConnectionPool

from lash_core.errors import StoreError
from lash_core.store import LeaseAcquired, LeaseOwner
from lash_core.testing.conformance._store_support import make_commit

pytestmark = pytest.mark.anyio

Sql = Callable[..., list[tuple[object, ...]]]


def _backend_pid(tx: Tx) -> int:
    row = tx.one("SELECT pg_backend_pid() AS pid", last=True)
    assert row is not None
    return int(row["pid"])


def _terminate(sql: Sql, pid: int) -> None:
    """End the server backend ``pid`` and wait (up to 5 s) until it is gone."""
    assert sql("SELECT pg_terminate_backend(%s, 5000)", (pid,)) == [(True,)]


def _dying_at_commit(sql: Sql) -> None:
    """Create ``{s}.probe`` whose inserts end their server backend while their transaction
    commits (a deferred constraint trigger): the connection breaks in the round trip that
    carries the ``COMMIT``, every time, whatever the timing."""
    sql("CREATE TABLE {s}.probe (n int)")
    sql(
        "CREATE FUNCTION {s}.die() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
    )
    sql(
        "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON {s}.probe "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.die()"
    )


def _probe_rows(sql: Sql) -> list[object]:
    return [row[0] for row in sql("SELECT n FROM {s}.probe ORDER BY n")]


@pytest.fixture
def single_connection_store(make_store: Callable[..., PostgresStore]) -> Iterator[PostgresStore]:
    """A store whose pool holds exactly one connection (so a call reuses the one a test broke)."""
    yield make_store(min_pool_size=1, max_pool_size=1)


async def test_a_pooled_connection_the_server_ended_does_not_fail_the_next_call(
    single_connection_store: PostgresStore, sql: Sql
) -> None:
    """A pooled connection terminated with pg_terminate_backend is replaced; the next call succeeds."""
    store = single_connection_store
    await store.open()
    try:
        first = await store.database.run("reading the backend", _backend_pid)
        _terminate(sql, first)
        assert await store.load_head("after-the-kill") is None
        second = await store.database.run("reading the backend", _backend_pid)
        assert second != first
    finally:
        await store.close()


async def test_a_connection_that_breaks_before_the_commit_runs_the_call_again(
    single_connection_store: PostgresStore, sql: Sql
) -> None:
    """A call whose connection breaks before its COMMIT was sent runs again; the first attempt left nothing."""
    store = single_connection_store
    await store.open()
    sql("CREATE TABLE {s}.probe (n int)")
    attempts: list[int] = []

    def insert_then_break_once(tx: Tx) -> str:
        attempts.append(len(attempts) + 1)
        tx.send("INSERT INTO {s}.probe VALUES (%s)", (len(attempts),))
        if len(attempts) == 1:
            tx.one("SELECT pg_terminate_backend(pg_backend_pid())")
        return "done"

    try:
        assert await store.database.run("a probe write", insert_then_break_once) == "done"
    finally:
        await store.close()
    assert attempts == [1, 2]
    assert _probe_rows(sql) == [2]


async def test_a_call_whose_commit_outcome_is_unknown_is_not_run_again(
    make_store: Callable[..., PostgresStore], sql: Sql
) -> None:
    """When the connection breaks in the round trip that carries the COMMIT, the call fails retryably, once."""
    store = make_store(min_pool_size=1, max_pool_size=3)  # a wrong retry would run it up to 4 times
    await store.open()
    _dying_at_commit(sql)
    attempts: list[int] = []

    def write_and_break_with_the_commit(tx: Tx) -> None:
        attempts.append(1)
        tx.execute("INSERT INTO {s}.probe VALUES (1)", last=True)

    try:
        with pytest.raises(PostgresUnavailable, match="retry") as caught:
            await store.database.run("a probe write", write_and_break_with_the_commit)
        assert caught.value.retryable
        assert await store.load_head("still-usable") is None
    finally:
        await store.close()
    assert attempts == [1]


async def test_an_idempotent_call_is_run_again_when_its_commit_outcome_is_unknown(
    single_connection_store: PostgresStore, sql: Sql
) -> None:
    """A call that declares itself idempotent (a read, a turn commit) is run again after such a break."""
    store = single_connection_store
    await store.open()
    _dying_at_commit(sql)
    attempts: list[int] = []

    def read_and_break_once(tx: Tx) -> int:
        tx.idempotent = True
        attempts.append(1)
        query = "INSERT INTO {s}.probe VALUES (1)" if len(attempts) == 1 else "SELECT 1"
        return tx.execute(query, last=True)

    try:
        assert await store.database.run("a probe read", read_and_break_once) == 1
    finally:
        await store.close()
    assert attempts == [1, 1]


async def test_a_failed_statement_rolls_the_call_back_and_keeps_the_connection_clean(
    single_connection_store: PostgresStore, sql: Sql, caplog: pytest.LogCaptureFixture
) -> None:
    """A statement that fails inside a batch rolls back everything the call sent; the connection
    goes back to the pool idle and serves the next call."""
    store = single_connection_store
    await store.open()
    sql("CREATE TABLE {s}.probe (n int PRIMARY KEY)")

    def insert_twice(tx: Tx) -> None:
        tx.send("INSERT INTO {s}.probe VALUES (1)")
        tx.send("INSERT INTO {s}.probe VALUES (1)")
        tx.one("SELECT 1")

    try:
        before = await store.database.run("reading the backend", _backend_pid)
        with caplog.at_level("WARNING", logger="psycopg"):
            with pytest.raises(StoreError, match="23505"):
                await store.database.run("a probe write", insert_twice)
            assert await store.database.run("reading the backend", _backend_pid) == before
        assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []
    finally:
        await store.close()
    assert _probe_rows(sql) == []


async def test_a_healthy_connection_is_used_without_a_check_and_calls_take_few_round_trips(
    single_connection_store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No call pings its pooled connection; a head load is one round trip, a turn commit two."""
    store = single_connection_store
    await store.open()
    checks: list[object] = []
    trips: list[int] = []
    check, sync = ConnectionPool.check_connection, Tx.sync

    def counted_check(conn: psycopg.Connection[object]) -> None:
        checks.append(conn)
        check(conn)

    def counted_sync(tx: Tx) -> None:
        if tx._pipeline is not None:
            trips.append(1)
        sync(tx)

    async def round_trips(call: object) -> int:
        trips.clear()
        await call  # type: ignore[misc]
        return len(trips)

    try:
        claim = await store.try_claim_lease("counted", LeaseOwner("worker-a", "1"), ttl_ms=60_000)
        assert isinstance(claim, LeaseAcquired)
        monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted_check))
        monkeypatch.setattr(Tx, "sync", counted_sync)
        commit = make_commit("counted", "t1", lease=claim.lease.fence, release_lease=True)
        assert await round_trips(store.load_head("counted")) == 1
        assert await round_trips(store.commit(commit)) == 2
        assert await round_trips(store.load_session("counted")) == 1
        assert await round_trips(store.release_lease(claim.lease.fence)) == 1
        assert checks == []
    finally:
        await store.close()
