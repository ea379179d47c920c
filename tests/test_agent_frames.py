"""Agent frame switches: a tool's SwitchAgentFrameControl is followed automatically, within a limit."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.model import (
    AgentFrameSwitch,
    AssembledTurn,
    AssistantMessage,
    Cancelled,
    Finished,
    FrameStatus,
    LlmRequest,
    LlmResponse,
    LlmToolCallPart,
    Message,
    Part,
    PartKind,
    Role,
    RuntimeErrorStop,
    Stopped,
    SuccessOutcome,
    SwitchAgentFrameControl,
    TerminalReason,
    TokenUsage,
    ToolCallOutput,
    initial_frame_id,
)
from lash_core.testing import (
    FunctionProvider,
    ScriptedProvider,
    call,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.turn.runner import MAX_AGENT_FRAME_SWITCHES

SEED = (
    Message("seed-1", Role.USER, (Part("seed-1.p0", PartKind.TEXT, "summary of the earlier work"),)),
    Message("seed-2", Role.ASSISTANT, (Part("seed-2.p0", PartKind.PROSE, "understood"),)),
)


@tool
async def handoff() -> ToolCallOutput:
    """Continue in a fresh agent frame."""
    return ToolCallOutput(
        SuccessOutcome("switching"),
        control=SwitchAgentFrameControl(frame_id="f2", task="continue here", initial_messages=SEED),
    )


STORE_CONFIG = {"store": {"type": "recording"}}


def handoff_provider() -> ScriptedProvider:
    """The model calls ``handoff`` once, then answers in the new frame."""
    return ScriptedProvider([reply_tool_calls(call("handoff")), reply_text("done in f2")])


@pytest.mark.anyio
async def test_switch_is_followed_by_a_physical_turn_in_the_new_frame() -> None:
    """The follow-on physical turn is <root>:agent-frame:1 and finishes the logical turn."""
    async with scripted_runtime(handoff_provider(), tools=[handoff]) as rt:
        session = await rt.session("s1")
        result = await session.turn("start", turn_id="root").run()
    assert result.turn_id == "root:agent-frame:1"
    assert result.outcome == Finished(AssistantMessage("done in f2"))
    assert result.head_revision == 2


@pytest.mark.anyio
async def test_follow_on_turn_runs_with_the_task_text_and_the_seed() -> None:
    """The follow-on model call sees the frame's seed messages and the task as the user input, nothing older."""
    provider = handoff_provider()
    async with scripted_runtime(provider, tools=[handoff]) as rt:
        session = await rt.session("s1")
        await session.turn("start", turn_id="root").run()
    follow_on = provider.requests[1]
    assert [(m.role, m.text) for m in follow_on.messages] == [
        (Role.USER, "summary of the earlier work"),
        (Role.ASSISTANT, "understood"),
        (Role.USER, "continue here"),
    ]
    assert follow_on.request_id.startswith("s1:root:agent-frame:1:")


@pytest.mark.anyio
async def test_session_history_holds_only_the_new_frame() -> None:
    """After the switch the current frame is f2 and the history is f2's seed plus the follow-on turn."""
    async with scripted_runtime(handoff_provider(), tools=[handoff]) as rt:
        session = await rt.session("s1")
        await session.turn("start", turn_id="root").run()
        assert session.current_frame_id == "f2"
        assert [(m.role, m.text) for m in session.history] == [
            (Role.USER, "summary of the earlier work"),
            (Role.ASSISTANT, "understood"),
            (Role.USER, "continue here"),
            (Role.ASSISTANT, "done in f2"),
        ]
        reopened = await rt.store.load_session("s1")
    assert reopened is not None
    assert reopened.head.current_frame_id == "f2"
    assert [n.message for n in reopened.nodes if n.frame_id == "f2"] == list(session.history)


@pytest.mark.anyio
async def test_previous_frame_is_superseded() -> None:
    """The switch supersedes the initial frame and records f2 as the one active frame, caused by the root turn."""
    async with scripted_runtime(handoff_provider(), tools=[handoff]) as rt:
        session = await rt.session("s1")
        await session.turn("start", turn_id="root").run()
    frames = {frame.frame_id: frame for frame in session.frames}
    initial = initial_frame_id("s1")
    assert set(frames) == {initial, "f2"}
    assert frames[initial].status is FrameStatus.SUPERSEDED
    assert frames["f2"].status is FrameStatus.ACTIVE
    assert frames["f2"].previous_frame_id == initial
    assert frames["f2"].caused_by == "root"


