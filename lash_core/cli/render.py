"""Showing a turn in the terminal: streamed prose, tool calls, outcome and usage.

:class:`TurnRenderer` prints activities as they arrive: prose on stdout as it streams,
each tool call (name, compact arguments, result summary, duration), retries and errors on
stderr, then the outcome and usage. :class:`JsonRenderer` prints each activity as a JSON
line and a final ``{"type": "result", ...}`` line.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from lash_core.cli._common import EXIT_OK, EXIT_STOPPED
from lash_core.converter import unstructure
from lash_core.model import (
    AgentFrameSwitch,
    AssembledTurn,
    AssistantProseDelta,
    CancelledOutcome,
    ErrorEvent,
    FailureOutcome,
    Finished,
    ModelAttemptReset,
    PluginRuntime,
    PluginStatusEvent,
    QueuedInputAccepted,
    RetryStatus,
    SuccessOutcome,
    TokenUsage,
    ToolCallCompleted,
    ToolCallStarted,
    TurnActivity,
    TurnOutcome,
)
from lash_core.providers import RATE_LIMIT_WAIT

__all__ = [
    "JsonRenderer",
    "TurnRenderer",
    "compact",
    "describe_outcome",
    "format_usage",
    "outcome_exit_code",
    "result_summary",
]


def outcome_exit_code(outcome: TurnOutcome) -> int:
    """0 when the turn finished, 1 when it stopped."""
    return EXIT_OK if isinstance(outcome, Finished | AgentFrameSwitch) else EXIT_STOPPED


def compact(value: Any, limit: int = 80) -> str:
    """A value on one short line: JSON without spaces, cut with ``…``."""
    if isinstance(value, dict):
        text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in value.items())
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def result_summary(event: ToolCallCompleted) -> tuple[bool, str]:
    """``(succeeded, summary)`` of a finished tool call."""
    outcome = event.output.outcome
    if isinstance(outcome, SuccessOutcome):
        value = outcome.value
        if isinstance(value, str):
            lines = value.splitlines() or [""]
            more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
            return True, compact(lines[0], 60) + more
        return True, compact(value, 70)
    if isinstance(outcome, FailureOutcome):
        return False, compact(f"{outcome.failure.code}: {outcome.failure.message}", 100)
    if isinstance(outcome, CancelledOutcome):
        return False, f"cancelled ({outcome.reason})"
    return False, str(outcome)


def format_usage(usage: TokenUsage) -> str:
    """``12 in, 5 out tokens`` plus the cache and reasoning buckets when they are used."""
    parts = [f"{usage.input_tokens} in", f"{usage.output_tokens} out"]
    if usage.cache_read_input_tokens:
        parts.append(f"{usage.cache_read_input_tokens} cache read")
    if usage.cache_write_input_tokens:
        parts.append(f"{usage.cache_write_input_tokens} cache write")
    if usage.reasoning_output_tokens:
        parts.append(f"{usage.reasoning_output_tokens} reasoning")
    return ", ".join(parts) + " tokens"


def describe_outcome(outcome: TurnOutcome) -> str:
    """``finished``, ``finished (final value)``, ``stopped: cancelled``..."""
    if isinstance(outcome, Finished):
        tag = outcome.finish.TAG
        return "finished" if tag == "assistant_message" else f"finished ({tag.replace('_', ' ')})"
    if isinstance(outcome, AgentFrameSwitch):
        return "finished (agent frame switch)"
    return f"stopped: {outcome.stop.TAG.replace('_', ' ')}"


class TurnRenderer:
    """Human output: prose streamed to ``out``, everything else to ``err``."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err
        self._mid_line = False

    def _end_prose(self) -> None:
        if self._mid_line:
            self.out.print()
            self._mid_line = False

    async def __call__(self, activity: TurnActivity) -> None:
        """Show one activity (usable as a turn's event sink)."""
        self.show(activity)

    def show(self, activity: TurnActivity) -> None:
        """Show one activity."""
        event = activity.event
        if isinstance(event, AssistantProseDelta):
            if event.text:
                self.out.print(event.text, end="", markup=False, highlight=False)
                self.out.file.flush()
                self._mid_line = not event.text.endswith("\n")
            return
        if isinstance(event, ToolCallStarted):
            self._end_prose()
            self.err.print(f"[cyan]▸ {escape(event.name)}[/]([dim]{escape(compact(event.args or {}))}[/])")
        elif isinstance(event, ToolCallCompleted):
            self._end_prose()
            ok, summary = result_summary(event)
            mark = "[green]✓[/]" if ok else "[red]✗[/]"
            self.err.print(
                f"  {mark} {escape(event.name)} → {escape(summary)} [dim]· {event.duration_ms} ms[/]"
            )
        elif isinstance(event, RetryStatus):
            self._end_prose()
            if event.reason.startswith(RATE_LIMIT_WAIT):
                wait = f" {event.wait_seconds:.1f} s" if event.wait_seconds else ""
                detail = event.reason.removeprefix(RATE_LIMIT_WAIT).lstrip(": ")
                self.err.print(f"[yellow]waiting{wait} for the provider's rate limit: {escape(detail)}[/]")
            else:
                self.err.print(
                    f"[yellow]retrying in {event.wait_seconds:.1f} s (attempt {event.attempt}/{event.max_attempts}): "
                    f"{escape(event.reason)}[/]"
                )
        elif isinstance(event, ModelAttemptReset):
            self._end_prose()
            self.err.print("[yellow](the model call is retried: the partial answer above is discarded)[/]")
        elif isinstance(event, ErrorEvent):
            self._end_prose()
            self.err.print(f"[red]error: {escape(event.message)}[/]")
        elif isinstance(event, QueuedInputAccepted):
            self._end_prose()
            self.err.print("[dim](your input was added to the running turn)[/]")
        elif isinstance(event, PluginRuntime) and isinstance(event.event, PluginStatusEvent):
            status = event.event
            detail = f": {status.detail}" if status.detail else ""
            self.err.print(f"[dim]{escape(event.plugin_id)} {escape(status.label)}{escape(detail)}[/]")

    def finish(self, result: AssembledTurn, *, session_id: str | None = None) -> None:
        """Show the outcome, the turn's issues and its usage."""
        self._end_prose()
        outcome = result.outcome
        colour = "green" if outcome_exit_code(outcome) == EXIT_OK else "yellow"
        for issue in result.errors:
            self.err.print(f"[red]{escape(issue.kind)}: {escape(issue.message)}[/]")
        seconds = result.execution.duration_ms / 1000
        where = f" · session {session_id}" if session_id else ""
        self.err.print(
            f"[{colour}]{describe_outcome(outcome)}[/] [dim]· {format_usage(result.token_usage)} · "
            f"{seconds:.1f} s{escape(where)}[/]"
        )


class JsonRenderer:
    """``--json`` output: one JSON line per activity, then the result line."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def _line(self, data: Any) -> None:
        self.out.file.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.out.file.flush()

    async def __call__(self, activity: TurnActivity) -> None:
        """Print one activity (usable as a turn's event sink)."""
        self.show(activity)

    def show(self, activity: TurnActivity) -> None:
        """Print one activity as a JSON line."""
        self._line(unstructure(activity))

    def finish(self, result: AssembledTurn, *, session_id: str | None = None) -> None:
        """Print ``{"type": "result", ...}`` with the outcome, usage and exit code."""
        self._line(
            {
                "type": "result",
                "session_id": result.session_id,
                "turn_id": result.turn_id,
                "outcome": unstructure(result.outcome),
                "usage": unstructure(result.token_usage, TokenUsage),
                "errors": [unstructure(issue) for issue in result.errors],
                "exit_code": outcome_exit_code(result.outcome),
            }
        )
