"""``lash sessions list | show ID | export ID | delete ID``: the sessions in the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lash_core.cli._common import EXIT_STOPPED, compose_runtime, config_option, make_console, run_async
from lash_core.cli.render import compact, format_usage
from lash_core.converter import unstructure
from lash_core.model import Message, Part, PartKind, Role
from lash_core.store.contract import SessionRecord

__all__ = ["export_json", "export_markdown", "part_text", "sessions_group"]


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def part_text(part: Part) -> str | None:
    """A part as one readable block (``None`` for parts not shown, such as reasoning)."""
    if part.kind in (PartKind.TEXT, PartKind.PROSE, PartKind.OUTPUT, PartKind.CODE):
        return part.content
    if part.kind is PartKind.ERROR:
        return f"error: {part.content}"
    if part.kind is PartKind.TOOL_CALL:
        try:
            args: Any = json.loads(part.content) if part.content else {}
        except ValueError:
            args = part.content
        return f"▸ {part.tool_name}({compact(args, 200)})"
    if part.kind is PartKind.TOOL_RESULT:
        outcome = part.tool_output.outcome.TAG if part.tool_output else "result"
        return f"↳ {part.tool_name} [{outcome}]: {compact(part.content, 300)}"
    if part.kind is PartKind.ATTACHMENT and part.attachment is not None:
        ref = part.attachment
        return f"[attachment {ref.name or ref.attachment_id}: {ref.media_type}, {ref.size} bytes]"
    return None


def _speaker(message: Message) -> str:
    if message.role is Role.USER and any(p.kind is PartKind.TOOL_RESULT for p in message.parts):
        return "tool results"
    return message.role.value


def _messages(record: SessionRecord) -> Iterable[Message]:
    current = record.head.current_frame_id
    return (node.message for node in record.nodes if node.frame_id == current)


def export_markdown(record: SessionRecord) -> str:
    """The session's current conversation as Markdown."""
    head = record.head
    usage = head.ledger.report().usage
    lines = [
        f"# Session {head.session_id}",
        "",
        f"{head.turn_count} turns · updated {_when(head.updated_at_ms)} · {format_usage(usage)}",
    ]
    for message in _messages(record):
        blocks = [text for text in (part_text(p) for p in message.parts) if text]
        if not blocks:
            continue
        lines += ["", f"## {_speaker(message).capitalize()}"]
        for text in blocks:
            if text.startswith(("▸", "↳")):
                lines.append(f"- `{text}`" if "`" not in text else f"- {text}")
            else:
                lines += ["", text]
    return "\n".join(lines).rstrip() + "\n"


def export_json(record: SessionRecord) -> dict[str, Any]:
    """The session as JSON data: its head facts, usage and every history node."""
    head = record.head
    return {
        "session_id": head.session_id,
        "head_revision": head.head_revision,
        "turn_count": head.turn_count,
        "current_frame_id": head.current_frame_id,
        "created_at_ms": head.created_at_ms,
        "updated_at_ms": head.updated_at_ms,
        "usage": unstructure(head.ledger.report()),
        "nodes": [
            {"frame_id": n.frame_id, "turn_id": n.turn_id, "message": unstructure(n.message)}
            for n in record.nodes
        ],
    }


def _print_record(console: Console, record: SessionRecord) -> None:
    head = record.head
    console.print(f"[bold]session {escape(head.session_id)}[/]")
    console.print(
        f"[dim]{head.turn_count} turns · revision {head.head_revision} · created {_when(head.created_at_ms)} · "
        f"updated {_when(head.updated_at_ms)} · {format_usage(head.ledger.report().usage)}[/]"
    )
    for message in _messages(record):
        blocks = [text for text in (part_text(p) for p in message.parts) if text]
        if not blocks:
            continue
        console.print()
        console.print(f"[bold cyan]{escape(_speaker(message))}[/]")
        for text in blocks:
            console.print(escape(text))


async def _with_store(runtime: Any, action: str, session_id: str | None, fmt: str) -> int:
    async with runtime:
        store = runtime.store
        out = make_console()
        if action == "list":
            summaries = await store.list_sessions()
            if fmt == "json":
                click.echo(json.dumps([unstructure(s) for s in summaries], indent=2))
                return 0
            if not summaries:
                out.print('no sessions yet: `lash run "hello"` starts one')
                return 0
            table = Table("session", "turns", "revision", "updated", box=None, header_style="bold")
            for s in summaries:
                table.add_row(s.session_id, str(s.turn_count), str(s.head_revision), _when(s.updated_at_ms))
            out.print(table)
            return 0
        assert session_id is not None
        if action == "delete":
            if not await store.delete_session(session_id):
                return _missing(session_id)
            out.print(f"deleted session {escape(session_id)}")
            return 0
        record = await store.load_session(session_id)
        if record is None:
            return _missing(session_id)
        if action == "show":
            _print_record(out, record)
        elif fmt == "json":
            click.echo(json.dumps(export_json(record), indent=2, ensure_ascii=False))
        else:
            click.echo(export_markdown(record), nl=False)
        return 0


def _missing(session_id: str) -> int:
    click.echo(
        f"lash: no session {session_id!r} in the store; `lash sessions list` shows what there is", err=True
    )
    return EXIT_STOPPED


@click.group("sessions")
def sessions_group() -> None:
    """List, show, export and delete the sessions in the store."""


@sessions_group.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(config: str | None, as_json: bool) -> None:
    """List the sessions, most recently updated first."""
    sys.exit(run_async(_with_store, compose_runtime(config), "list", None, "json" if as_json else "table"))


@sessions_group.command("show")
@click.argument("session_id")
@config_option
def show_command(session_id: str, config: str | None) -> None:
    """Show a session: its facts, usage and conversation."""
    sys.exit(run_async(_with_store, compose_runtime(config), "show", session_id, "text"))


@sessions_group.command("export")
@click.argument("session_id")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "markdown"]),
    default="markdown",
    show_default=True,
    help="JSON (every history node) or a Markdown transcript.",
)
def export_command(session_id: str, config: str | None, fmt: str) -> None:
    """Print a session as JSON or Markdown."""
    sys.exit(run_async(_with_store, compose_runtime(config), "export", session_id, fmt))


@sessions_group.command("delete")
@click.argument("session_id")
@config_option
def delete_command(session_id: str, config: str | None) -> None:
    """Delete a session with its inputs, work and attachments."""
    sys.exit(run_async(_with_store, compose_runtime(config), "delete", session_id, "text"))
