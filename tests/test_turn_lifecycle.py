"""The phases of a turn, its hooks, its clock, and the rules of its commit."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest
from attrs import evolve

from lash_core import tool
from lash_core.effects import DurabilityTier, Effect, EffectKind
from lash_core.errors import HeadConflict, HookError, LiveInputRejected, SessionBusy, TurnCommitConflict
from lash_core.hooks import AbortTurn, hookimpl
from lash_core.model import (
    AssistantMessage,
    Cancelled,
    Finished,
    PluginAbort,
    Stopped,
    TextItem,
    TokenLedgerEntry,
    TokenUsage,
    TurnContext,
    TurnInput,
)
from lash_core.store.commit_hash import turn_commit_hash
from lash_core.testing import (
    FakeClock,
    ScriptedProvider,
    call,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.testing.effects import effect_host_plugin

T = TypeVar("T")

PHASES = [
    "normalize_input",
    "context_transform",
    "prepare_turn",
    "prompt_build",
    "effect_loop",
    "finalize_turn",
    "commit",
    "turn_persisted",
]


STORE_CONFIG = {"store": {"type": "recording"}}


class RecordingController:
    """An inline effect controller that records the effects it executes."""

    durability = DurabilityTier.INLINE
    supports_concurrent_effects = True

    def __init__(self, effects: list[Effect]) -> None:
        self.effects = effects

    async def execute(self, effect: Effect, run: Callable[[], Awaitable[T]]) -> T:
        self.effects.append(effect)
        return await run()


class RecordingEffectHost:
    """An effect host handing out recording controllers."""

    durability = DurabilityTier.INLINE

    def __init__(self) -> None:
        self.effects: list[Effect] = []

    def scoped(self, session_id: str, turn_id: str) -> RecordingController:
        return RecordingController(self.effects)


@pytest.mark.anyio
async def test_phases_run_in_order_and_are_reported_to_the_probe() -> None:
    """Every phase of a turn is reported once to the phase probe, in order, without overlap."""
    reports: list[tuple[str, float, float]] = []
    provider = ScriptedProvider([reply_text("hi")])
    async with scripted_runtime(provider, phase_probe=lambda n, s, e: reports.append((n, s, e))) as rt:
        session = await rt.session("s1")
        await session.turn("hello").run()
    assert [name for name, _, _ in reports] == PHASES
    for _, start, end in reports:
        assert start <= end
    for (_, _, previous_end), (_, next_start, _) in itertools.pairwise(reports):
        assert previous_end <= next_start


@pytest.mark.anyio
async def test_prepare_turn_abort_commits_a_plugin_abort_without_calling_the_model() -> None:
    """A prepare_turn AbortTurn ends the turn Stopped(PluginAbort) before any model call, and commits it."""

    class Gatekeeper:
        lash_plugin_name = "gatekeeper"

        @hookimpl
        def prepare_turn(self, ctx: Any) -> Any:
            return AbortTurn("blocked", "not today")

    provider = ScriptedProvider([reply_text("never")])
    async with scripted_runtime(provider, plugins=[Gatekeeper()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hello").run()
    assert result.outcome == Stopped(PluginAbort("gatekeeper", "blocked", "not today"))
    assert [issue.code for issue in result.errors] == ["blocked"]
    assert provider.calls == 0
    assert result.head_revision == 1
    assert [m.text for m in session.history] == ["hello"]


@pytest.mark.anyio
async def test_transform_context_error_raises_hook_error_and_commits_nothing() -> None:
    """A transform_context hook that raises surfaces as HookError naming plugin and hook; nothing is committed."""

    class Broken:
        lash_plugin_name = "broken-transform"

        @hookimpl
        def transform_context(self, ctx: Any, context: Any) -> Any:
            raise RuntimeError("transform exploded")

    provider = ScriptedProvider([reply_text("never")])
    async with scripted_runtime(provider, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as caught:
            await session.turn("hello").run()
        assert (caught.value.plugin, caught.value.hook) == ("broken-transform", "transform_context")
        assert "broken-transform" in str(caught.value)
        assert "transform_context" in str(caught.value)
        assert "transform exploded" in str(caught.value)
        assert provider.calls == 0
        assert session.head_revision == 0
        assert session.history == ()
        assert await rt.store.load_session("s1") is None
        assert not session.is_running


@pytest.mark.anyio
async def test_finalize_turn_error_raises_hook_error_and_commits_nothing() -> None:
    """A finalize_turn hook that raises surfaces as HookError naming plugin and hook; nothing is committed."""

    class Broken:
        lash_plugin_name = "broken-finalize"

        @hookimpl
        async def finalize_turn(self, ctx: Any, turn: Any) -> Any:
            raise ValueError("finalize exploded")

    provider = ScriptedProvider([reply_text("answer")])
    async with scripted_runtime(provider, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as caught:
            await session.turn("hello").run()
        assert (caught.value.plugin, caught.value.hook) == ("broken-finalize", "finalize_turn")
        assert "finalize exploded" in str(caught.value)
        assert provider.calls == 1
        assert session.head_revision == 0
        assert session.history == ()
        assert session.usage_report().total_tokens == 0
        assert await rt.store.load_session("s1") is None
        assert not session.is_running


@pytest.mark.anyio
async def test_turn_persisted_error_is_logged_and_the_turn_stays_committed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A turn_persisted hook that raises is logged; the committed turn and its result are untouched."""

    class Broken:
        lash_plugin_name = "broken-persisted"

        @hookimpl
        def turn_persisted(self, ctx: Any, turn: Any) -> None:
            raise RuntimeError("observer exploded")

    provider = ScriptedProvider([reply_text("answer")])
    with caplog.at_level(logging.ERROR, logger="lash.plugins"):
        async with scripted_runtime(provider, plugins=[Broken()]) as rt:
            session = await rt.session("s1")
            result = await session.turn("hello").run()
            record = await rt.store.load_session("s1")
    assert result.outcome == Finished(AssistantMessage("answer"))
    assert result.head_revision == 1
    assert record is not None
    assert record.head.head_revision == 1
    assert [node.message for node in record.nodes] == list(result.messages)
    assert [m.text for m in session.history] == ["hello", "answer"]
    logged = [r.getMessage() for r in caplog.records if r.name == "lash.plugins"]
    assert any("broken-persisted" in line and "turn_persisted" in line for line in logged)


