"""The standard protocol: the native tool-calling loop, end to end through a scripted runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from lash_core import tool
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    FailControl,
    FailureOutcome,
    FailureSource,
    FinishControl,
    Finished,
    Incomplete,
    LlmRequest,
    MaxTurns,
    Part,
    PartKind,
    ProviderErrorStop,
    ProviderFailureKind,
    Role,
    Stopped,
    SuccessOutcome,
    TerminalReason,
    ToolCallOutput,
    ToolErrorStop,
    ToolFailure,
    ToolFailureClass,
    ToolValueFinish,
)
from lash_core.session import Session, Turn
from lash_core.testing import (
    ScriptedProvider,
    call,
    reply_error,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.tools import FunctionTool

pytestmark = pytest.mark.anyio

TIMEOUT = 10  # seconds; only turns a deadlock (a protocol bug) into a failure


class Adder:
    """An ``add`` tool counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

        @tool
        def add(a: int, b: int) -> int:
            """Add two integers."""
            self.calls += 1
            return a + b

        self.tool = add


async def run_turn(
    provider: ScriptedProvider, *tools: Any, config: Mapping[str, Any] | None = None
) -> tuple[AssembledTurn, Session]:
    """Run one turn (``"go"``) in a fresh runtime; return its result and the session."""
    async with scripted_runtime(provider, tools=tools, config=config) as rt:
        session = await rt.session("s1")
        with anyio.fail_after(TIMEOUT):
            result = await session.turn("go").run()
        return result, session


async def run_while(session: Session, turn: Turn, meanwhile: Callable[[], Awaitable[None]]) -> AssembledTurn:
    """Run ``turn`` while ``meanwhile()`` acts on it; return the turn's result."""
    results: list[AssembledTurn] = []

    async def run() -> None:
        results.append(await turn.run())

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await meanwhile()
    return results[0]


def tool_results(request: LlmRequest) -> list[Part]:
    """The tool-result parts of a request's last message."""
    return [p for p in request.messages[-1].parts if p.kind is PartKind.TOOL_RESULT]


async def test_prose_answer_finishes_the_turn() -> None:
    """A prose reply without tool calls finishes with that assistant message."""
    provider = ScriptedProvider([reply_text("hello there")])
    result, session = await run_turn(provider)
    assert result.outcome == Finished(AssistantMessage("hello there"))
    assert [m.text for m in session.history] == ["go", "hello there"]


async def test_tools_of_one_round_run_concurrently_and_results_follow_model_order() -> None:
    """Two tools that wait on each other both finish; results keep the model's order, not completion order."""
    ping_ready, pong_ready, pong_done = anyio.Event(), anyio.Event(), anyio.Event()
    finished: list[str] = []

    @tool
    async def ping() -> str:
        """Wait for pong, finish after it."""
        ping_ready.set()
        await pong_ready.wait()
        await pong_done.wait()
        finished.append("ping")
        return "ping!"

    @tool
    async def pong() -> str:
        """Wait for ping, finish first."""
        pong_ready.set()
        await ping_ready.wait()
        finished.append("pong")
        pong_done.set()
        return "pong!"

    provider = ScriptedProvider(
        [reply_tool_calls(call("ping", call_id="c1"), call("pong", call_id="c2")), reply_text("both back")]
    )
    result, _ = await run_turn(provider, ping, pong)
    assert finished == ["pong", "ping"]
    parts = tool_results(provider.requests[-1])
    assert [(p.tool_call_id, p.content) for p in parts] == [("c1", "ping!"), ("c2", "pong!")]
    assert result.outcome == Finished(AssistantMessage("both back"))


def paired(
    name: str, mine: anyio.Event, other: anyio.Event, log: list[str], running: set[str]
) -> FunctionTool[[], Awaitable[str]]:
    """A tool that can only finish while its partner (setting ``other``) runs concurrently."""

    async def body() -> str:
        log.append(f"{name}:start")
        running.add(name)
        mine.set()
        await other.wait()
        running.discard(name)
        log.append(f"{name}:end")
        return name

    return tool(name=name, description=f"Paired tool {name}.")(body)


