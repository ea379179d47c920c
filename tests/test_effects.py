"""Effects and replay: a turn journaled by a recording host re-drives to the same commit.

The scenario: model call -> two tool calls (one round) -> model call -> answer. Its
effects, in replay-key order: ``llm_call:1``, ``tool_attempt:2``, ``tool_attempt:3``,
(``checkpoint:4`` is skipped by an inline host when nothing arrived), ``llm_call:5``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lash_core import tool
from lash_core.converter import structure
from lash_core.effects import DurabilityTier, Effect, EffectKind, InlineEffectHost
from lash_core.errors import EffectError, ReplayMismatch
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    Finished,
    LlmResponse,
    ProviderErrorStop,
    ProviderFailureKind,
    Stopped,
    SuccessOutcome,
    ToolCallOutput,
)
from lash_core.runtime import Runtime
from lash_core.store import TurnCommit
from lash_core.testing import (
    RecordingEffectHost,
    ScriptedProvider,
    call,
    recording_host_plugin,
    reply_error,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.testing.effects import expect_crash
from lash_core.testing.scenarios import (
    ANSWER,
    INPUT,
    LLM_1,
    LLM_5,
    TOOL_2,
    TOOL_3,
    WeatherTurn,
    stored_commit_hash,
)
from lash_core.testing.scenarios import INLINE_KEYS as KEYS

pytestmark = pytest.mark.anyio


def recording_runtime(scenario: WeatherTurn, host: RecordingEffectHost) -> Runtime:
    """A runtime running ``scenario`` with ``host`` as its effect host."""
    return scenario.runtime(recording_host_plugin(host), config={"effect_host": {"type": "recording"}})


async def store_holds_commit(runtime: Runtime, commit_hash: str, outcome: Any) -> bool:
    """True when the store answers a commit of turn ``t1`` with ``commit_hash`` as already committed
    (its idempotency check compares the hash the kernel computed when it committed)."""
    probe = TurnCommit(
        session_id="s1",
        turn_id="t1",
        commit_hash=commit_hash,
        expected_head_revision=0,
        nodes=(),
        current_frame_id="unused",
        frames=(),
        outcome=outcome,
    )
    return (await runtime.store.commit(probe)).replayed


async def reference_run() -> tuple[AssembledTurn, RecordingEffectHost, str]:
    """The uninterrupted run R: its result, its host and its stored commit hash."""
    host = RecordingEffectHost()
    async with recording_runtime(WeatherTurn(), host) as rt:
        session = await rt.session("s1")
        result = await session.turn(INPUT, turn_id="t1").run()
        commit_hash = await stored_commit_hash(rt.store, result.outcome)
        assert await store_holds_commit(rt, commit_hash, result.outcome)
    return result, host, commit_hash


async def crash_run(interrupt_after: int) -> tuple[RecordingEffectHost, int, bool]:
    """Run the turn with a host crashing after ``interrupt_after`` effects; return the host,
    the session's head revision and whether the store holds the session afterwards."""
    host = RecordingEffectHost(interrupt_after=interrupt_after)
    async with recording_runtime(WeatherTurn(), host) as rt:
        session = await rt.session("s1")
        with expect_crash():
            await session.turn(INPUT, turn_id="t1").run()
        stored = await rt.store.load_session("s1") is not None
        return host, session.head_revision, stored


async def replay_run(
    journal: dict[str, str], **options: Any
) -> tuple[AssembledTurn, RecordingEffectHost, WeatherTurn, str]:
    """Re-drive turn ``t1`` in a new runtime (fresh store, provider, tools) replaying ``journal``."""
    host = RecordingEffectHost(journal, **options)
    scenario = WeatherTurn()
    async with recording_runtime(scenario, host) as rt:
        session = await rt.session("s1")
        result = await session.turn(INPUT, turn_id="t1").run()
        commit_hash = await stored_commit_hash(rt.store, result.outcome)
        assert await store_holds_commit(rt, commit_hash, result.outcome)
    return result, host, scenario, commit_hash


async def test_uninterrupted_run_executes_and_journals_every_effect_once() -> None:
    """An uninterrupted run executes each effect once and journals it under its replay key."""
    result, host, _ = await reference_run()
    assert result.outcome == Finished(AssistantMessage(ANSWER))
    assert sorted(host.journal) == sorted(KEYS)
    assert host.executed == Counter({EffectKind.LLM_CALL: 2, EffectKind.TOOL_ATTEMPT: 2})
    assert host.replayed == Counter()


async def test_journal_entries_are_json_of_the_result_type() -> None:
    """A journal entry is JSON holding the kind, the fingerprint and the unstructured result."""
    _, host, _ = await reference_run()
    entry = host.entry(TOOL_2)
    assert entry["kind"] == "tool_attempt"
    assert len(entry["fingerprint"]) == 64
    assert structure(entry["result"], ToolCallOutput) == ToolCallOutput(SuccessOutcome("sunny in Paris"))
    assert structure(host.entry(LLM_5)["result"], LlmResponse).text == ANSWER


