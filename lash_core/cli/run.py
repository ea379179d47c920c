"""``lash run "prompt"``: one turn, streamed; the exit code says how it ended."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import anyio
import click

from lash_core.cli._common import (
    compose_runtime,
    config_option,
    make_console,
    run_async,
)
from lash_core.cli.render import JsonRenderer, TurnRenderer, outcome_exit_code

__all__ = ["cancel_on_interrupt", "run_command", "run_prompt"]


async def cancel_on_interrupt(cancel: Callable[[], None]) -> None:
    """Call ``cancel`` on every SIGINT (Ctrl+C) until cancelled; a no-op where signals
    cannot be received (not the main thread, Windows)."""
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                cancel()
    except (NotImplementedError, ValueError, RuntimeError):
        await anyio.sleep_forever()


async def run_prompt(runtime: Any, prompt: str, session_id: str | None, renderer: Any) -> int:
    """Run one turn of ``prompt`` in session ``session_id`` (a new one when ``None``),
    showing it with ``renderer``; Ctrl+C cancels the turn. Returns the exit code."""
    async with runtime:
        session = await runtime.session(session_id)
        turn = session.turn(prompt, sink=renderer)
        async with anyio.create_task_group() as group:
            group.start_soon(cancel_on_interrupt, lambda: turn.cancel("cancelled with Ctrl+C"))
            result = await turn.run()
            group.cancel_scope.cancel()
        renderer.finish(result, session_id=session.id)
        return outcome_exit_code(result.outcome)


@click.command("run")
@click.argument("prompt")
@click.option("--session", "session_id", default=None, help="Continue this session (default: a new one).")
@config_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the activity stream as JSON lines, then the result."
)
def run_command(prompt: str, session_id: str | None, config: str | None, as_json: bool) -> None:
    """Run one turn of PROMPT ("-" reads it from stdin) and stream what happens.

    Exit codes: 0 finished, 1 stopped (cancelled, provider error...), 2 usage or
    configuration error, 3 host error (the session is busy, the store failed).
    """
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise click.UsageError("the prompt is empty; give the text to send, or - to read it from stdin")
    runtime = compose_runtime(config)
    out = make_console()
    renderer = JsonRenderer(out) if as_json else TurnRenderer(out, make_console(stderr=True))
    sys.exit(run_async(run_prompt, runtime, prompt, session_id, renderer))