@pytest.mark.anyio
async def test_switching_turn_commits_its_work_in_the_old_frame(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """The switching physical turn commits its own messages in the old frame and the seed in the new one."""
    store = recording_store()
    async with scripted_runtime(
        handoff_provider(), tools=[handoff], plugins=[store_plugin(store)], config=STORE_CONFIG
    ) as rt:
        session = await rt.session("s1")
        await session.turn("start", turn_id="root").run()
    switching, follow_on = store.commits
    assert switching.turn_id == "root"
    assert isinstance(switching.outcome, AgentFrameSwitch)
    assert switching.current_frame_id == "f2"
    old = [n.message for n in switching.nodes if n.frame_id == initial_frame_id("s1")]
    new = [n.message for n in switching.nodes if n.frame_id == "f2"]
    assert [m.role for m in old] == [Role.USER, Role.ASSISTANT, Role.USER]
    assert old[0].text == "start"
    assert [m.text for m in new] == ["summary of the earlier work", "understood"]
    assert follow_on.turn_id == "root:agent-frame:1"
    assert {n.frame_id for n in follow_on.nodes} == {"f2"}


@pytest.mark.anyio
async def test_too_many_switches_end_with_a_committed_runtime_error(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """A turn that keeps switching frames stops after the limit with Stopped(RuntimeErrorStop) and a committed issue."""
    counter = itertools.count(1)

    @tool
    async def switch_again() -> ToolCallOutput:
        """Switch to yet another frame."""
        return ToolCallOutput(
            SuccessOutcome(None), control=SwitchAgentFrameControl(frame_id=f"f{next(counter)}")
        )

    def always_switch(request: LlmRequest) -> LlmResponse:
        part = LlmToolCallPart("call_switch", "switch_again", "{}")
        return LlmResponse((part,), TokenUsage(input_tokens=1, output_tokens=1), TerminalReason.TOOL_USE)

    provider = FunctionProvider(always_switch)
    store = recording_store()
    async with scripted_runtime(
        provider, tools=[switch_again], plugins=[store_plugin(store)], config=STORE_CONFIG
    ) as rt:
        session = await rt.session("s1")
        result = await session.turn("loop", turn_id="root").run()

    assert MAX_AGENT_FRAME_SWITCHES == 16
    assert len(provider.requests) == MAX_AGENT_FRAME_SWITCHES + 1
    assert result.turn_id == f"root:agent-frame:{MAX_AGENT_FRAME_SWITCHES}"
    assert result.outcome == Stopped(RuntimeErrorStop())
    assert "agent_frame_switch_limit" in [issue.code for issue in result.errors]
    last = store.commits[-1]
    assert len(store.commits) == MAX_AGENT_FRAME_SWITCHES + 1
    assert last.turn_id == result.turn_id
    assert last.outcome == Stopped(RuntimeErrorStop())
    assert last.current_frame_id == f"f{MAX_AGENT_FRAME_SWITCHES}"
    assert session.head_revision == MAX_AGENT_FRAME_SWITCHES + 1
    assert not session.is_running


@pytest.mark.anyio
async def test_cancelling_the_follow_on_turn_commits_cancelled_in_the_new_frame(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """turn.cancel() during the follow-on physical turn commits Stopped(Cancelled) for it, inside frame f2."""
    held = reply_text("never", gate=anyio.Event())
    provider = ScriptedProvider([reply_tool_calls(call("handoff")), held])
    store = recording_store()
    results: list[AssembledTurn] = []
    async with scripted_runtime(
        provider, tools=[handoff], plugins=[store_plugin(store)], config=STORE_CONFIG
    ) as rt:
        session = await rt.session("s1")
        turn = session.turn("start", turn_id="root")

        async def run() -> None:
            results.append(await turn.run())

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await held.started.wait()
            turn.cancel("enough")
    (result,) = results
    assert result.turn_id == "root:agent-frame:1"
    assert result.outcome == Stopped(Cancelled())
    assert result.cancellation_reason == "enough"
    assert [c.turn_id for c in store.commits] == ["root", "root:agent-frame:1"]
    assert session.current_frame_id == "f2"
    assert [m.text for m in session.history] == ["summary of the earlier work", "understood", "continue here"]