async def test_replay_keys_and_journal_are_identical_across_identical_runs() -> None:
    """Two identical runs in fresh runtimes journal the same keys, fingerprints and results."""
    _, first, _ = await reference_run()
    _, second, _ = await reference_run()
    assert first.executed_keys[0] == LLM_1
    assert first.executed_keys[-1] == LLM_5
    assert sorted(first.executed_keys) == sorted(second.executed_keys) == sorted(KEYS)
    assert first.dumps() == second.dumps()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
async def test_crash_propagates_and_commits_nothing(k: int) -> None:
    """A crash after the k-th effect leaves the turn uncommitted with k effects journaled."""
    host, head_revision, stored = await crash_run(k)
    assert head_revision == 0
    assert not stored
    assert len(host.journal) == k
    assert set(host.journal) <= set(KEYS)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
async def test_replay_executes_only_the_unrecorded_effects(k: int) -> None:
    """Re-driving the crashed turn never repeats a recorded effect and runs exactly the rest."""
    crashed, _, _ = await crash_run(k)
    recorded = set(crashed.journal)
    _, host, scenario, _ = await replay_run(crashed.journal)
    assert sorted(host.replayed_keys) == sorted(recorded)
    assert sorted(host.executed_keys) == sorted(set(KEYS) - recorded)
    assert scenario.model_calls == len({LLM_1, LLM_5} - recorded)
    assert scenario.tool_calls["weather"] == (0 if TOOL_2 in recorded else 1)
    assert scenario.tool_calls["population"] == (0 if TOOL_3 in recorded else 1)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
async def test_replay_commits_the_same_turn_as_the_uninterrupted_run(k: int) -> None:
    """The replayed turn commits the same outcome, messages, usage and commit hash as R."""
    reference, _, reference_hash = await reference_run()
    crashed, _, _ = await crash_run(k)
    result, _, _, commit_hash = await replay_run(crashed.journal)
    assert result.outcome == reference.outcome == Finished(AssistantMessage(ANSWER))
    assert result.messages == reference.messages
    assert [m.text for m in result.messages] == [INPUT, "", "", ANSWER]
    assert result.token_usage == reference.token_usage
    assert result.head_revision == 1
    assert commit_hash == reference_hash


async def test_a_second_crash_during_replay_resumes_from_the_longer_journal() -> None:
    """Crash, crash again while replaying, then finish: every effect ran exactly once in total."""
    reference, _, reference_hash = await reference_run()
    first, _, _ = await crash_run(1)
    second = RecordingEffectHost(first.journal, interrupt_after=3)
    async with recording_runtime(WeatherTurn(), second) as rt:
        session = await rt.session("s1")
        with expect_crash():
            await session.turn(INPUT, turn_id="t1").run()
        assert session.head_revision == 0
    result, third, _, commit_hash = await replay_run(second.journal)
    total = first.executed + second.executed + third.executed
    assert total == Counter({EffectKind.LLM_CALL: 2, EffectKind.TOOL_ATTEMPT: 2})
    assert result.messages == reference.messages
    assert commit_hash == reference_hash


async def test_dumped_journal_loads_into_a_host_that_replays_everything() -> None:
    """A journal written with dumps() and read with loads() replays the turn without executing anything."""
    reference, recorded, _ = await reference_run()
    host = RecordingEffectHost.loads(recorded.dumps())
    scenario = WeatherTurn()
    async with recording_runtime(scenario, host) as rt:
        session = await rt.session("s1")
        result = await session.turn(INPUT, turn_id="t1").run()
    assert host.executed == Counter()
    assert scenario.model_calls == 0
    assert sum(scenario.tool_calls.values()) == 0
    assert result.messages == reference.messages


async def test_replay_with_changed_user_text_raises_mismatch_naming_the_step() -> None:
    """Replaying a journal for a changed request raises ReplayMismatch naming the model call's key."""
    _, recorded, _ = await reference_run()
    host = RecordingEffectHost(recorded.journal)
    scenario = WeatherTurn()
    async with recording_runtime(scenario, host) as rt:
        session = await rt.session("s1")
        with pytest.raises(ReplayMismatch, match=LLM_1):
            await session.turn("What about Rome?", turn_id="t1").run()
        assert session.head_revision == 0
    assert scenario.model_calls == 0


async def test_replay_with_changed_tool_arguments_raises_mismatch_naming_the_tool_step() -> None:
    """A recorded tool attempt replayed with other arguments raises ReplayMismatch naming its key (calls run in order)."""
    _, recorded, _ = await reference_run()
    tools_only = {key: text for key, text in recorded.journal.items() if ":tool_attempt:" in key}
    host = RecordingEffectHost(tools_only, concurrent=False)
    scenario = WeatherTurn(city="Rome")
    async with recording_runtime(scenario, host) as rt:
        session = await rt.session("s1")
        with pytest.raises(ReplayMismatch, match=TOOL_2):
            await session.turn(INPUT, turn_id="t1").run()
        assert session.head_revision == 0
    assert sum(scenario.tool_calls.values()) == 0


