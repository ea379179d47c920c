"""The native tool-calling loop, driven through the kernel's ``TurnDriver``.

Each iteration calls the model. Tool calls are run (concurrently, results in the
model's order); a success carrying a control ends the turn; otherwise an
``after_work`` checkpoint delivers what arrived and the loop goes on. A prose answer
passes a ``before_completion`` checkpoint: if input arrived, the model is called again
with it in view, else the turn finishes with the answer.
"""

from __future__ import annotations

from lash_core.model import (
    AgentFrameSwitch,
    AssistantMessage,
    FailControl,
    FinishControl,
    Finished,
    LlmReasoningPart,
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

__all__ = ["StandardProtocol"]


class StandardProtocol:
    """The standard protocol. Stateless: one instance serves every session."""

    async def run(self, driver: TurnDriver) -> TurnOutcome:
        """Drive one physical turn to its outcome."""
        iterations = 0
        while True:
            response = await driver.call_model()
            calls = response.tool_calls
            if not calls:
                text = response.text
                has_reasoning = any(isinstance(p, LlmReasoningPart) and p.text for p in response.parts)
                if not text and not has_reasoning:
                    if driver.last_message_is_tool_results:
                        return Finished(AssistantMessage(""))
                    driver.issue(
                        "provider",
                        "the model returned an empty response",
                        code="empty_response",
                        retryable=True,
                    )
                    return Stopped(ProviderErrorStop())
                driver.append_response(response)
                delivery = await driver.checkpoint(CheckpointKind.BEFORE_COMPLETION)
                if delivery.is_empty:
                    return Finished(AssistantMessage(text))
                iterations += 1
                if self._limit_reached(driver, iterations):
                    return Stopped(MaxTurns())
                continue
            driver.append_response(response)
            results = await driver.run_tools(calls)
            controlled = _control_outcome(results)
            if controlled is not None:
                return controlled
            iterations += 1
            if self._limit_reached(driver, iterations):
                return Stopped(MaxTurns())
            await driver.checkpoint(CheckpointKind.AFTER_WORK)

    @staticmethod
    def _limit_reached(driver: TurnDriver, iterations: int) -> bool:
        limit = driver.max_turns
        if limit is None or iterations < limit:
            return False
        driver.append(
            driver.system_message(f"Turn limit reached ({limit}) before a final assistant response.")
        )
        driver.issue("runtime", f"the turn reached max_turns ({limit})", code="max_turns")
        return True


def _control_outcome(results: list[CompletedCall]) -> TurnOutcome | None:
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