@pytest.mark.anyio
async def test_direct_completion_in_prepare_turn_goes_through_the_effect_seam() -> None:
    """A hook's direct completion is an effect keyed <turn_id>:prepare-turn:direct:<n>, its usage booked under its source."""
    summaries: list[str] = []

    class Summarizer:
        lash_plugin_name = "summarizer"

        @hookimpl
        async def prepare_turn(self, ctx: Any) -> None:
            response = await ctx.completions.complete("summarize", source="summary")
            summaries.append(response.text)

    summary_usage = TokenUsage(input_tokens=40, output_tokens=7)
    host = RecordingEffectHost()
    provider = ScriptedProvider([reply_text("a summary", usage=summary_usage), reply_text("answer")])
    plugins = [Summarizer(), effect_host_plugin(host, "recording")]
    async with scripted_runtime(
        provider, plugins=plugins, config={"effect_host": {"type": "recording"}}
    ) as rt:
        session = await rt.session("s1")
        result = await session.turn("hello", turn_id="t1").run()

    assert summaries == ["a summary"]
    direct = [e for e in host.effects if e.kind is EffectKind.DIRECT]
    assert [e.replay_key for e in direct] == ["t1:prepare-turn:direct:1"]
    assert host.effects[0] is direct[0]
    assert provider.requests[0].request_id == "t1:prepare-turn:direct:1"
    assert TokenLedgerEntry("summary", "scripted-model", summary_usage) in result.usage_by_source
    assert session.usage_report().by_source["summary"] == summary_usage
    answer_usage = TokenUsage(input_tokens=10, output_tokens=1)
    assert result.token_usage == answer_usage
    assert TokenLedgerEntry("turn", "scripted-model", answer_usage) in result.usage_by_source


@pytest.mark.anyio
async def test_injected_clock_stamps_the_execution_summary() -> None:
    """The injected clock gives execution.started_at_ms and duration_ms (advanced inside a tool)."""
    clock = FakeClock(start_ms=1_700_000_000_000)

    @tool
    async def slow() -> str:
        """Take a while."""
        clock.advance(2.5)
        return "done"

    provider = ScriptedProvider([reply_tool_calls(call("slow")), reply_text("finished")])
    async with scripted_runtime(provider, tools=[slow], clock=clock) as rt:
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert result.execution.started_at_ms == 1_700_000_000_000
    assert result.execution.duration_ms == 2500
    assert result.execution.had_tool_calls
    assert [record.duration_ms for record in result.tool_calls] == [2500]


@pytest.mark.anyio
async def test_second_foreground_turn_while_one_runs_raises_session_busy() -> None:
    """Starting a second turn while one runs raises SessionBusy; the first finishes normally."""
    gate = anyio.Event()
    first_reply = reply_text("first", gate=gate)
    provider = ScriptedProvider([first_reply, reply_text("second")])
    results: list[Any] = []
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")

        async def run_first() -> None:
            results.append(await session.turn("one").run())

        async with anyio.create_task_group() as group:
            group.start_soon(run_first)
            await first_reply.started.wait()
            assert session.is_running
            with pytest.raises(SessionBusy):
                await session.turn("two").run()
            gate.set()
        assert results[0].outcome == Finished(AssistantMessage("first"))
        assert provider.calls == 1
        assert (await session.turn("three").run()).outcome == Finished(AssistantMessage("second"))