async def test_sequential_tool_runs_alone() -> None:
    """A ``sequential=True`` tool starts after the calls before it ended and ends before later calls start."""
    log: list[str] = []
    running: set[str] = set()
    seen_by_solo: list[set[str]] = []
    events = {name: anyio.Event() for name in "abcd"}

    @tool(sequential=True)
    async def solo() -> str:
        """Must run alone."""
        log.append("solo:start")
        seen_by_solo.append(set(running))
        await anyio.lowlevel.checkpoint()
        seen_by_solo.append(set(running))
        log.append("solo:end")
        return "solo"

    a = paired("a", events["a"], events["b"], log, running)
    b = paired("b", events["b"], events["a"], log, running)
    c = paired("c", events["c"], events["d"], log, running)
    d = paired("d", events["d"], events["c"], log, running)
    calls = [call(name, call_id=f"c_{name}") for name in ("a", "b", "solo", "c", "d")]
    provider = ScriptedProvider([reply_tool_calls(*calls), reply_text("done")])
    result, _ = await run_turn(provider, a, b, solo, c, d)
    assert seen_by_solo == [set(), set()]
    assert log.index("solo:start") > max(log.index("a:end"), log.index("b:end"))
    assert log.index("solo:end") < min(log.index("c:start"), log.index("d:start"))
    assert [p.tool_call_id for p in tool_results(provider.requests[-1])] == [
        "c_a",
        "c_b",
        "c_solo",
        "c_c",
        "c_d",
    ]
    assert result.outcome == Finished(AssistantMessage("done"))


async def test_max_turns_stops_with_the_limit_message_committed() -> None:
    """With max_turns 1 a tool round ends the turn with Stopped(MaxTurns) and a committed system message."""
    adder = Adder()
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2}))])
    result, session = await run_turn(provider, adder.tool, config={"max_turns": 1})
    assert result.outcome == Stopped(MaxTurns())
    assert provider.calls == 1
    last = session.history[-1]
    assert last.role is Role.SYSTEM
    assert last.text == "Turn limit reached (1) before a final assistant response."
    assert result.messages[-1] == last
    assert [issue.code for issue in result.errors] == ["max_turns"]


async def test_finish_control_finishes_with_the_tool_value() -> None:
    """A success carrying FinishControl ends the turn with Finished(ToolValueFinish) without another model call."""

    @tool
    def submit(answer: int) -> ToolCallOutput:
        """Submit the final answer."""
        return ToolCallOutput(SuccessOutcome("submitted"), FinishControl({"answer": answer}))

    provider = ScriptedProvider([reply_tool_calls(call("submit", {"answer": 42}))])
    result, _ = await run_turn(provider, submit)
    assert result.outcome == Finished(ToolValueFinish("submit", {"answer": 42}))
    assert provider.calls == 1


async def test_fail_control_stops_with_tool_error() -> None:
    """A success carrying FailControl ends the turn with Stopped(ToolErrorStop) naming the tool."""

    @tool
    def give_up() -> ToolCallOutput:
        """Abandon the task."""
        failure = ToolFailure(ToolFailureClass.EXECUTION, "gave_up", "cannot continue")
        return ToolCallOutput(SuccessOutcome(None), FailControl(failure))

    provider = ScriptedProvider([reply_tool_calls(call("give_up"))])
    result, _ = await run_turn(provider, give_up)
    assert result.outcome == Stopped(ToolErrorStop("give_up", "cannot continue"))
    assert provider.calls == 1


async def test_input_submitted_during_a_tool_reaches_the_next_model_request() -> None:
    """Input submitted while a tool runs is delivered at the after-work checkpoint, before the next model call."""
    started, release = anyio.Event(), anyio.Event()

    @tool
    async def slow() -> str:
        """Wait for the test."""
        started.set()
        await release.wait()
        return "slow result"

    provider = ScriptedProvider([reply_tool_calls(call("slow")), reply_text("saw it")])
    async with scripted_runtime(provider, tools=[slow]) as rt:
        session = await rt.session("s1")
        turn = session.turn("go")

        async def submit_during_tool() -> None:
            await started.wait()
            turn.submit("also check Rome")
            release.set()

        result = await run_while(session, turn, submit_during_tool)
    request = provider.requests[-1]
    assert request.messages[-1].role is Role.USER
    assert request.messages[-1].text == "also check Rome"
    assert [p.content for p in request.messages[-2].parts] == ["slow result"]
    assert [m.text for m in result.messages if m.role is Role.USER][-1] == "also check Rome"
    assert result.outcome == Finished(AssistantMessage("saw it"))


async def test_input_submitted_during_the_final_answer_is_answered_before_finishing() -> None:
    """Input submitted while the answer's model call is open is seen at the before-completion checkpoint."""
    gate = anyio.Event()
    first = reply_text("first answer", gate=gate)
    provider = ScriptedProvider([first, reply_text("second answer")])
    async with scripted_runtime(provider) as rt:
        session = await rt.session("s1")
        turn = session.turn("go")

        async def submit_during_answer() -> None:
            await first.started.wait()
            turn.submit("one more thing")
            gate.set()

        result = await run_while(session, turn, submit_during_answer)
    assert provider.calls == 2
    messages = provider.requests[1].messages
    assert (messages[-2].role, messages[-2].text) == (Role.ASSISTANT, "first answer")
    assert (messages[-1].role, messages[-1].text) == (Role.USER, "one more thing")
    assert result.outcome == Finished(AssistantMessage("second answer"))
    assert [m.text for m in result.messages] == ["go", "first answer", "one more thing", "second answer"]


