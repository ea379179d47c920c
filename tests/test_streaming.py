"""Streaming a turn: ordered activities, correlation ids, sinks, early exit, attempt resets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    AssistantProseDelta,
    Cancelled,
    Finished,
    LlmRequest,
    LlmResponse,
    LlmTextPart,
    ModelAttemptReset,
    ModelRequestStarted,
    Stopped,
    StreamAttemptReset,
    StreamTextDelta,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnActivity,
    UsageEvent,
)
from lash_core.providers import StreamCallback
from lash_core.session import collect_into
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime


@tool
async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def tool_turn_provider() -> ScriptedProvider:
    """A model that says something, calls ``lookup``, then answers in two chunks."""
    return ScriptedProvider(
        [
            reply_tool_calls(call("lookup", {"key": "k"}), text="checking"),
            reply_text("all done", chunks=["all ", "done"]),
        ]
    )


async def failing_sink(activity: TurnActivity) -> None:
    """A sink that always fails."""
    raise RuntimeError("sink is broken")


@pytest.mark.anyio
async def test_stream_yields_activities_in_order() -> None:
    """A tool turn streams model, prose, usage and tool activities in the order they happen."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        stream = session.turn("go", turn_id="t1").stream()
        activities = [activity async for activity in stream]
    kinds = [type(a.event).__name__ for a in activities]
    assert kinds == [
        "ModelRequestStarted",
        "AssistantProseDelta",
        "UsageEvent",
        "ToolCallStarted",
        "ToolCallCompleted",
        "ModelRequestStarted",
        "AssistantProseDelta",
        "AssistantProseDelta",
        "UsageEvent",
    ]
    assert [a.id for a in activities] == [f"t1:{n}" for n in range(1, len(activities) + 1)]
    assert [a.event.text for a in activities if isinstance(a.event, AssistantProseDelta)] == [
        "checking",
        "all ",
        "done",
    ]
    assert [a.event.protocol_iteration for a in activities if isinstance(a.event, ModelRequestStarted)] == [
        0,
        1,
    ]


@pytest.mark.anyio
async def test_prose_deltas_of_one_model_call_share_a_correlation_id() -> None:
    """The prose deltas of one model call share one correlation id, distinct from another call's."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        activities = [a async for a in session.turn("go").stream()]
    prose = [a.correlation_id for a in activities if isinstance(a.event, AssistantProseDelta)]
    first_call, second_a, second_b = prose
    assert second_a == second_b
    assert first_call != second_a


@pytest.mark.anyio
async def test_tool_started_and_completed_share_a_correlation_id() -> None:
    """A tool call's started and completed activities share one correlation id, unique to the call."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        activities = [a async for a in session.turn("go").stream()]
    started = [a for a in activities if isinstance(a.event, ToolCallStarted)]
    completed = [a for a in activities if isinstance(a.event, ToolCallCompleted)]
    assert len(started) == len(completed) == 1
    assert started[0].correlation_id == completed[0].correlation_id
    others = {a.correlation_id for a in activities if a not in (started[0], completed[0])}
    assert started[0].correlation_id not in others
    assert completed[0].event.args == {"key": "k"}


@pytest.mark.anyio
async def test_stream_result_holds_the_assembled_turn_after_iteration() -> None:
    """After the stream is exhausted, .result is the AssembledTurn of the committed turn."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        stream = session.turn("go", turn_id="t1").stream()
        assert stream.result is None
        async for _ in stream:
            pass
    result = stream.result
    assert isinstance(result, AssembledTurn)
    assert result.turn_id == "t1"
    assert result.outcome == Finished(AssistantMessage("all done"))
    assert result.head_revision == session.head_revision == 1
    assert result.messages == session.history


@pytest.mark.anyio
async def test_event_sink_receives_the_same_activities_as_the_stream() -> None:
    """An EventSink passed to session.turn receives exactly the activities the stream yields."""
    received: list[TurnActivity] = []
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        streamed = [a async for a in session.turn("go", sink=collect_into(received)).stream()]
    assert streamed
    assert received == streamed


@pytest.mark.anyio
async def test_event_sink_on_run_receives_activities() -> None:
    """An EventSink on a plain run() receives the turn's activities, ending with the last usage."""
    received: list[TurnActivity] = []
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        result = await session.turn("go", sink=collect_into(received)).run()
    assert isinstance(received[-1].event, UsageEvent)
    assert received[-1].event.cumulative == result.token_usage
    assert sum(isinstance(a.event, ToolCallCompleted) for a in received) == 1


