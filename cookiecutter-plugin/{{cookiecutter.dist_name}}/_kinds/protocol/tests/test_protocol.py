"""The ``{{ cookiecutter.entry_point_name }}`` protocol in real turns: the scripted provider plays the model,
the plugin module is passed to the runtime and chosen in the configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from lash_core import tool
from lash_core.errors import ConfigError
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    FinishControl,
    Finished,
    MaxTurns,
    Role,
    Stopped,
    SuccessOutcome,
    ToolCallOutput,
    ToolValueFinish,
)
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

from {{ cookiecutter.package_name }} import plugin

NAME = "{{ cookiecutter.entry_point_name }}"

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def run_turn(
    provider: ScriptedProvider, settings: Mapping[str, Any] | None = None, **config: Any
) -> AssembledTurn:
    """One turn on this protocol, with the ``add`` tool."""
    config = {"protocol": {"type": NAME, "settings": dict(settings or {})}, **config}
    async with scripted_runtime(provider, tools=[add], plugins=[plugin], config=config) as runtime:
        session = await runtime.session("protocol-turn")
        return await session.turn("What is 2 + 3, plus 4?").run()


async def test_a_plain_answer_finishes_the_turn() -> None:
    """No tool call: the answer is the outcome."""
    provider = ScriptedProvider([reply_text("Nine.")])
    result = await run_turn(provider)
    assert result.outcome == Finished(AssistantMessage("Nine."))
    assert [spec.name for spec in provider.requests[0].tools] == ["add"]


async def test_tool_rounds_run_until_the_model_answers() -> None:
    """Each tool round's results are shown to the model on its next call."""
    provider = ScriptedProvider(
        [
            reply_tool_calls(call("add", {"a": 2, "b": 3}, call_id="c1")),
            reply_tool_calls(call("add", {"a": 5, "b": 4}, call_id="c2")),
            reply_text("2 + 3 + 4 = 9."),
        ]
    )
    result = await run_turn(provider)
    assert [record.output.outcome for record in result.tool_calls] == [SuccessOutcome(5), SuccessOutcome(9)]
    assert result.outcome == Finished(AssistantMessage("2 + 3 + 4 = 9."))
    assert all(request.tools for request in provider.requests)


async def test_after_the_last_tool_round_the_model_must_answer() -> None:
    """With ``max_tool_rounds = 1`` the second call offers no tools and carries the wrap-up note."""
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 2, "b": 3})), reply_text("At least 5.")])
    result = await run_turn(provider, settings={"max_tool_rounds": 1, "wrap_up_note": "Answer now."})
    assert result.outcome == Finished(AssistantMessage("At least 5."))
    first, second = provider.requests
    assert first.tools and second.tools == ()
    assert [m.text for m in second.messages if m.role is Role.SYSTEM] == ["Answer now."]


async def test_a_tool_can_finish_the_turn() -> None:
    """A tool result carrying a finish control ends the turn with the tool's value."""

    @tool
    def submit(answer: int) -> ToolCallOutput:
        """Submit the final answer."""
        return ToolCallOutput(SuccessOutcome(answer), control=FinishControl(answer))

    provider = ScriptedProvider([reply_tool_calls(call("submit", {"answer": 9}))])
    config = {"protocol": {"type": NAME}}
    async with scripted_runtime(provider, tools=[submit], plugins=[plugin], config=config) as runtime:
        result = await (await runtime.session("finish")).turn("Submit 9.").run()
    assert result.outcome == Finished(ToolValueFinish("submit", 9))
    assert provider.calls == 1


async def test_the_session_iteration_limit_is_honoured() -> None:
    """``max_turns`` bounds the model calls of a turn."""
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 1}))])
    result = await run_turn(provider, max_turns=1)
    assert result.outcome == Stopped(MaxTurns())
    assert provider.calls == 1


async def test_bad_settings_fail_when_the_runtime_opens() -> None:
    """The settings are structured into the attrs class; a bad value names its key."""
    with pytest.raises(ConfigError, match="max_tool_rounds"):
        await run_turn(ScriptedProvider(), settings={"max_tool_rounds": 0})
