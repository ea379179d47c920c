"""The ``SwitchAgentFrame`` directive: a ``prepare_turn`` hook runs the turn in a new agent frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lash_core import Runtime, tool
from lash_core.effects import DurabilityTier
from lash_core.errors import HookError
from lash_core.hooks import AbortTurn, EnqueueMessages, TurnHookContext, hookimpl
from lash_core.hooks.directives import SwitchAgentFrame
from lash_core.model import (
    AgentFrameSwitch,
    AssistantMessage,
    Finished,
    FrameStatus,
    Message,
    Part,
    PartKind,
    PluginAbort,
    PluginOrigin,
    ProviderFailureKind,
    Role,
    Stopped,
    SuccessOutcome,
    SwitchAgentFrameControl,
    TokenUsage,
    ToolCallOutput,
    initial_frame_id,
)
from lash_core.store.contract import CommitResult, TurnCommit
from lash_core.store.memory import MemoryStore
from lash_core.testing import (
    ScriptedProvider,
    call,
    reply_error,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)

pytestmark = pytest.mark.anyio

SUMMARY = Message("any-id", Role.USER, (Part("any-id.p0", PartKind.TEXT, "summary: we said hello"),))
NEW_FRAME = "s1:frame:compaction:1"


class RecordingStore(MemoryStore):
    """A memory store shared by runtimes that keeps every commit it applied."""

    durability = DurabilityTier.INLINE

    def __init__(self) -> None:
        super().__init__()
        self.commits: list[TurnCommit] = []

    async def commit(self, commit: TurnCommit) -> CommitResult:
        result = await super().commit(commit)
        self.commits.append(commit)
        return result


class Switcher:
    """Returns what ``decide(ctx)`` gives from ``prepare_turn``; records what later hooks saw."""

    def __init__(self, decide: Callable[[TurnHookContext], Any], name: str = "switcher") -> None:
        self.lash_plugin_name = name
        self.decide = decide
        self.seen_history: list[tuple[Message, ...]] = []
        self.seen_usage: list[TokenUsage | None] = []

    @hookimpl
    def prepare_turn(self, ctx: TurnHookContext) -> Any:
        return self.decide(ctx)

    @hookimpl
    def prompt_contributions(self, ctx: TurnHookContext) -> None:
        self.seen_history.append(ctx.history)
        self.seen_usage.append(ctx.last_prompt_usage)


def in_turn(turn_id: str, directive: Any) -> Callable[[TurnHookContext], Any]:
    """A decision returning ``directive`` only in the physical turn ``turn_id``."""

    def decide(ctx: TurnHookContext) -> Any:
        return directive if ctx.turn_id == turn_id else None

    return decide


def runtime(provider: ScriptedProvider, store: RecordingStore, *plugins: object, tools: Any = ()) -> Runtime:
    """A scripted runtime over ``store`` (registered as store type ``shared``)."""

    class SharedStore:
        lash_plugin_name = "shared-store"

        @hookimpl
        def register_stores(self, register: Any) -> None:
            register("shared", lambda settings=None: store)

    return scripted_runtime(
        provider, plugins=[SharedStore(), *plugins], tools=tools, config={"store": {"type": "shared"}}
    )


async def two_turns(*plugins: object, store: RecordingStore | None = None) -> tuple[ScriptedProvider, Any]:
    """Run ``hello`` then ``next`` on session s1; return the provider and the session."""
    provider = ScriptedProvider([reply_text("hi"), reply_text("ok")])
    async with runtime(provider, store or RecordingStore(), *plugins) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        await session.turn("next", turn_id="t2").run()
    return provider, session


async def test_the_model_sees_only_the_seed_and_the_new_user_message() -> None:
    """After the switch the model request holds the seed and the turn's user message, nothing older."""
    provider, _ = await two_turns(Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,)))))
    first, second = provider.requests
    assert [m.text for m in first.messages] == ["hello"]
    assert [(m.role, m.text) for m in second.messages] == [
        (Role.USER, "summary: we said hello"),
        (Role.USER, "next"),
    ]


async def test_the_switch_is_committed_with_the_turn_and_not_followed() -> None:
    """One commit: the old frame superseded, the new one active with the directive's reason, the
    seed and the whole turn in the new frame; the logical turn is not followed by another one."""
    store = RecordingStore()
    provider, session = await two_turns(
        Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,)))), store=store
    )
    assert [c.turn_id for c in store.commits] == ["t1", "t2"]
    commit = store.commits[1]
    assert commit.current_frame_id == NEW_FRAME
    assert commit.outcome == Finished(AssistantMessage("ok"))
    assert {node.frame_id for node in commit.nodes} == {NEW_FRAME}
    assert [n.message.text for n in commit.nodes] == ["summary: we said hello", "next", "ok"]
    frames = {frame.frame_id: frame for frame in session.frames}
    initial = initial_frame_id("s1")
    assert frames[initial].status is FrameStatus.SUPERSEDED
    assert frames[NEW_FRAME].status is FrameStatus.ACTIVE
    assert frames[NEW_FRAME].reason == "compaction"
    assert frames[NEW_FRAME].previous_frame_id == initial
    assert frames[NEW_FRAME].caused_by == "t2"
    assert session.current_frame_id == NEW_FRAME
    assert [m.text for m in session.history] == ["summary: we said hello", "next", "ok"]
    assert session.head_revision == 2
    assert len(provider.requests) == 2


