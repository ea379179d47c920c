"""Cancelling a turn at any point commits ``Stopped(Cancelled)`` and leaves a valid history.

Every test runs on asyncio and on trio (the ``anyio_backend`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.hooks import hookimpl
from lash_core.model import (
    AssistantMessage,
    AssistantProseDelta,
    Cancelled,
    CancelledOutcome,
    Finished,
    LlmRequest,
    LlmResponse,
    Message,
    PartKind,
    Role,
    Stopped,
    StreamTextDelta,
    SuccessOutcome,
    ToolCallCompleted,
    TurnActivity,
)
from lash_core.providers import StreamCallback
from lash_core.session import Session, Turn, collect_into
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

GUARD_SECONDS = 10


class StreamThenHold:
    """A provider whose first call streams a prose delta and then never returns; later
    calls are answered by a ScriptedProvider."""

    def __init__(self, *replies: Any) -> None:
        self.held = anyio.Event()
        self.requests: list[LlmRequest] = []
        self.rest = ScriptedProvider(replies)

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        self.requests.append(request)
        if not self.held.is_set():
            if on_event is not None:
                await on_event(StreamTextDelta("partial answer"))
            self.held.set()
            await anyio.Event().wait()
        return await self.rest.complete(request, on_event)


class Blocker:
    """Tools that block until cancelled, each reporting when it has started."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.entered = 0
        self.all_entered = anyio.Event()

    async def block(self) -> None:
        self.entered += 1
        if self.entered == self.count:
            self.all_entered.set()
        await anyio.Event().wait()


def assert_valid_history(messages: Sequence[Message]) -> None:
    """Every tool call has exactly one tool result, after it; no result lacks its call."""
    calls: dict[str, int] = {}
    results: dict[str, list[int]] = {}
    for index, message in enumerate(messages):
        for part in message.parts:
            if part.kind is PartKind.TOOL_CALL:
                assert part.tool_call_id not in calls, f"duplicate tool call {part.tool_call_id}"
                calls[str(part.tool_call_id)] = index
            elif part.kind is PartKind.TOOL_RESULT:
                results.setdefault(str(part.tool_call_id), []).append(index)
    assert set(results) == set(calls)
    for call_id, where in results.items():
        assert len(where) == 1, f"tool call {call_id} has {len(where)} results"
        assert where[0] > calls[call_id]


def no_partial_prose(messages: Sequence[Message]) -> bool:
    """True when no message holds the streamed-but-unfinished prose."""
    return all("partial answer" not in part.content for message in messages for part in message.parts)


async def run_and_cancel_when(turn: Turn, ready: anyio.Event, reason: str = "stop pressed") -> Any:
    """Run ``turn`` in a task, cancel it with ``turn.cancel()`` once ``ready`` is set, return its result."""
    results: list[Any] = []

    async def run() -> None:
        results.append(await turn.run())

    with anyio.fail_after(GUARD_SECONDS):  # a guard against a hang, not a synchronisation
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await ready.wait()
            turn.cancel(reason)
    return results[0]


async def assert_next_turn_works(session: Session, requests: list[LlmRequest]) -> None:
    """The next turn on the session finishes and the model sees the committed history plus the new input."""
    history = session.history
    result = await session.turn("next question").run()
    assert result.outcome == Finished(AssistantMessage("next answer"))
    sent = requests[-1].messages
    assert sent[: len(history)] == history
    assert [m.text for m in sent[len(history) :]] == ["next question"]
    assert_valid_history(session.history)
    assert not session.is_running