async def test_empty_reply_after_a_tool_round_finishes_with_an_empty_message() -> None:
    """An empty reply after tool results finishes with AssistantMessage('')."""
    adder = Adder()
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("")])
    result, _ = await run_turn(provider, adder.tool)
    assert result.outcome == Finished(AssistantMessage(""))
    assert result.errors == ()


async def test_empty_first_reply_stops_with_an_empty_response_issue() -> None:
    """An empty first reply stops with ProviderErrorStop and a retryable empty_response issue."""
    provider = ScriptedProvider([reply_text("")])
    result, _ = await run_turn(provider)
    assert result.outcome == Stopped(ProviderErrorStop())
    (issue,) = result.errors
    assert (issue.kind, issue.code, issue.retryable) == ("provider", "empty_response", True)


async def test_unparseable_arguments_go_back_to_the_model_and_the_loop_continues() -> None:
    """Bad argument JSON becomes an invalid_arguments error result; the tool is not called; the model answers."""
    adder = Adder()
    provider = ScriptedProvider([reply_tool_calls(call("add", raw="{bad")), reply_text("fixed")])
    result, _ = await run_turn(provider, adder.tool)
    (part,) = tool_results(provider.requests[-1])
    assert part.content.startswith("error [invalid_arguments]: add: arguments are not valid JSON")
    assert adder.calls == 0
    assert result.outcome == Finished(AssistantMessage("fixed"))


async def test_schema_violation_names_the_field_and_the_loop_continues() -> None:
    """Arguments violating the schema come back as an error naming the offending field."""
    adder = Adder()
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": "one", "b": 2})), reply_text("fixed")])
    result, _ = await run_turn(provider, adder.tool)
    (part,) = tool_results(provider.requests[-1])
    assert part.content.startswith("error [invalid_arguments]: add: argument 'a':")
    assert "integer" in part.content
    assert adder.calls == 0
    assert result.outcome == Finished(AssistantMessage("fixed"))


async def test_unknown_tool_goes_back_to_the_model_and_the_loop_continues() -> None:
    """A call of an unknown tool becomes an unknown_tool error listing the available tools."""
    adder = Adder()
    provider = ScriptedProvider([reply_tool_calls(call("nope")), reply_text("sorry")])
    result, _ = await run_turn(provider, adder.tool)
    (part,) = tool_results(provider.requests[-1])
    assert part.content == "error [unknown_tool]: there is no tool named 'nope'; available tools: add"
    assert result.outcome == Finished(AssistantMessage("sorry"))


async def test_raising_tool_becomes_a_failure_result_with_the_message() -> None:
    """An exception in a tool becomes a tool-sourced failure result carrying its message."""

    @tool
    def explode() -> str:
        """Raise."""
        raise ValueError("boom")

    provider = ScriptedProvider([reply_tool_calls(call("explode")), reply_text("it broke")])
    result, _ = await run_turn(provider, explode)
    (part,) = tool_results(provider.requests[-1])
    assert part.content == "error [tool_raised]: ValueError: boom"
    assert part.tool_output is not None
    outcome = part.tool_output.outcome
    assert isinstance(outcome, FailureOutcome)
    assert (outcome.failure.failure_class, outcome.failure.source) == (
        ToolFailureClass.EXECUTION,
        FailureSource.TOOL,
    )
    assert result.outcome == Finished(AssistantMessage("it broke"))


async def test_output_limit_stops_incomplete() -> None:
    """A reply cut at the output limit stops the turn with Stopped(Incomplete)."""
    provider = ScriptedProvider([reply_text("partial ans", terminal_reason=TerminalReason.OUTPUT_LIMIT)])
    result, _ = await run_turn(provider)
    assert result.outcome == Stopped(Incomplete())
    assert [issue.code for issue in result.errors] == ["output_limit"]


async def test_provider_error_stops_with_an_issue_carrying_the_failure_kind() -> None:
    """A provider failure stops with ProviderErrorStop and a TurnIssue naming the failure kind."""
    provider = ScriptedProvider([reply_error(ProviderFailureKind.RATE_LIMIT, "slow down", retryable=True)])
    result, session = await run_turn(provider)
    assert result.outcome == Stopped(ProviderErrorStop())
    (issue,) = result.errors
    assert (issue.kind, issue.provider_failure_kind, issue.message, issue.retryable) == (
        "provider",
        "rate_limit",
        "slow down",
        True,
    )
    assert session.head_revision == 1
