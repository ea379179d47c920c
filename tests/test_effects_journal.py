"""The journaling effect host over an in-memory journal: journal, crash, replay, mismatch.

The scenario: model call -> two tool calls (one round) -> model call -> answer. Its
effects: ``llm_call:1``, ``tool_attempt:2``, ``tool_attempt:3``, ``llm_call:5`` (the
checkpoint ``4`` is skipped by an inline-tier controller when nothing arrived).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lash_core.effects import DurabilityTier, Effect, EffectKind
from lash_core.effects_journal import (
    JournalEntry,
    JournalingEffectHost,
    JournalStatus,
    MemoryEffectJournal,
    turn_scope_id,
)
from lash_core.errors import DurableStoreRequired, EffectError, ReplayMismatch
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    Finished,
    LlmResponse,
    ProviderErrorStop,
    ProviderFailureKind,
    Stopped,
)
from lash_core.runtime import Runtime
from lash_core.testing import ScriptedProvider, reply_error, scripted_runtime
from lash_core.testing.effects import CrashingJournal, effect_host_plugin, expect_crash
from lash_core.testing.scenarios import ANSWER, INPUT, LLM_1, LLM_5, TOOL_2, TOOL_3, WeatherTurn
from lash_core.testing.scenarios import INLINE_KEYS as KEYS

pytestmark = pytest.mark.anyio

SCOPE = turn_scope_id("s1", "t1")


def host_plugin(host: JournalingEffectHost) -> object:
    """A plugin registering ``host`` as effect host ``journal``."""
    return effect_host_plugin(host, "journal")


def journal_runtime(scenario: WeatherTurn, host: JournalingEffectHost) -> Runtime:
    """A runtime running ``scenario`` over the memory store with ``host``."""
    return scenario.runtime(host_plugin(host), config={"effect_host": {"type": "journal"}})


def inline_host(journal: Any) -> JournalingEffectHost:
    """A journaling host composable with the (inline) memory store."""
    return JournalingEffectHost(journal, durability=DurabilityTier.INLINE)


async def run_turn(scenario: WeatherTurn, journal: Any, text: str = INPUT) -> AssembledTurn:
    """Run turn ``t1`` of ``s1`` in a fresh runtime over ``journal``."""
    async with journal_runtime(scenario, inline_host(journal)) as rt:
        session = await rt.session("s1")
        return await session.turn(text, turn_id="t1").run()


async def crash_after(k: int) -> MemoryEffectJournal:
    """Run the turn until the k-th effect is journaled and the process "dies"; return the journal."""
    journal = MemoryEffectJournal()
    with expect_crash():
        await run_turn(WeatherTurn(), CrashingJournal(journal, k))
    return journal


async def test_uninterrupted_run_journals_every_effect_once() -> None:
    """An uninterrupted run journals each effect under its turn scope and replay key."""
    journal = MemoryEffectJournal()
    scenario = WeatherTurn()
    result = await run_turn(scenario, journal)
    assert result.outcome == Finished(AssistantMessage(ANSWER))
    assert sorted(journal.entries) == sorted((SCOPE, key) for key in KEYS)
    entry = journal.entries[(SCOPE, TOOL_2)]
    assert (entry.kind, entry.status, entry.session_id) == ("tool_attempt", JournalStatus.COMPLETED, "s1")
    assert len(entry.fingerprint) == 64 and entry.error_json is None
    assert json.loads(entry.result_json or "") == {"outcome": {"type": "success", "value": "sunny in Paris"}}
    assert scenario.model_calls == 2 and sum(scenario.tool_calls.values()) == 2


@pytest.mark.parametrize("k", [1, 2, 3, 4])
async def test_crash_leaves_k_entries(k: int) -> None:
    """A crash after the k-th journaled effect leaves exactly k entries."""
    journal = await crash_after(k)
    assert len(journal.entries) == k
    assert {key for _, key in journal.entries} <= set(KEYS)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
async def test_redrive_replays_recorded_effects_and_commits_the_same_turn(k: int) -> None:
    """Re-driving the crashed turn repeats no recorded call and commits the uninterrupted result."""
    reference = await run_turn(WeatherTurn(), MemoryEffectJournal())
    journal = await crash_after(k)
    recorded = {key for _, key in journal.entries}
    scenario = WeatherTurn()
    result = await run_turn(scenario, journal)
    assert scenario.model_calls == len({LLM_1, LLM_5} - recorded)
    assert scenario.tool_calls["weather"] == (0 if TOOL_2 in recorded else 1)
    assert scenario.tool_calls["population"] == (0 if TOOL_3 in recorded else 1)
    assert result.outcome == reference.outcome
    assert result.messages == reference.messages
    assert result.token_usage == reference.token_usage
    assert sorted(journal.entries) == sorted((SCOPE, key) for key in KEYS)


async def test_fully_journaled_turn_replays_without_calling_anything() -> None:
    """A turn whose effects are all journaled runs no model call and no tool."""
    journal = MemoryEffectJournal()
    reference = await run_turn(WeatherTurn(), journal)
    scenario = WeatherTurn()
    result = await run_turn(scenario, journal)
    assert scenario.model_calls == 0 and sum(scenario.tool_calls.values()) == 0
    assert result.messages == reference.messages


async def test_mismatching_replay_names_the_step_kind_and_fingerprints() -> None:
    """A changed request raises ReplayMismatch naming the key, the kind and both fingerprints."""
    journal = MemoryEffectJournal()
    await run_turn(WeatherTurn(), journal)
    recorded = journal.entries[(SCOPE, LLM_1)].fingerprint
    scenario = WeatherTurn()
    with pytest.raises(ReplayMismatch) as caught:
        await run_turn(scenario, journal, text="What about Rome?")
    message = str(caught.value)
    assert LLM_1 in message and "llm_call" in message and recorded in message
    assert "replayed" in message and "new turn id" in message
    assert scenario.model_calls == 0


async def test_kind_mismatch_names_both_kinds() -> None:
    """A key journaled as another kind of effect raises ReplayMismatch naming both kinds."""
    journal = MemoryEffectJournal()
    await journal.put(JournalEntry(SCOPE, LLM_1, "tool_attempt", "f" * 64, JournalStatus.COMPLETED, "null"))
    controller = inline_host(journal).scoped("s1", "t1")
    effect = Effect(EffectKind.LLM_CALL, LLM_1, "s1", "t1", LlmResponse, lambda: {"x": 1})

    async def run() -> LlmResponse:
        raise AssertionError("a mismatching effect must not run")

    with pytest.raises(ReplayMismatch, match=r"'tool_attempt' effect.*'llm_call' effect"):
        await controller.execute(effect, run)


async def test_provider_error_is_journaled_and_replayed() -> None:
    """A provider failure is journaled as failed and raised again on replay without a call."""
    journal = MemoryEffectJournal()
    failing = ScriptedProvider([reply_error(ProviderFailureKind.RATE_LIMIT, "slow down", retryable=True)])
    config = {"effect_host": {"type": "journal"}}
    async with scripted_runtime(failing, plugins=[host_plugin(inline_host(journal))], config=config) as rt:
        first = await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    entry = journal.entries[(SCOPE, LLM_1)]
    assert entry.status is JournalStatus.FAILED and entry.result_json is None
    assert json.loads(entry.error_json or "")["failure"]["kind"] == "rate_limit"
    idle = ScriptedProvider()
    async with scripted_runtime(idle, plugins=[host_plugin(inline_host(journal))], config=config) as rt:
        replayed = await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    assert idle.calls == 0
    assert replayed.outcome == first.outcome == Stopped(ProviderErrorStop())
    assert replayed.errors == first.errors


async def test_damaged_entry_fails_naming_the_effect() -> None:
    """An entry whose JSON cannot be read raises EffectError naming the replay key."""
    journal = MemoryEffectJournal()
    effect = Effect(EffectKind.LLM_CALL, LLM_1, "s1", "t1", LlmResponse, lambda: {"x": 1})
    await journal.put(
        JournalEntry(SCOPE, LLM_1, "llm_call", effect.fingerprint(), JournalStatus.COMPLETED, "{not json")
    )
    controller = inline_host(journal).scoped("s1", "t1")

    async def run() -> LlmResponse:
        raise AssertionError("a journaled effect must not run")

    with pytest.raises(EffectError, match=LLM_1):
        await controller.execute(effect, run)


async def test_unjournalable_result_fails_naming_the_effect() -> None:
    """A result that is not JSON-serializable raises EffectError and journals nothing."""
    journal = MemoryEffectJournal()
    effect = Effect(EffectKind.DIRECT, "t1:prepare:direct:1", "s1", "t1", Any, lambda: None)

    async def run() -> object:
        return object()

    with pytest.raises(EffectError, match="t1:prepare:direct:1"):
        await inline_host(journal).scoped("s1", "t1").execute(effect, run)
    assert journal.entries == {}


async def test_first_put_wins() -> None:
    """A second put for a journaled key keeps the first entry."""
    journal = MemoryEffectJournal()
    first = JournalEntry(SCOPE, LLM_1, "llm_call", "a" * 64, JournalStatus.COMPLETED, "1")
    await journal.put(first)
    await journal.put(JournalEntry(SCOPE, LLM_1, "llm_call", "b" * 64, JournalStatus.COMPLETED, "2"))
    assert await journal.get(SCOPE, LLM_1) == first
    assert await journal.get("other:scope", LLM_1) is None


async def test_durable_host_is_refused_with_the_memory_store() -> None:
    """The default (durable) journaling host cannot compose with the inline memory store."""
    scenario = WeatherTurn()
    runtime = scripted_runtime(
        scenario.provider,
        plugins=[host_plugin(JournalingEffectHost(MemoryEffectJournal()))],
        config={"effect_host": {"type": "journal"}},
    )
    with pytest.raises(DurableStoreRequired):
        async with runtime:
            pass


def test_host_declares_durability_and_concurrency() -> None:
    """The host is durable by default and its controllers allow concurrent effects."""
    host = JournalingEffectHost(MemoryEffectJournal())
    controller = host.scoped("s1", "t1")
    assert host.durability is DurabilityTier.DURABLE
    assert controller.durability is DurabilityTier.DURABLE
    assert controller.supports_concurrent_effects is True
