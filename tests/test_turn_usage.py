"""Token usage: every model call reaches the turn, the live activities, the ledger and the report."""

from __future__ import annotations

import anyio
import pytest

from lash_core import ToolContext, tool
from lash_core.model import (
    AssembledTurn,
    Cancelled,
    ChildUsage,
    ModelSpec,
    SessionPolicy,
    Stopped,
    TokenLedgerEntry,
    TokenUsage,
    TurnActivity,
    UsageEvent,
)
from lash_core.session import collect_into
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

TOOL_CALL_USAGE = TokenUsage(
    input_tokens=100, output_tokens=10, cache_read_input_tokens=50, reasoning_output_tokens=4
)
ANSWER_USAGE = TokenUsage(input_tokens=180, output_tokens=20, cache_write_input_tokens=30)
CHILD_USAGE = TokenUsage(input_tokens=7, output_tokens=3)
MODEL = "scripted-model"


@tool
async def research(topic: str, context: ToolContext) -> str:
    """Ask the model for help on a topic (a child model call).

    Args:
        topic: What to research.
    """
    assert context.completions is not None
    response = await context.completions.complete(f"research {topic}", source="subagent")
    return response.text


def tool_turn_replies() -> list:
    """One tool-calling model call, the tool's child call, then the answer."""
    return [
        reply_tool_calls(call("research", {"topic": "usage"}), usage=TOOL_CALL_USAGE),
        reply_text("child findings", usage=CHILD_USAGE),
        reply_text("the answer", usage=ANSWER_USAGE),
    ]


@pytest.mark.anyio
async def test_turn_token_usage_sums_every_protocol_model_call() -> None:
    """The turn's token_usage is the sum of its protocol model calls (child calls are booked apart)."""
    provider = ScriptedProvider(tool_turn_replies())
    async with scripted_runtime(provider, tools=[research]) as rt:
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert provider.calls == 3
    assert result.token_usage == TOOL_CALL_USAGE + ANSWER_USAGE


@pytest.mark.anyio
async def test_usage_activities_report_each_call_and_the_cumulative_usage() -> None:
    """Each protocol model call emits a usage activity with its own usage and the running total."""
    activities: list[TurnActivity] = []
    async with scripted_runtime(ScriptedProvider(tool_turn_replies()), tools=[research]) as rt:
        session = await rt.session("s1")
        result = await session.turn("go", sink=collect_into(activities)).run()
    usage = [a.event for a in activities if isinstance(a.event, UsageEvent)]
    assert [(u.protocol_iteration, u.usage, u.cumulative) for u in usage] == [
        (0, TOOL_CALL_USAGE, TOOL_CALL_USAGE),
        (1, ANSWER_USAGE, TOOL_CALL_USAGE + ANSWER_USAGE),
    ]
    assert usage[-1].cumulative == result.token_usage


@pytest.mark.anyio
async def test_child_usage_activity_reports_the_child_source() -> None:
    """A tool's direct completion emits a child_usage activity under its source, with its cumulative usage."""
    activities: list[TurnActivity] = []
    async with scripted_runtime(ScriptedProvider(tool_turn_replies()), tools=[research]) as rt:
        session = await rt.session("s1")
        await session.turn("go", sink=collect_into(activities)).run()
    children = [a.event for a in activities if isinstance(a.event, ChildUsage)]
    assert [(c.source, c.model, c.usage, c.cumulative) for c in children] == [
        ("subagent", MODEL, CHILD_USAGE, CHILD_USAGE)
    ]
    assert children[0].session_id == "s1"


@pytest.mark.anyio
async def test_usage_by_source_holds_the_turn_and_its_child_sources() -> None:
    """The turn's ledger delta has source 'turn' for protocol calls plus one entry per child source."""
    async with scripted_runtime(ScriptedProvider(tool_turn_replies()), tools=[research]) as rt:
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert result.usage_by_source == (
        TokenLedgerEntry("turn", MODEL, TOOL_CALL_USAGE + ANSWER_USAGE),
        TokenLedgerEntry("subagent", MODEL, CHILD_USAGE),
    )


@pytest.mark.anyio
async def test_usage_reaches_the_store_ledger() -> None:
    """The committed session head carries the same ledger as the session handle."""
    async with scripted_runtime(ScriptedProvider(tool_turn_replies()), tools=[research]) as rt:
        session = await rt.session("s1")
        await session.turn("go").run()
        head = await rt.store.load_head("s1")
    assert head is not None
    assert head.ledger == session.ledger
    assert head.ledger.usage_for("turn", MODEL) == TOOL_CALL_USAGE + ANSWER_USAGE
    assert head.ledger.usage_for("subagent", MODEL) == CHILD_USAGE


@pytest.mark.anyio
async def test_usage_report_accumulates_by_source_and_model_across_turns() -> None:
    """session.usage_report() sums every turn's usage by source, by model and in total."""
    other_answer = TokenUsage(input_tokens=60, output_tokens=6)
    provider = ScriptedProvider([*tool_turn_replies(), reply_text("plain", usage=ANSWER_USAGE)])
    provider.queue(*tool_turn_replies()[:2], reply_text("from the other model", usage=other_answer))
    async with scripted_runtime(provider, tools=[research]) as rt:
        session = await rt.session("s1")
        first = await session.turn("one").run()
        second = await session.turn("two").run()
        await session.configure(SessionPolicy(model=ModelSpec("other-model"), provider_id="default"))
        third = await session.turn("three").run()
        report = session.usage_report()

    turn_default = TOOL_CALL_USAGE + ANSWER_USAGE + ANSWER_USAGE
    turn_other = TOOL_CALL_USAGE + other_answer
    assert first.token_usage + second.token_usage == turn_default
    assert third.token_usage == turn_other
    assert report.by_source == {"turn": turn_default + turn_other, "subagent": CHILD_USAGE + CHILD_USAGE}
    assert report.by_model == {MODEL: turn_default + CHILD_USAGE, "other-model": turn_other + CHILD_USAGE}
    total = turn_default + turn_other + CHILD_USAGE + CHILD_USAGE
    assert report.usage == total
    assert report.total_tokens == total.total_tokens
    assert report.entry_count == 4


@pytest.mark.anyio
async def test_usage_of_calls_before_a_cancellation_is_still_booked() -> None:
    """A cancelled turn still books the usage of the model calls it finished, and the session report shows it."""
    entered = anyio.Event()

    @tool
    async def wait_forever() -> str:
        """Block until cancelled."""
        entered.set()
        await anyio.Event().wait()
        return "unreachable"

    provider = ScriptedProvider([reply_tool_calls(call("wait_forever"), usage=TOOL_CALL_USAGE)])
    results: list[AssembledTurn] = []
    async with scripted_runtime(provider, tools=[wait_forever]) as rt:
        session = await rt.session("s1")
        turn = session.turn("go")

        async def run() -> None:
            results.append(await turn.run())

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await entered.wait()
            turn.cancel()
    (result,) = results
    assert result.outcome == Stopped(Cancelled())
    assert result.token_usage == TOOL_CALL_USAGE
    assert result.usage_by_source == (TokenLedgerEntry("turn", MODEL, TOOL_CALL_USAGE),)
    assert session.usage_report().by_source == {"turn": TOOL_CALL_USAGE}
