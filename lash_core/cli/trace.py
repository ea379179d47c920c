"""``lash trace show SESSION``: a readable timeline of a session's JSONL trace."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from lash_core.cli._common import EXIT_STOPPED, EXIT_USAGE, compose_runtime, config_option, fail, make_console
from lash_core.cli.render import compact
from lash_core.config import structure_settings
from lash_core.tracing import JsonlTraceSink

__all__ = ["read_trace", "render_timeline", "trace_file", "trace_group"]

_SKIP = {"schema_version", "id", "timestamp_ms", "session_id", "turn_id", "type"}


def read_trace(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL trace file (unreadable lines are skipped)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _tokens(usage: Any) -> str:
    if not isinstance(usage, dict):
        return ""
    text = f"{usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out"
    if usage.get("cache_read_input_tokens"):
        text += f", {usage['cache_read_input_tokens']} cached"
    return text + " tokens"


def _describe(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind == "turn_started":
        return f"turn started · {record.get('input_item_count', 0)} input items"
    if kind == "prompt_built":
        return (
            f"prompt built · {record.get('message_count', 0)} messages, {record.get('tool_count', 0)} tools, "
            f"{record.get('prompt_chars', 0)} chars"
        )
    if kind == "llm_call":
        via = f" via {record['provider']}" if record.get("provider") else ""
        reason = f" · {record['terminal_reason']}" if record.get("terminal_reason") else ""
        return f"model call {record.get('model', '?')}{via} · {record.get('duration_ms', 0)} ms · {_tokens(record.get('usage'))}{reason}"
    if kind == "tool_call":
        return f"tool {record.get('name', '?')} · {record.get('duration_ms', 0)} ms · {record.get('outcome', '?')}"
    if kind == "turn_completed":
        return f"turn {record.get('status', '?')} · {record.get('done_reason', '?')}"
    if kind == "custom":
        extra = {k: v for k, v in record.items() if k not in _SKIP and k != "name"}
        return f"{record.get('name', 'custom')} {compact(extra, 80)}".rstrip()
    extra = {k: v for k, v in record.items() if k not in _SKIP}
    return f"{kind} {compact(extra, 80)}".rstrip()


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def render_timeline(console: Console, records: Iterable[dict[str, Any]]) -> None:
    """Print the records grouped by turn, each with its offset from the turn's start."""
    turns: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        turns.setdefault(str(record.get("turn_id") or "(session)"), []).append(record)
    for turn_id, rows in turns.items():
        start = min(int(r.get("timestamp_ms", 0)) for r in rows)
        end = max(int(r.get("timestamp_ms", 0)) for r in rows)
        llm = [r for r in rows if r.get("type") == "llm_call"]
        tools = [r for r in rows if r.get("type") == "tool_call"]
        console.print(
            f"[bold]turn {escape(turn_id)}[/] [dim]· {_clock(start)} · {(end - start) / 1000:.2f} s · "
            f"{len(llm)} model calls · {len(tools)} tool calls[/]"
        )
        for record in rows:
            offset = int(record.get("timestamp_ms", 0)) - start
            colour = {"llm_call": "cyan", "tool_call": "magenta", "turn_completed": "green"}.get(
                str(record.get("type")), "white"
            )
            if record.get("type") == "turn_completed" and record.get("status") != "completed":
                colour = "yellow"
            console.print(f"  [dim]+{offset:>6} ms[/]  [{colour}]{escape(_describe(record))}[/]")
        console.print()


def trace_file(runtime: Any, session_id: str) -> Path:
    """Where the configured ``jsonl`` trace sink writes ``session_id``'s trace."""
    sinks = [s for s in runtime.config.trace_sinks if s.type == "jsonl"]
    if not sinks:
        fail(
            "no jsonl trace sink is configured, so there is no trace to show; add [[trace_sinks]] "
            'type = "jsonl" to lash.toml, or pass --file',
            EXIT_USAGE,
        )
    registration = runtime.registry.component("trace_sinks", "jsonl")
    settings, problems = structure_settings(
        dict(sinks[0].settings), registration.settings, "trace_sinks.settings"
    )
    if problems:
        fail("; ".join(problems), EXIT_USAGE)
    return JsonlTraceSink(settings.directory).path_for(session_id)


@click.group("trace")
def trace_group() -> None:
    """Read traces."""


@trace_group.command("show")
@click.argument("session_id")
@config_option
@click.option(
    "--file", "file", type=click.Path(dir_okay=False), default=None, help="Read this JSONL file instead."
)
def show_command(session_id: str, config: str | None, file: str | None) -> None:
    """Show SESSION_ID's trace as a timeline: turns, model calls, tool calls."""
    path = Path(file) if file else trace_file(compose_runtime(config), session_id)
    if not path.is_file():
        click.echo(
            f"lash: no trace for session {session_id!r} at {path}; `lash sessions list` shows the sessions",
            err=True,
        )
        sys.exit(EXIT_STOPPED)
    records = [r for r in read_trace(path) if file is None or r.get("session_id") in (session_id, None)]
    render_timeline(make_console(), records)