@pytest.mark.anyio
async def test_failing_sink_does_not_abort_the_turn() -> None:
    """A sink that raises on every activity is ignored; the turn finishes and commits."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        result = await session.turn("go", sink=failing_sink).run()
    assert result.outcome == Finished(AssistantMessage("all done"))
    assert result.head_revision == 1
    assert [record.tool for record in result.tool_calls] == ["lookup"]


@pytest.mark.anyio
async def test_failing_sink_does_not_starve_the_stream() -> None:
    """With a failing sink next to the stream, the stream still yields every activity."""
    async with scripted_runtime(tool_turn_provider(), tools=[lookup]) as rt:
        session = await rt.session("s1")
        stream = session.turn("go", sink=failing_sink).stream()
        activities = [a async for a in stream]
    assert len(activities) == 9
    assert stream.result is not None
    assert stream.result.outcome == Finished(AssistantMessage("all done"))


@pytest.mark.anyio
async def test_leaving_the_stream_early_cancels_and_commits_cancelled(
    recording_store: Callable[..., Any], store_plugin: Callable[..., object]
) -> None:
    """Breaking out of `async with turn.stream()` cancels the turn, which commits Stopped(Cancelled)."""
    store = recording_store()
    held = reply_text("never", gate=anyio.Event())
    provider = ScriptedProvider([held, reply_text("later")])
    config = {"store": {"type": "recording"}}
    async with scripted_runtime(provider, plugins=[store_plugin(store)], config=config) as rt:
        session = await rt.session("s1")
        seen: list[TurnActivity] = []
        with anyio.fail_after(10):  # a guard against a hang, not a synchronisation
            async with session.turn("hello").stream() as activities:
                async for activity in activities:
                    seen.append(activity)
                    await held.started.wait()
                    break
        assert isinstance(seen[0].event, ModelRequestStarted)
        assert [c.outcome for c in store.commits] == [Stopped(Cancelled())]
        assert session.head_revision == 1
        assert not session.is_running
        assert activities.result is None
        follow_up = await session.turn("again").run()
        assert follow_up.outcome == Finished(AssistantMessage("later"))


class ResettingProvider:
    """Streams a draft, resets the attempt, then streams and returns the final text."""

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        if on_event is not None:
            await on_event(StreamTextDelta("draft "))
            await on_event(StreamTextDelta("one"))
            await on_event(StreamAttemptReset())
            await on_event(StreamTextDelta("final"))
        return LlmResponse((LlmTextPart("final"),), TokenUsage(input_tokens=3, output_tokens=1))


@pytest.mark.anyio
async def test_attempt_reset_retracts_the_streamed_prose_by_correlation_id() -> None:
    """A provider attempt reset emits model_attempt_reset naming the retracted prose rows; the retry gets a new row."""
    async with scripted_runtime(ResettingProvider()) as rt:
        session = await rt.session("s1")
        stream = session.turn("hello").stream()
        activities = [a async for a in stream]
    prose = [a for a in activities if isinstance(a.event, AssistantProseDelta)]
    resets = [a.event for a in activities if isinstance(a.event, ModelAttemptReset)]
    draft_id = prose[0].correlation_id
    assert [p.event.text for p in prose] == ["draft ", "one", "final"]
    assert prose[1].correlation_id == draft_id
    assert resets == [ModelAttemptReset(assistant_prose_correlation_ids=(draft_id,))]
    assert prose[2].correlation_id != draft_id
    kinds = [type(a.event) for a in activities]
    assert kinds.index(ModelAttemptReset) == kinds.index(AssistantProseDelta) + 2
    assert stream.result is not None
    assert [m.text for m in stream.result.messages] == ["hello", "final"]


@pytest.mark.anyio
async def test_invisible_text_stays_in_history_but_is_neither_streamed_nor_the_answer() -> None:
    """Text a provider marks invisible (commentary beside a final answer) is not replayed as prose
    nor part of the answer, and stays in history with its metadata for the provider's replay."""
    commentary = LlmTextPart("Checking the atlas.", {"phase": "commentary"}, visible=False)
    response = LlmResponse((commentary, LlmTextPart("Paris.", {"phase": "final_answer"})), TokenUsage(3, 2))
    async with scripted_runtime(ScriptedProvider([response])) as rt:
        session = await rt.session("s1")
        stream = session.turn("capital?").stream()
        activities = [a async for a in stream]
    assert [a.event.text for a in activities if isinstance(a.event, AssistantProseDelta)] == ["Paris."]
    assert stream.result is not None
    assert stream.result.outcome == Finished(AssistantMessage("Paris."))
    _, answer = stream.result.messages
    assert [(p.content, p.response_meta, p.visible) for p in answer.parts] == [
        ("Checking the atlas.", {"phase": "commentary"}, False),
        ("Paris.", {"phase": "final_answer"}, True),
    ]
    assert answer.text == "Paris."