@pytest.mark.anyio
async def test_cancel_during_model_call_commits_cancelled_without_partial_prose() -> None:
    """turn.cancel() while the model streams commits Stopped(Cancelled); the streamed prose is not committed."""
    provider = StreamThenHold(reply_text("next answer"))
    activities: list[TurnActivity] = []
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")
        turn = session.turn("hello", sink=collect_into(activities))
        result = await run_and_cancel_when(turn, provider.held, "stop pressed")

        assert result.outcome == Stopped(Cancelled())
        assert result.cancellation_reason == "stop pressed"
        assert [a.event.text for a in activities if isinstance(a.event, AssistantProseDelta)] == [
            "partial answer"
        ]
        assert [(m.role, m.text) for m in result.messages] == [(Role.USER, "hello")]
        assert no_partial_prose(session.history)
        assert session.head_revision == result.head_revision == 1
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_cancel_during_tool_calls_gives_every_in_flight_call_a_cancelled_result() -> None:
    """turn.cancel() while tools run commits Stopped(Cancelled) with one synthetic cancelled result per call."""
    blocker = Blocker(count=2)

    @tool
    async def wait_forever() -> str:
        """Block until cancelled."""
        await blocker.block()
        return "unreachable"

    provider = ScriptedProvider(
        [
            reply_tool_calls(call("wait_forever", call_id="c1"), call("wait_forever", call_id="c2")),
            reply_text("next answer"),
        ]
    )
    async with scripted_runtime(provider, tools=[wait_forever]) as rt:
        session = await rt.session("s1")
        result = await run_and_cancel_when(session.turn("go"), blocker.all_entered)

        assert result.outcome == Stopped(Cancelled())
        assert [m.role for m in result.messages] == [Role.USER, Role.ASSISTANT, Role.USER]
        results = result.messages[2].parts
        assert [(p.kind, p.tool_call_id) for p in results] == [
            (PartKind.TOOL_RESULT, "c1"),
            (PartKind.TOOL_RESULT, "c2"),
        ]
        outputs = [p.tool_output for p in results]
        assert all(o is not None and isinstance(o.outcome, CancelledOutcome) for o in outputs)
        assert sorted(r.call_id for r in result.tool_calls) == ["c1", "c2"]
        assert_valid_history(session.history)
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_cancel_with_one_tool_finished_and_one_in_flight() -> None:
    """Cancelling a round where one call finished keeps its result and marks only the other cancelled."""
    blocker = Blocker()
    quick_done = anyio.Event()

    @tool
    async def quick() -> str:
        """Answer at once."""
        return "quick result"

    @tool
    async def slow() -> str:
        """Block until cancelled."""
        await blocker.block()
        return "unreachable"

    async def sink(activity: TurnActivity) -> None:
        if isinstance(activity.event, ToolCallCompleted) and activity.event.name == "quick":
            quick_done.set()

    provider = ScriptedProvider([reply_tool_calls(call("quick"), call("slow")), reply_text("next answer")])
    async with scripted_runtime(provider, tools=[quick, slow]) as rt:
        session = await rt.session("s1")
        ready = anyio.Event()

        async def both_ready() -> None:
            await quick_done.wait()
            await blocker.all_entered.wait()
            ready.set()

        async with anyio.create_task_group() as group:
            group.start_soon(both_ready)
            result = await run_and_cancel_when(session.turn("go", sink=sink), ready)

        assert result.outcome == Stopped(Cancelled())
        parts = result.messages[-1].parts
        assert [p.tool_call_id for p in parts] == ["call_quick", "call_slow"]
        assert parts[0].tool_output is not None
        assert parts[0].tool_output.outcome == SuccessOutcome("quick result")
        assert parts[1].tool_output is not None
        assert isinstance(parts[1].tool_output.outcome, CancelledOutcome)
        assert_valid_history(session.history)
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_outer_cancel_scope_during_model_call_commits_and_propagates(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """Cancelling an enclosing cancel scope commits Stopped(Cancelled) and the cancellation still propagates."""
    store = recording_store()
    held = reply_text("never", gate=anyio.Event())
    provider = ScriptedProvider([held, reply_text("next answer")])
    reached_after_run: list[bool] = []
    async with scripted_runtime(
        provider, plugins=[store_plugin(store)], config={"store": {"type": "recording"}}
    ) as rt:
        session = await rt.session("s1")
        with anyio.fail_after(GUARD_SECONDS), anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel_when_held() -> None:
                    await held.started.wait()
                    scope.cancel()

                group.start_soon(cancel_when_held)
                await session.turn("hello").run()
                reached_after_run.append(True)

        assert scope.cancelled_caught
        assert reached_after_run == []
        assert [c.outcome for c in store.commits] == [Stopped(Cancelled())]
        assert session.head_revision == 1
        assert [m.text for m in session.history] == ["hello"]
        assert not session.is_running
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_outer_cancel_scope_during_tool_call_closes_the_round(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """An outer cancellation during a tool call commits Stopped(Cancelled) with a cancelled result for the call."""
    store = recording_store()
    blocker = Blocker()

    @tool
    async def wait_forever() -> str:
        """Block until cancelled."""
        await blocker.block()
        return "unreachable"

    provider = ScriptedProvider([reply_tool_calls(call("wait_forever")), reply_text("next answer")])
    config = {"store": {"type": "recording"}}
    async with scripted_runtime(
        provider, tools=[wait_forever], plugins=[store_plugin(store)], config=config
    ) as rt:
        session = await rt.session("s1")
        with anyio.fail_after(GUARD_SECONDS), anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel_when_entered() -> None:
                    await blocker.all_entered.wait()
                    scope.cancel()

                group.start_soon(cancel_when_entered)
                await session.turn("go").run()

        assert scope.cancelled_caught
        (commit,) = store.commits
        assert commit.outcome == Stopped(Cancelled())
        last = commit.nodes[-1].message
        assert [p.kind for p in last.parts] == [PartKind.TOOL_RESULT]
        assert last.parts[0].tool_output is not None
        assert isinstance(last.parts[0].tool_output.outcome, CancelledOutcome)
        assert_valid_history(session.history)
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_cancel_before_run_commits_cancelled_without_calling_the_model() -> None:
    """turn.cancel() before run() makes run() commit Stopped(Cancelled) without a model call."""
    provider = ScriptedProvider([reply_text("should not be used"), reply_text("next answer")])
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")
        turn = session.turn("hello")
        turn.cancel("changed my mind")

        result = await turn.run()

        assert result.outcome == Stopped(Cancelled())
        assert result.cancellation_reason == "changed my mind"
        assert provider.calls == 0
        assert session.head_revision == result.head_revision == 1
        provider.replies.pop(0)
        await assert_next_turn_works(session, provider.requests)


@pytest.mark.anyio
async def test_outer_cancel_during_finalize_turn_still_commits(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """An outer cancellation while a finalize_turn hook awaits still commits the turn, then propagates."""
    store = recording_store()
    entered = anyio.Event()

    class SlowFinalize:
        lash_plugin_name = "slow-finalize"

        @hookimpl
        async def finalize_turn(self, ctx: Any, turn: Any) -> None:
            entered.set()
            await anyio.Event().wait()

    provider = ScriptedProvider([reply_text("answer")])
    plugins = [store_plugin(store), SlowFinalize()]
    async with scripted_runtime(provider, plugins=plugins, config={"store": {"type": "recording"}}) as rt:
        session = await rt.session("s1")
        with anyio.fail_after(GUARD_SECONDS), anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel_when_finalizing() -> None:
                    await entered.wait()
                    scope.cancel()

                group.start_soon(cancel_when_finalizing)
                await session.turn("hello").run()

        assert scope.cancelled_caught
        assert len(store.commits) == 1
        assert store.commits[0].outcome in (Stopped(Cancelled()), Finished(AssistantMessage("answer")))
        assert session.head_revision == 1