async def test_the_old_frame_stays_in_the_store_and_a_reopened_session_sees_the_new_one() -> None:
    """The superseded frame's messages remain stored; a fresh runtime reopens the session in the new frame."""
    store = RecordingStore()
    await two_turns(Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,)))), store=store)
    record = await store.load_session("s1")
    assert record is not None
    old = [n.message.text for n in record.nodes if n.frame_id == initial_frame_id("s1")]
    assert old == ["hello", "hi"]
    async with runtime(ScriptedProvider(), store) as rt:
        reopened = await rt.session("s1")
        assert reopened.current_frame_id == NEW_FRAME
        assert [m.text for m in reopened.history] == ["summary: we said hello", "next", "ok"]


async def test_seed_messages_get_fresh_ids_and_the_plugin_origin() -> None:
    """Seed messages are restamped: unique ids of the turn, part ids under them, the switching plugin as origin."""
    _, session = await two_turns(Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY, SUMMARY)))))
    seeds = session.history[:2]
    assert len({m.id for m in session.history}) == len(session.history)
    for seed in seeds:
        assert seed.id.startswith("m:t2:")
        assert seed.parts[0].id == f"{seed.id}.p0"
        assert seed.origin == PluginOrigin("switcher")


async def test_later_hooks_see_the_new_frame() -> None:
    """Hooks after prepare_turn see the seed as the frame's history and no last prompt usage."""
    switcher = Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,))))
    await two_turns(switcher)
    assert [m.text for m in switcher.seen_history[1]] == ["summary: we said hello"]
    assert switcher.seen_usage[0] is None  # the first turn of a session has no usage yet
    assert switcher.seen_usage[1] is None


async def test_messages_added_by_prepare_turn_are_kept_in_the_new_frame() -> None:
    """Enqueued messages, before or after the switch, reach the model after the user message; transient
    ones are not committed."""
    note = EnqueueMessages.text("be brief", role=Role.SYSTEM)
    flash = EnqueueMessages.text("transient hint", transient=True)
    enqueuer = Switcher(in_turn("t2", [note]), name="enqueuer")
    switcher = Switcher(in_turn("t2", [SwitchAgentFrame(NEW_FRAME, (SUMMARY,)), flash]))
    provider, session = await two_turns(enqueuer, switcher)
    assert [m.text for m in provider.requests[1].messages] == [
        "summary: we said hello",
        "next",
        "transient hint",
        "be brief",
    ]
    assert [m.text for m in session.history] == ["summary: we said hello", "next", "be brief", "ok"]


async def test_the_last_switch_wins() -> None:
    """Of two switches in one prepare_turn phase, the one returned last opens its frame."""
    other = Message("x", Role.USER, (Part("x.p0", PartKind.TEXT, "other summary"),))
    first = Switcher(in_turn("t2", SwitchAgentFrame("s1:frame:a", (other,))), name="first")
    second = Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,))), name="second")
    _, session = await two_turns(first, second)
    # Plugins passed later are called first, so "first" returns last.
    assert session.current_frame_id == "s1:frame:a"
    assert [f.frame_id for f in session.frames] == [initial_frame_id("s1"), "s1:frame:a"]
    assert session.history[0].text == "other summary"


@pytest.mark.parametrize("frame_id", ["", "s1:frame:initial"])
async def test_an_empty_or_current_frame_id_changes_nothing(frame_id: str) -> None:
    """A switch to no frame or to the current one is a no-op: the turn runs in the current frame."""
    provider, session = await two_turns(Switcher(in_turn("t2", SwitchAgentFrame(frame_id, (SUMMARY,)))))
    assert [m.text for m in provider.requests[1].messages] == ["hello", "hi", "next"]
    assert session.current_frame_id == initial_frame_id("s1")
    assert len(session.frames) == 1