@pytest.mark.anyio
async def test_same_turn_commit_twice_is_accepted_once(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """Committing the same TurnCommit again is an idempotent replay: head revision and history unchanged."""
    store = recording_store()
    async with scripted_runtime(
        ScriptedProvider([reply_text("hi")]), plugins=[store_plugin(store)], config=STORE_CONFIG
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hello").run()
        commit = store.commits[-1]
        before = await rt.store.load_session("s1")

        again = await rt.store.commit(commit)

        assert again.replayed
        assert again.head_revision == 1
        after = await rt.store.load_session("s1")
        assert after == before
        assert after is not None
        assert after.head.head_revision == 1


@pytest.mark.anyio
async def test_same_turn_id_with_different_content_is_a_commit_conflict(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """Committing a turn id again with different content raises TurnCommitConflict and changes nothing."""
    store = recording_store()
    async with scripted_runtime(
        ScriptedProvider([reply_text("hi")]), plugins=[store_plugin(store)], config=STORE_CONFIG
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hello").run()
        commit = store.commits[-1]
        before = await rt.store.load_session("s1")
        outcome = Stopped(Cancelled())
        changed = evolve(
            commit,
            outcome=outcome,
            commit_hash=turn_commit_hash(
                commit.turn_id,
                [commit.current_frame_id],
                [node.message for node in commit.nodes],
                outcome,
                commit.usage_deltas,
                commit.plugin_state,
            ),
        )

        with pytest.raises(TurnCommitConflict):
            await rt.store.commit(changed)
        assert await rt.store.load_session("s1") == before


@pytest.mark.anyio
async def test_rerunning_a_committed_turn_id_leaves_the_session_unchanged() -> None:
    """Re-running a committed turn id with the same content is answered by the store and not applied twice."""
    provider = ScriptedProvider([reply_text("hi"), reply_text("hi")])
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")
        first = await session.turn("hello", turn_id="t1").run()
        history, usage, turn_count = session.history, session.usage_report(), session.turn_count

        second = await session.turn("hello", turn_id="t1").run()

        assert second.head_revision == first.head_revision == 1
        assert session.head_revision == 1
        assert session.history == history
        assert session.usage_report() == usage
        assert session.turn_count == turn_count
        record = await rt.store.load_session("s1")
        assert record is not None
        assert [node.message for node in record.nodes] == list(history)


@pytest.mark.anyio
async def test_stale_head_is_a_head_conflict(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """A session handle whose head another writer moved gets HeadConflict and keeps its old state."""
    store = recording_store()
    config = STORE_CONFIG
    writer_a = scripted_runtime(
        ScriptedProvider([reply_text("a1"), reply_text("a2")]), plugins=[store_plugin(store)], config=config
    )
    writer_b = scripted_runtime(
        ScriptedProvider([reply_text("b1")]), plugins=[store_plugin(store)], config=config
    )
    async with writer_a as rt_a, writer_b as rt_b:
        session_a = await rt_a.session("s1")
        await session_a.turn("first").run()
        session_b = await rt_b.session("s1")
        assert session_b.head_revision == 1
        await session_a.turn("second").run()

        with pytest.raises(HeadConflict):
            await session_b.turn("stale").run()

        assert session_b.head_revision == 1
        assert [m.text for m in session_b.history] == ["first", "a1"]
        head = await store.load_head("s1")
        assert head is not None
        assert head.head_revision == 2
        assert not session_b.is_running


@pytest.mark.anyio
async def test_live_plugin_input_is_rejected_with_a_durable_store(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """A live plugin input on a session with a durable store raises LiveInputRejected naming the plugin."""
    store = recording_store(DurabilityTier.DURABLE)
    provider = ScriptedProvider([reply_text("never")])
    turn_input = TurnInput(
        items=(TextItem("hi"),), context=TurnContext(plugin_inputs={"my-plugin": object()})
    )
    async with scripted_runtime(provider, plugins=[store_plugin(store)], config=STORE_CONFIG) as rt:
        session = await rt.session("s1")
        with pytest.raises(LiveInputRejected) as caught:
            session.turn(turn_input)
        assert "my-plugin" in str(caught.value)
        assert provider.calls == 0
        assert store.commits == []
        assert not session.is_running


@pytest.mark.anyio
async def test_live_plugin_input_reaches_hooks_with_an_inline_store() -> None:
    """With an inline store, a live plugin input is accepted and handed to the plugin's hooks."""
    seen: list[Any] = []
    marker = object()

    class Reader:
        lash_plugin_name = "my-plugin"

        @hookimpl
        def prepare_turn(self, ctx: Any) -> None:
            seen.append(ctx.plugin_input("my-plugin"))

    turn_input = TurnInput(items=(TextItem("hi"),), context=TurnContext(plugin_inputs={"my-plugin": marker}))
    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Reader()]) as rt:
        session = await rt.session("s1")
        result = await session.turn(turn_input).run()
    assert result.outcome == Finished(AssistantMessage("ok"))
    assert seen == [marker]
