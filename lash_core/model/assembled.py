"""The result of a turn, as a host receives it."""

from __future__ import annotations

from enum import Enum

from attrs import frozen

from lash_core.model._record import Record
from lash_core.model.messages import Message
from lash_core.model.outcome import TurnOutcome
from lash_core.model.tools import ToolCallRecord
from lash_core.model.usage import TokenLedgerEntry, TokenUsage

__all__ = [
    "AssembledTurn",
    "AssistantOutput",
    "ExecutionSummary",
    "OutputState",
    "TurnIssue",
]


class OutputState(Enum):
    """How usable the assistant output is."""

    USABLE = "usable"
    EMPTY_OUTPUT = "empty_output"
    TRACEBACK_ONLY = "traceback_only"
    RECOVERED_FROM_ERROR = "recovered_from_error"


@frozen(repr=False)
class AssistantOutput(Record):
    """The turn's assistant text: ``raw_text`` as produced, ``safe_text`` with trailing spaces trimmed."""

    safe_text: str
    raw_text: str
    state: OutputState


@frozen(repr=False)
class ExecutionSummary(Record):
    """Whether the turn ran tools or code, when it started and how long it took (injected clock)."""

    had_tool_calls: bool
    had_code_execution: bool
    started_at_ms: int
    duration_ms: int


@frozen(repr=False)
class TurnIssue(Record):
    """A problem the turn reports: invalid input, a provider failure, a plugin abort..."""

    kind: str
    message: str
    code: str | None = None
    terminal_reason: str | None = None
    raw: str | None = None
    retryable: bool | None = None
    provider_failure_kind: str | None = None


@frozen(repr=False)
class AssembledTurn(Record):
    """Everything a finished turn reports.

    ``messages`` are the messages this turn committed; ``usage_by_source`` is the
    turn's ledger delta (the ``turn`` source plus child sources).
    """

    session_id: str
    turn_id: str
    outcome: TurnOutcome
    assistant_output: AssistantOutput
    execution: ExecutionSummary
    token_usage: TokenUsage
    head_revision: int
    messages: tuple[Message, ...] = ()
    tool_calls: tuple[ToolCallRecord, ...] = ()
    errors: tuple[TurnIssue, ...] = ()
    usage_by_source: tuple[TokenLedgerEntry, ...] = ()
    cancellation_reason: str | None = None