async def test_an_earlier_frame_id_is_refused_and_nothing_is_committed() -> None:
    """Reopening a superseded frame is a HookError naming the plugin; the turn commits nothing."""
    directives = {
        "t2": SwitchAgentFrame(NEW_FRAME, (SUMMARY,)),
        "t3": SwitchAgentFrame(initial_frame_id("s1")),
    }

    def decide(ctx: TurnHookContext) -> Any:
        return directives.get(ctx.turn_id)

    provider = ScriptedProvider([reply_text("hi"), reply_text("ok"), reply_text("never")])
    store = RecordingStore()
    async with runtime(provider, store, Switcher(decide)) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        await session.turn("next", turn_id="t2").run()
        with pytest.raises(HookError) as raised:
            await session.turn("again", turn_id="t3").run()
    assert raised.value.plugin == "switcher"
    assert raised.value.hook == "prepare_turn"
    assert "already exists" in str(raised.value)
    assert [c.turn_id for c in store.commits] == ["t1", "t2"]
    assert session.current_frame_id == NEW_FRAME
    assert len(provider.requests) == 2


async def test_an_abort_drops_the_switch() -> None:
    """With an AbortTurn the switch does not happen; the stopped turn commits in the current frame."""
    switcher = Switcher(in_turn("t2", [SwitchAgentFrame(NEW_FRAME, (SUMMARY,)), AbortTurn("no", "not now")]))
    provider = ScriptedProvider([reply_text("hi")])
    async with runtime(provider, RecordingStore(), switcher) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        result = await session.turn("next", turn_id="t2").run()
    assert result.outcome == Stopped(PluginAbort("switcher", "no", "not now"))
    assert session.current_frame_id == initial_frame_id("s1")
    assert [m.text for m in session.history] == ["hello", "hi", "next"]


async def test_a_turn_failing_after_the_switch_still_commits_it_without_prompt_usage() -> None:
    """A provider failure after the switch commits the new frame; the old frame's prompt usage is dropped."""
    provider = ScriptedProvider([reply_text("hi"), reply_error(ProviderFailureKind.TRANSPORT, "down")])
    store = RecordingStore()
    async with runtime(
        provider, store, Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,))))
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        assert session.last_prompt_usage is not None
        result = await session.turn("next", turn_id="t2").run()
    assert isinstance(result.outcome, Stopped)
    assert session.current_frame_id == NEW_FRAME
    assert [m.text for m in session.history] == ["summary: we said hello", "next"]
    assert session.last_prompt_usage is None
    assert store.commits[-1].last_prompt_usage is None


async def test_a_switch_then_a_tool_frame_switch_chain_their_frames() -> None:
    """A prepare_turn switch and a tool's continue_as in the same turn: initial -> compaction -> f2."""

    @tool
    async def handoff() -> ToolCallOutput:
        """Continue in a fresh agent frame."""
        seed = Message("s", Role.USER, (Part("s.p0", PartKind.TEXT, "handoff seed"),))
        return ToolCallOutput(
            SuccessOutcome("switching"),
            control=SwitchAgentFrameControl(frame_id="f2", task="go on", initial_messages=(seed,)),
        )

    provider = ScriptedProvider(
        [reply_text("hi"), reply_tool_calls(call("handoff")), reply_text("done in f2")]
    )
    store = RecordingStore()
    switcher = Switcher(in_turn("t2", SwitchAgentFrame(NEW_FRAME, (SUMMARY,))))
    async with runtime(provider, store, switcher, tools=[handoff]) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        result = await session.turn("next", turn_id="t2").run()
    assert result.turn_id == "t2:agent-frame:1"
    switching = store.commits[1]
    assert isinstance(switching.outcome, AgentFrameSwitch)
    assert switching.current_frame_id == "f2"
    in_compaction = [n.message.text for n in switching.nodes if n.frame_id == NEW_FRAME]
    assert in_compaction[:2] == ["summary: we said hello", "next"]
    assert [n.message.text for n in switching.nodes if n.frame_id == "f2"] == ["handoff seed"]
    frames = {frame.frame_id: frame for frame in session.frames}
    assert [f.frame_id for f in session.frames] == [initial_frame_id("s1"), NEW_FRAME, "f2"]
    assert frames[NEW_FRAME].status is FrameStatus.SUPERSEDED
    assert frames[NEW_FRAME].reason == "compaction"
    assert frames["f2"].previous_frame_id == NEW_FRAME
    assert frames["f2"].reason == "continue_as"
    assert [s for s in (f.status for f in session.frames) if s is FrameStatus.ACTIVE] == [FrameStatus.ACTIVE]


async def test_other_hooks_may_not_return_a_frame_switch() -> None:
    """finalize_turn refuses SwitchAgentFrame with a HookError naming the plugin."""

    class Finalizer:
        lash_plugin_name = "finalizer"

        @hookimpl
        def finalize_turn(self, ctx: TurnHookContext, turn: Any) -> Any:
            return SwitchAgentFrame(NEW_FRAME, (SUMMARY,))

    async with runtime(ScriptedProvider([reply_text("hi")]), RecordingStore(), Finalizer()) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hello").run()
    assert raised.value.plugin == "finalizer"
    assert raised.value.hook == "finalize_turn"
