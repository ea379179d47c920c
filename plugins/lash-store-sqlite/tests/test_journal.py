"""The ``sqlite-journal`` effect host: effects journaled in the store's database file are
replayed when a crashed turn is re-driven by a fresh runtime (or a fresh process).

The scenario: model call -> two tool calls (one round) -> checkpoint -> model call ->
final checkpoint -> answer; replay keys ``s1:t1:llm_call:1``, ``tool_attempt:2``,
``tool_attempt:3``, ``checkpoint:4``, ``llm_call:5``, ``checkpoint:6`` (a durable
controller journals the checkpoints too, even when no input arrived).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from lash_store_sqlite import SqliteEffectJournal, SqliteJournalSettings
from lash_store_sqlite import plugin as sqlite_plugin

from lash_core.effects import DurabilityTier
from lash_core.effects_journal import JournalEntry, JournalingEffectHost, JournalStatus
from lash_core.errors import ReplayMismatch
from lash_core.model import AssembledTurn, AssistantMessage, Finished
from lash_core.runtime import Runtime
from lash_core.testing.effects import CrashingJournal, effect_host_plugin, expect_crash
from lash_core.testing.scenarios import ANSWER, INPUT, WeatherTurn, stored_commit_hash
from lash_core.testing.scenarios import DURABLE_KEYS as KEYS

pytestmark = pytest.mark.anyio


def _die_in_the_second_model_call(call: int) -> None:
    if call == 2:
        os._exit(17)  # a hard crash: no cleanup, no commit


async def child_main(path: str) -> None:
    """The crash test's child process: run the turn and die in the second model call."""
    scenario = WeatherTurn(on_model_call=_die_in_the_second_model_call)
    async with runtime(scenario, Path(path)) as rt:
        await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()


def config(path: Path, host: str = "sqlite-journal") -> dict[str, Any]:
    """The sqlite store and a journaling host over the same database file."""
    return {
        "store": {"type": "sqlite", "settings": {"path": str(path)}},
        "effect_host": {"type": host, "settings": {"path": str(path)}},
    }


def runtime(scenario: WeatherTurn, path: Path, *plugins: object, host: str = "sqlite-journal") -> Runtime:
    """A runtime over the database at ``path``."""
    return scenario.runtime(sqlite_plugin, *plugins, config=config(path, host))


async def run_turn(scenario: WeatherTurn, path: Path, text: str = INPUT) -> tuple[AssembledTurn, str]:
    """Run turn ``t1`` of ``s1`` in a fresh runtime; return it and its stored commit hash."""
    async with runtime(scenario, path) as rt:
        result = await (await rt.session("s1")).turn(text, turn_id="t1").run()
        commit_hash = await stored_commit_hash(rt.store, result.outcome)
    return result, commit_hash


def journal_rows(path: Path) -> list[tuple[str, str, str]]:
    """``(replay_key, kind, status)`` of every journal row, in key order."""
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT replay_key, kind, status FROM effect_journal ORDER BY replay_key"
        ).fetchall()
    raw.close()
    return [tuple(row) for row in rows]


async def crash_after(path: Path, k: int) -> None:
    """Run the turn until the k-th effect is journaled, then "die"."""
    journal = SqliteEffectJournal(SqliteJournalSettings(path=str(path)))
    plugin = effect_host_plugin(JournalingEffectHost(CrashingJournal(journal, k)), "crashing-journal")
    try:
        with expect_crash():
            async with runtime(WeatherTurn(), path, plugin, host="crashing-journal") as rt:
                await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    finally:
        await journal.aclose()


async def test_uninterrupted_run_journals_every_effect_in_the_database(tmp_path: Path) -> None:
    """Every effect of the turn is a completed row of the store's database file."""
    path = tmp_path / "sessions.db"
    result, _ = await run_turn(WeatherTurn(), path)
    assert result.outcome == Finished(AssistantMessage(ANSWER))
    rows = journal_rows(path)
    assert [r[0] for r in rows] == sorted(KEYS)
    assert {r[2] for r in rows} == {"completed"}


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
async def test_redriven_turn_replays_recorded_results(tmp_path: Path, k: int) -> None:
    """After a crash following k effects, a fresh runtime repeats no recorded model or tool call
    and commits the same turn as an uninterrupted run."""
    reference, reference_hash = await run_turn(WeatherTurn(), tmp_path / "reference.db")
    path = tmp_path / "sessions.db"
    await crash_after(path, k)
    recorded = {r[0] for r in journal_rows(path)}
    # at least k: the other tool of the concurrent round may have been journaled as well
    assert len(recorded) >= k and recorded <= set(KEYS)
    scenario = WeatherTurn()
    result, commit_hash = await run_turn(scenario, path)
    model_keys = {"s1:t1:llm_call:1", "s1:t1:llm_call:5"}
    assert scenario.model_calls == len(model_keys - recorded)
    assert scenario.tool_calls["weather"] == (0 if "s1:t1:tool_attempt:2" in recorded else 1)
    assert scenario.tool_calls["population"] == (0 if "s1:t1:tool_attempt:3" in recorded else 1)
    assert result.outcome == reference.outcome
    assert result.messages == reference.messages
    assert result.token_usage == reference.token_usage
    assert commit_hash == reference_hash


