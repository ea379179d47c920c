"""The ``{{ cookiecutter.entry_point_name }}`` protocol: a tool-calling loop with a budget of tool rounds.

A protocol decides how one turn drives the model and the tools. lash gives it a
:class:`~lash_core.turn.driver.TurnDriver`; each driver call is an *effect* the runtime
journals, so a durable host can replay a turn after a crash. That is why a protocol is
deterministic code over the driver: no clocks, no randomness, no I/O of its own.

The driver:

* ``call_model(use_tools=True)``: one model call with the turn's messages (provider
  failures and terminal conditions end the turn before the protocol sees the response);
* ``append_response(response)``: the answer joins the turn's messages;
* ``run_tools(calls)``: one round of tool calls, their results appended;
* ``checkpoint(kind)``: where input sent during the turn and plugin messages arrive (a
  non-empty delivery means the model should look again);
* ``append(message)``, ``system_message(text)``, ``issue(...)``, ``max_turns``.

The protocol returns the turn's outcome: ``Finished(...)`` or ``Stopped(...)``.

This one is the usual loop, with one difference: after ``max_tool_rounds`` rounds of tool
calls the model is told to wrap up and called once more *without* tools, so a turn always
ends with an answer instead of running up the session's iteration limit. Like the standard
protocol, it ends the turn when a tool's result carries a control (finish, fail, switch the
agent frame).
"""

from __future__ import annotations

import attrs
from lash_core.model import (
    AgentFrameSwitch,
    AssistantMessage,
    FailControl,
    FinishControl,
    Finished,
    LlmToolCallPart,
    MaxTurns,
    ProviderErrorStop,
    Stopped,
    SuccessOutcome,
    SwitchAgentFrameControl,
    ToolErrorStop,
    ToolValueFinish,
    TurnOutcome,
)
from lash_core.turn.driver import CheckpointKind, TurnDriver
from lash_core.turn.tool_dispatch import CompletedCall

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["{{ cookiecutter.__class_prefix }}Protocol"]


class {{ cookiecutter.__class_prefix }}Protocol:
    """Runs turns; see the module docs. Stateless between turns: one instance serves every
    session of a runtime (the turn's state lives in the driver)."""

    def __init__(self, settings: {{ cookiecutter.__class_prefix }}Settings | None = None) -> None:
        self.settings = settings if settings is not None else {{ cookiecutter.__class_prefix }}Settings()

    async def run(self, driver: TurnDriver) -> TurnOutcome:
        """Drive one turn to its outcome."""
        tool_rounds = 0
        model_calls = 0
        while True:
            if driver.max_turns is not None and model_calls >= driver.max_turns:
                driver.issue("runtime", f"the turn reached max_turns ({driver.max_turns})", code="max_turns")
                return Stopped(MaxTurns())
            use_tools = tool_rounds < self.settings.max_tool_rounds
            response = await driver.call_model(use_tools=use_tools)
            model_calls += 1
            if not use_tools and response.tool_calls:
                # No tools were offered; drop calls made anyway rather than leave them unanswered.
                parts = tuple(p for p in response.parts if not isinstance(p, LlmToolCallPart))
                response = attrs.evolve(response, parts=parts)
            calls = response.tool_calls
            if calls:
                driver.append_response(response)
                controlled = _control_outcome(await driver.run_tools(calls))
                if controlled is not None:
                    return controlled
                tool_rounds += 1
                if tool_rounds == self.settings.max_tool_rounds:
                    driver.append(driver.system_message(self.settings.wrap_up_note))
                await driver.checkpoint(CheckpointKind.AFTER_WORK)
                continue
            if not response.text and not driver.last_message_is_tool_results:
                driver.issue("provider", "the model returned an empty response", code="empty_response")
                return Stopped(ProviderErrorStop())
            if response.text:
                driver.append_response(response)
            delivery = await driver.checkpoint(CheckpointKind.BEFORE_COMPLETION)
            if delivery.is_empty:
                return Finished(AssistantMessage(response.text))
            # input arrived while the model answered: let it look again


def _control_outcome(results: list[CompletedCall]) -> TurnOutcome | None:
    """The outcome a successful tool result's control asks for, if one does."""
    for done in results:
        control = done.output.control
        if control is None or not isinstance(done.output.outcome, SuccessOutcome):
            continue
        if isinstance(control, FinishControl):
            return Finished(ToolValueFinish(done.call.name, control.value))
        if isinstance(control, FailControl):
            return Stopped(ToolErrorStop(done.call.name, control.failure.message))
        if isinstance(control, SwitchAgentFrameControl):
            return AgentFrameSwitch(control.frame_id, control.task, control.initial_messages)
    return None
