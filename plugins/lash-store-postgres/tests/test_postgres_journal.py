"""The effect journal in PostgreSQL and the ``postgres-journal`` effect host: first writer wins,
entries outlive the worker, a crashed turn is replayed by a new worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from lash_store_postgres import PostgresEffectJournal, PostgresSettings, PostgresStore, journaling_host
from lash_store_postgres import plugin as postgres_plugin

from lash_core.effects import DurabilityTier
from lash_core.effects_journal import JournalEntry, JournalingEffectHost, JournalStatus, turn_scope_id
from lash_core.runtime import Runtime
from lash_core.testing import ScriptedProvider
from lash_core.testing.effects import CrashingJournal, effect_host_plugin, expect_crash
from lash_core.testing.runtime import scripted_runtime
from lash_core.testing.scenarios import WeatherTurn

pytestmark = pytest.mark.anyio

Sql = Callable[..., list[tuple[object, ...]]]


def _entry(
    key: str = "s1:t1:llm_call:1", result: str = '{"text":"first"}', session: str = "s1"
) -> JournalEntry:
    return JournalEntry(
        scope_id=turn_scope_id(session, "t1"),
        replay_key=key,
        kind="llm_call",
        fingerprint="f" * 64,
        status=JournalStatus.COMPLETED,
        result_json=result,
        session_id=session,
    )


@pytest.fixture
def settings(postgres_dsn: str, pg_schema: str) -> PostgresSettings:
    """Settings of a journal over the test schema."""
    return PostgresSettings(dsn=postgres_dsn, schema=pg_schema, max_pool_size=3)


async def test_put_then_get_and_the_first_put_wins(settings: PostgresSettings) -> None:
    """An entry reads back as journaled; a second put for the same key changes nothing."""
    journal = PostgresEffectJournal(settings)
    try:
        assert await journal.get(turn_scope_id("s1", "t1"), "s1:t1:llm_call:1") is None
        await journal.put(_entry())
        await journal.put(_entry(result='{"text":"second"}'))
        assert await journal.get(turn_scope_id("s1", "t1"), "s1:t1:llm_call:1") == _entry()
        failed = JournalEntry(
            scope_id=turn_scope_id("s1", "t1"),
            replay_key="s1:t1:llm_call:2",
            kind="llm_call",
            fingerprint="a" * 64,
            status=JournalStatus.FAILED,
            error_json='{"message":"boom","failure":null}',
            session_id="s1",
        )
        await journal.put(failed)
        assert await journal.get(failed.scope_id, failed.replay_key) == failed
    finally:
        await journal.aclose()


async def test_two_workers_racing_on_one_key_journal_one_outcome(settings: PostgresSettings) -> None:
    """Concurrent puts of different outcomes for one key from two pools keep exactly one."""
    journals = [PostgresEffectJournal(settings), PostgresEffectJournal(settings)]
    try:
        async with anyio.create_task_group() as group:
            for index, journal in enumerate(journals):
                for copy in range(3):
                    group.start_soon(journal.put, _entry(result=f'{{"worker":{index},"copy":{copy}}}'))
        seen = [await j.get(turn_scope_id("s1", "t1"), "s1:t1:llm_call:1") for j in journals]
        assert seen[0] is not None and seen[0] == seen[1]
    finally:
        for journal in journals:
            await journal.aclose()


async def test_entries_outlive_the_worker_and_go_with_their_session(
    settings: PostgresSettings, make_store: Callable[..., PostgresStore]
) -> None:
    """A new journal reads what a closed one wrote; deleting the session deletes its entries."""
    first = PostgresEffectJournal(settings)
    await first.put(_entry())
    await first.put(_entry(session="other"))
    await first.aclose()
    store = make_store()
    await store.open()
    try:
        shared = PostgresEffectJournal(database=store.database)
        assert await shared.get(turn_scope_id("s1", "t1"), "s1:t1:llm_call:1") == _entry()
        await store.delete_session("s1")
        assert await shared.get(turn_scope_id("s1", "t1"), "s1:t1:llm_call:1") is None
        assert await shared.get(turn_scope_id("other", "t1"), "s1:t1:llm_call:1") is not None
        await shared.aclose()  # a shared pool stays open
        assert await store.load_head("s1") is None
    finally:
        await store.close()


def _worker(scenario: WeatherTurn, journal: Any, settings: PostgresSettings) -> Runtime:
    store = {"type": "postgres", "settings": {"dsn": settings.dsn, "schema": settings.schema}}
    return scenario.runtime(
        postgres_plugin,
        effect_host_plugin(JournalingEffectHost(journal), "journal"),
        config={"store": store, "effect_host": {"type": "journal"}, "owner_id": "worker"},
    )


@pytest.mark.parametrize("k", [1, 3])
async def test_a_crashed_turn_is_replayed_by_a_new_worker(settings: PostgresSettings, k: int) -> None:
    """After a crash with k effects journaled, a new worker re-running the turn repeats none of them."""
    crashed_journal = PostgresEffectJournal(settings)
    try:
        with expect_crash():
            async with _worker(WeatherTurn(), CrashingJournal(crashed_journal, k), settings) as runtime:
                session = await runtime.session("s1")
                await session.turn("weather and population of Paris?", turn_id="t1").run()
    finally:
        await crashed_journal.aclose()
    journal = PostgresEffectJournal(settings)
    try:
        scenario = WeatherTurn()
        async with _worker(scenario, journal, settings) as runtime:
            session = await runtime.session("s1")
            result = await session.turn("weather and population of Paris?", turn_id="t1").run()
            record = await runtime.store.load_session("s1")
        assert result.assistant_output.raw_text == "sunny in Paris; 2100000 people"
        model_calls, tool_calls = len(scenario.provider.requests), sum(scenario.tool_calls.values())
        assert model_calls + tool_calls == 4 - k
        assert record is not None and record.head.turn_count == 1
    finally:
        await journal.aclose()


async def test_the_postgres_journal_host_is_composed_from_configuration(
    settings: PostgresSettings, sql: Sql
) -> None:
    """`effect_host = {type = "postgres-journal"}` journals a turn's effects in the store's schema."""
    options = {"dsn": settings.dsn, "schema": settings.schema}
    config = {
        "store": {"type": "postgres", "settings": options},
        "effect_host": {"type": "postgres-journal", "settings": options},
    }
    async with scripted_runtime(
        ScriptedProvider(["hi"]), config=config, plugins=[postgres_plugin]
    ) as runtime:
        assert runtime.effect_host.durability is DurabilityTier.DURABLE
        session = await runtime.session("configured")
        await session.turn("hello", turn_id="t1").run()
        host = runtime.effect_host
        assert isinstance(host, JournalingEffectHost) and isinstance(host.journal, PostgresEffectJournal)
        await host.journal.aclose()
    rows = sql("SELECT scope_id, replay_key, status FROM {s}.effect_journal")
    assert (turn_scope_id("configured", "t1"), "configured:t1:llm_call:1", "completed") in rows


def test_the_host_factory_declares_durability() -> None:
    """journaling_host builds a durable kernel journaling host."""
    host = journaling_host(PostgresSettings(dsn="postgresql://x@127.0.0.1/db"))
    assert isinstance(host, JournalingEffectHost) and host.durability is DurabilityTier.DURABLE