async def test_replay_mismatch_in_a_concurrent_tool_round_propagates_bare_and_uncommitted() -> None:
    """A ReplayMismatch from concurrent tool attempts propagates unwrapped and commits nothing."""
    _, recorded, _ = await reference_run()
    tools_only = {key: text for key, text in recorded.journal.items() if ":tool_attempt:" in key}
    host = RecordingEffectHost(tools_only)
    async with recording_runtime(WeatherTurn(city="Rome"), host) as rt:
        session = await rt.session("s1")
        with pytest.raises(ReplayMismatch, match=r"s1:t1:tool_attempt:[23]"):
            await session.turn(INPUT, turn_id="t1").run()
        assert session.head_revision == 0
        assert await rt.store.load_session("s1") is None


async def test_provider_error_is_journaled_and_replayed_as_the_same_error() -> None:
    """A provider failure is journaled; the replay raises it again without calling the provider."""
    failing = ScriptedProvider([reply_error(ProviderFailureKind.RATE_LIMIT, "slow down", retryable=True)])
    recorded = RecordingEffectHost()
    config = {"effect_host": {"type": "recording"}}
    async with scripted_runtime(failing, plugins=[recording_host_plugin(recorded)], config=config) as rt:
        first = await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    assert recorded.entry(LLM_1)["error"]["failure"]["kind"] == "rate_limit"

    idle = ScriptedProvider()
    host = RecordingEffectHost(recorded.journal)
    async with scripted_runtime(idle, plugins=[recording_host_plugin(host)], config=config) as rt:
        replayed = await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    assert idle.calls == 0
    assert host.replayed == Counter({EffectKind.LLM_CALL: 1})
    assert replayed.outcome == first.outcome == Stopped(ProviderErrorStop())
    assert replayed.errors == first.errors
    assert replayed.errors[0].provider_failure_kind == "rate_limit"
    assert replayed.errors[0].retryable is True


async def test_result_that_cannot_be_journaled_fails_the_turn_naming_the_effect() -> None:
    """A tool result that is not JSON-serializable raises EffectError naming its replay key."""

    @tool
    def opaque() -> ToolCallOutput:
        """Return something that is not JSON."""
        return ToolCallOutput(SuccessOutcome(object()))

    provider = ScriptedProvider([reply_tool_calls(call("opaque")), reply_text("done")])
    host = RecordingEffectHost()
    config = {"effect_host": {"type": "recording"}}
    async with scripted_runtime(
        provider, tools=[opaque], plugins=[recording_host_plugin(host)], config=config
    ) as rt:
        session = await rt.session("s1")
        with pytest.raises(EffectError, match=TOOL_2):
            await session.turn(INPUT, turn_id="t1").run()
        assert session.head_revision == 0


async def test_inline_host_runs_each_effect_directly() -> None:
    """The inline controller awaits run() once per effect and returns its value, journaling nothing."""
    host = InlineEffectHost()
    controller = host.scoped("s1", "t1")
    runs: list[str] = []

    def runner(value: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            runs.append(value)
            return value

        return run

    effect = Effect(EffectKind.TOOL_ATTEMPT, "s1:t1:tool_attempt:1", "s1", "t1", str)
    assert await controller.execute(effect, runner("a")) == "a"
    assert await controller.execute(effect, runner("b")) == "b"
    assert runs == ["a", "b"]
    assert host.durability is controller.durability is DurabilityTier.INLINE
    assert controller.supports_concurrent_effects
    assert host.scoped("s2", "t9") is controller


async def test_default_runtime_uses_the_inline_host() -> None:
    """Without configuration a runtime composes the inline host and calls the provider for every effect."""
    scenario = WeatherTurn()
    async with scripted_runtime(scenario.provider, tools=scenario.tools) as rt:
        assert isinstance(rt.effect_host, InlineEffectHost)
        result = await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    assert result.outcome == Finished(AssistantMessage(ANSWER))
    assert scenario.model_calls == 2
    assert scenario.tool_calls == Counter({"weather": 1, "population": 1})


async def test_provider_failure_round_trips_through_provider_error() -> None:
    """The journaled provider failure keeps its classification and message."""
    provider = ScriptedProvider(
        [reply_error(ProviderFailureKind.TIMEOUT, "took too long", retryable=True, status=504)]
    )
    host = RecordingEffectHost()
    config = {"effect_host": {"type": "recording"}}
    async with scripted_runtime(provider, plugins=[recording_host_plugin(host)], config=config) as rt:
        await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    entry = host.entry(LLM_1)["error"]
    assert entry["message"] == "timeout: took too long"
    assert entry["failure"] == {
        "kind": "timeout",
        "message": "took too long",
        "retryable": True,
        "status": 504,
    }
