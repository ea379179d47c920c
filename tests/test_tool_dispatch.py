"""Tool dispatch in a running turn: what the model sees of results, and provider-valid history."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.errors import PluginRegistrationError
from lash_core.model import (
    Cancelled,
    CancelledOutcome,
    FailureOutcome,
    Message,
    PartKind,
    Role,
    Stopped,
    SuccessOutcome,
    ToolCallOutput,
)
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime
from lash_core.tools import ToolInvocation, render_output
from lash_hookspecs import hookimpl

pytestmark = pytest.mark.anyio

BUDGET = 16 * 1024
BIG = "".join(f"line {i:06d} of a very large tool result\n" for i in range(2600))
assert len(BIG) > 100_000


@tool
def dump() -> str:
    """Return a very large text."""
    return BIG


@tool
def small() -> str:
    """Return a short text."""
    return "short and sweet"


def tool_results(messages: tuple[Message, ...]) -> list[Any]:
    """Every tool-result part of ``messages``, in order."""
    return [part for message in messages for part in message.parts if part.kind is PartKind.TOOL_RESULT]


class ShoutingProjector:
    """A projector showing the model the tool name and the upper-cased rendered output."""

    def project(self, call: ToolInvocation, output: ToolCallOutput) -> str:
        """``<name>: <OUTPUT>``."""
        return f"{call.name}: {render_output(output).upper()}"


class ReplacementProjectorPlugin:
    """Takes the default budget plugin's name, so it replaces it, and claims the slot."""

    lash_plugin_name = "tool_output_budget"

    @hookimpl
    def register_tools(self, register: Any) -> None:
        """Claim the projector slot."""
        register.result_projector(ShoutingProjector())


class NoProjectorPlugin:
    """Takes the default budget plugin's name and registers nothing: no projector at all."""

    lash_plugin_name = "tool_output_budget"


class SecondProjectorPlugin:
    """Claims the projector slot next to the default plugin."""

    lash_plugin_name = "second-projector"

    @hookimpl
    def register_tools(self, register: Any) -> None:
        """Claim the projector slot (already taken by the default)."""
        register.result_projector(ShoutingProjector())


async def run_dump(plugins: tuple[object, ...] = ()) -> tuple[Any, ScriptedProvider]:
    """Run a turn calling ``dump`` once, then answering; return the result and the provider."""
    provider = ScriptedProvider([reply_tool_calls(call("dump")), reply_text("summarized")])
    async with scripted_runtime(provider, tools=[dump], plugins=plugins) as rt:
        result = await (await rt.session("s1")).turn("dump it").run()
    return result, provider


async def test_default_projector_cuts_a_large_result_within_the_budget() -> None:
    """The model sees at most 16 KiB of a 100k-character result, with a cut marker."""
    result, _ = await run_dump()
    (part,) = tool_results(result.messages)
    assert len(part.content.encode()) <= BUDGET
    assert "cut by lash: the full output is stored with the session" in part.content
    assert part.content.startswith("line 000000 ")
    assert part.content.endswith("line 002599 of a very large tool result\n")


async def test_cut_result_keeps_the_full_output_in_history() -> None:
    """The committed tool-result part holds the whole value in ``tool_output``."""
    result, _ = await run_dump()
    (part,) = tool_results(result.messages)
    assert part.tool_output == ToolCallOutput(SuccessOutcome(BIG))
    assert result.tool_calls[0].output == ToolCallOutput(SuccessOutcome(BIG))


async def test_model_request_carries_the_projected_text() -> None:
    """The next model request contains the projected text, not the full output."""
    result, provider = await run_dump()
    (committed,) = tool_results(result.messages)
    (sent,) = tool_results(provider.requests[-1].messages)
    assert sent.content == committed.content
    assert len(sent.content) < len(BIG)


async def test_small_result_is_shown_unchanged() -> None:
    """A result within the budget reaches the model verbatim."""
    provider = ScriptedProvider([reply_tool_calls(call("small")), reply_text("ok")])
    async with scripted_runtime(provider, tools=[small]) as rt:
        result = await (await rt.session("s1")).turn("go").run()
    (part,) = tool_results(result.messages)
    assert part.content == "short and sweet"
    assert "cut by lash" not in part.content