async def test_turn_killed_in_a_subprocess_is_replayed_without_repeats(tmp_path: Path) -> None:
    """A process killed during its second model call leaves four journaled effects; re-driving
    in this process calls the model once and no tool."""
    path = tmp_path / "sessions.db"
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import importlib.util
            import anyio
            spec = importlib.util.spec_from_file_location("journal_tests", {__file__!r})
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            anyio.run(module.child_main, {str(path)!r})
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=120)
    )
    assert done.returncode == 17, done.stderr.decode()
    assert [r[0] for r in journal_rows(path)] == sorted(KEYS[:4])
    reference, reference_hash = await run_turn(WeatherTurn(), tmp_path / "reference.db")
    scenario = WeatherTurn()
    result, commit_hash = await run_turn(scenario, path)
    assert scenario.model_calls == 1 and sum(scenario.tool_calls.values()) == 0
    assert result.messages == reference.messages and commit_hash == reference_hash


async def test_mismatching_replay_fails_naming_the_step(tmp_path: Path) -> None:
    """Re-driving a crashed turn with another input raises ReplayMismatch naming the model call's key."""
    path = tmp_path / "sessions.db"
    await crash_after(path, 2)
    scenario = WeatherTurn()
    with pytest.raises(ReplayMismatch) as caught:
        await run_turn(scenario, path, text="What about Rome?")
    message = str(caught.value)
    assert "s1:t1:llm_call:1" in message and "llm_call" in message and "recorded fingerprint" in message
    assert scenario.model_calls == 0


async def test_first_put_wins_across_connections(tmp_path: Path) -> None:
    """Two journals on one file putting the same key at once keep exactly one (the first) entry."""
    path = tmp_path / "sessions.db"
    journals = [SqliteEffectJournal(SqliteJournalSettings(path=str(path))) for _ in range(2)]

    def entry(result: str) -> JournalEntry:
        return JournalEntry(
            "s1:t1", "s1:t1:llm_call:1", "llm_call", "f" * 64, JournalStatus.COMPLETED, result, None, "s1"
        )

    async with anyio.create_task_group() as group:
        group.start_soon(journals[0].put, entry("1"))
        group.start_soon(journals[1].put, entry("2"))
    stored = await journals[0].get("s1:t1", "s1:t1:llm_call:1")
    assert stored is not None and stored.result_json in {"1", "2"}
    assert await journals[1].get("s1:t1", "s1:t1:llm_call:1") == stored
    assert len(journal_rows(path)) == 1
    for journal in journals:
        await journal.aclose()


async def test_deleting_a_session_deletes_its_journal(tmp_path: Path) -> None:
    """delete_session removes the session's journal rows and leaves other sessions' rows."""
    path = tmp_path / "sessions.db"
    await run_turn(WeatherTurn(), path)
    journal = SqliteEffectJournal(SqliteJournalSettings(path=str(path)))
    await journal.put(
        JournalEntry(
            "s2:t1", "s2:t1:llm_call:1", "llm_call", "f" * 64, JournalStatus.COMPLETED, "1", None, "s2"
        )
    )
    async with runtime(WeatherTurn(), path) as rt:
        assert await rt.store.delete_session("s1")
    assert [r[0] for r in journal_rows(path)] == ["s2:t1:llm_call:1"]
    await journal.aclose()


async def test_memory_journal_is_inline(tmp_path: Path) -> None:
    """A ``:memory:`` journal makes an inline host; a file journal a durable one."""
    assert SqliteEffectJournal(SqliteJournalSettings(path=":memory:")).durability is DurabilityTier.INLINE
    assert (
        SqliteEffectJournal(SqliteJournalSettings(path=str(tmp_path / "j.db"))).durability
        is DurabilityTier.DURABLE
    )
