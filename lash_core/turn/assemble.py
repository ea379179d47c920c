"""Assembling what a finished turn reports: the assistant output and the AssembledTurn."""

from __future__ import annotations

import json
from collections.abc import Sequence

from lash_core.model import (
    AgentFrameSwitch,
    AssistantMessage,
    AssistantOutput,
    FinalValue,
    Finished,
    Message,
    OutputState,
    PartKind,
    Role,
    Stopped,
    ToolErrorStop,
    ToolValueFinish,
    TurnIssue,
    TurnOutcome,
)

__all__ = ["assistant_output"]


def _render(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _safe(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") if text else ""


def _last_assistant_text(messages: Sequence[Message]) -> str:
    for message in reversed(messages):
        if message.role is Role.USER and not any(p.kind is PartKind.TOOL_RESULT for p in message.parts):
            return ""
        if message.role is Role.ASSISTANT:
            text = "".join(p.content for p in message.parts if p.kind is PartKind.PROSE and p.visible)
            if text:
                return text
    return ""


def assistant_output(
    outcome: TurnOutcome, messages: Sequence[Message], issues: list[TurnIssue]
) -> AssistantOutput:
    """The turn's assistant text: the outcome's value, or the last assistant prose after
    the latest user message (then marked recovered, with an issue saying so)."""
    raw = ""
    if isinstance(outcome, Finished):
        finish = outcome.finish
        if isinstance(finish, AssistantMessage):
            raw = finish.text
        elif isinstance(finish, FinalValue):
            raw = _render(finish.value)
        elif isinstance(finish, ToolValueFinish):
            raw = _render(finish.value)
        state = OutputState.USABLE if raw else OutputState.EMPTY_OUTPUT
        return AssistantOutput(_safe(raw), raw, state)
    if isinstance(outcome, Stopped) and isinstance(outcome.stop, ToolErrorStop):
        raw = _render(outcome.stop.value)
        return AssistantOutput(_safe(raw), raw, OutputState.USABLE if raw else OutputState.EMPTY_OUTPUT)
    if isinstance(outcome, AgentFrameSwitch):
        return AssistantOutput("", "", OutputState.EMPTY_OUTPUT)
    recovered = _last_assistant_text(messages)
    if recovered:
        issues.append(
            TurnIssue(
                kind="runtime",
                code="assistant_output_recovered_from_state",
                message="the turn stopped; the assistant output is the last prose the model wrote",
            )
        )
        return AssistantOutput(_safe(recovered), recovered, OutputState.RECOVERED_FROM_ERROR)
    return AssistantOutput("", "", OutputState.EMPTY_OUTPUT)