async def test_replacing_the_default_plugin_replaces_the_projector() -> None:
    """A plugin taking the default's place projects results its own way."""
    result, _ = await run_dump((ReplacementProjectorPlugin(),))
    (part,) = tool_results(result.messages)
    assert part.content == "dump: " + BIG.upper()
    assert part.tool_output == ToolCallOutput(SuccessOutcome(BIG))


async def test_without_a_projector_the_full_rendered_output_is_shown() -> None:
    """With the default plugin disabled and no projector the model sees the whole rendered output."""
    result, _ = await run_dump((NoProjectorPlugin(),))
    (part,) = tool_results(result.messages)
    assert part.content == BIG


def test_a_second_projector_is_a_registration_error() -> None:
    """Claiming the exclusive projector slot next to the default names both plugins."""
    with pytest.raises(
        PluginRegistrationError,
        match=r"tool_output_budget.*second-projector|second-projector.*tool_output_budget",
    ):
        scripted_runtime(ScriptedProvider(), plugins=[SecondProjectorPlugin()])


async def test_failure_results_are_projected_as_error_text() -> None:
    """A failed call shows the model ``error [<code>]: <message>``."""

    @tool
    def broken() -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    provider = ScriptedProvider([reply_tool_calls(call("broken")), reply_text("sorry")])
    async with scripted_runtime(provider, tools=[broken]) as rt:
        result = await (await rt.session("s1")).turn("go").run()
    (part,) = tool_results(result.messages)
    assert part.content == "error [tool_raised]: RuntimeError: disk on fire"
    assert isinstance(part.tool_output.outcome, FailureOutcome)


def assert_provider_valid(history: tuple[Message, ...]) -> None:
    """Every tool call has exactly one result, in the user message right after the call's message."""
    for index, message in enumerate(history):
        call_ids = [p.tool_call_id for p in message.parts if p.kind is PartKind.TOOL_CALL]
        if not call_ids:
            continue
        assert message.role is Role.ASSISTANT
        following = history[index + 1]
        assert following.role is Role.USER
        assert [p.tool_call_id for p in following.parts if p.kind is PartKind.TOOL_RESULT] == call_ids
    calls = Counter(p.tool_call_id for m in history for p in m.parts if p.kind is PartKind.TOOL_CALL)
    results = Counter(p.tool_call_id for m in history for p in m.parts if p.kind is PartKind.TOOL_RESULT)
    assert calls == results
    assert set(calls.values()) <= {1}


async def test_history_pairs_every_tool_call_with_one_result() -> None:
    """Good, failing, unknown and malformed calls over two rounds each get exactly one result."""

    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    @tool
    def explode() -> str:
        """Raise."""
        raise ValueError("boom")

    provider = ScriptedProvider(
        [
            reply_tool_calls(
                call("add", {"a": 1, "b": 2}, call_id="c1"),
                call("explode", call_id="c2"),
                call("nope", call_id="c3"),
            ),
            reply_tool_calls(call("add", raw="{bad", call_id="c4"), call("add", {"a": "x"}, call_id="c5")),
            reply_text("done"),
        ]
    )
    async with scripted_runtime(provider, tools=[add, explode]) as rt:
        session = await rt.session("s1")
        await session.turn("go").run()
        history = session.history
    assert_provider_valid(history)
    assert len(tool_results(history)) == 5
    for request in provider.requests:
        assert_provider_valid(request.messages)


async def test_cancelled_turn_still_pairs_every_tool_call_with_one_result() -> None:
    """Cancelling mid-round commits a synthetic cancelled result for each unfinished call."""
    started = anyio.Event()

    @tool
    async def hang() -> str:
        """Wait forever."""
        started.set()
        await anyio.Event().wait()
        return "never"

    provider = ScriptedProvider([reply_tool_calls(call("hang", call_id="c1"), call("hang", call_id="c2"))])
    async with scripted_runtime(provider, tools=[hang]) as rt:
        session = await rt.session("s1")
        turn = session.turn("go")
        results: list[Any] = []

        async def run() -> None:
            results.append(await turn.run())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                await started.wait()
                turn.cancel()
        history = session.history
    assert results[0].outcome == Stopped(Cancelled())
    assert_provider_valid(history)
    outcomes = [part.tool_output.outcome for part in tool_results(history)]
    assert len(outcomes) == 2
    assert all(isinstance(outcome, CancelledOutcome) for outcome in outcomes)
