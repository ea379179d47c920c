"""``lash chat``: an interactive session with line editing and history.

On a terminal the prompt (prompt_toolkit) stays live while the agent works: a line
entered then is submitted to the running turn as active-turn input (``turn.submit`` for
an inline store, ``session.submit(..., ingress="active_turn")`` for a durable one), and
Ctrl+C cancels the running turn (it commits ``Stopped(Cancelled)``; the session stays
usable). Ctrl+C at the prompt once more, or Ctrl+D, exits. The prompt reads Ctrl+C as a key;
a SIGINT (Ctrl+C while no prompt is drawn, between two prompts, or ``kill -INT``) does the
same for the whole chat. When stdin is not a terminal, lines are read one turn at a time.
``/exit`` leaves, ``/usage`` shows the session's usage.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, Protocol

import anyio
import click
from rich.console import Console
from rich.markup import escape

from lash_core.cli._common import compose_runtime, config_option, make_console, run_async
from lash_core.cli.render import TurnRenderer, format_usage
from lash_core.errors import LashError
from lash_core.model import AssembledTurn

__all__ = [
    "ChatLoop",
    "LineReader",
    "PromptReader",
    "ReadlineReader",
    "StreamReader",
    "chat_command",
    "default_reader",
    "run_chat",
]

PROMPT = "> "
INTRO = (
    "Type a message and press Enter. While the agent works, what you type joins its turn. "
    "Ctrl+C cancels the turn; Ctrl+C at the prompt twice, Ctrl+D or /exit leaves."
)


class LineReader(Protocol):
    """Where chat lines come from. ``read_line`` raises ``KeyboardInterrupt`` for Ctrl+C
    and ``EOFError`` at the end. ``concurrent`` readers may be read while a turn runs."""

    concurrent: bool

    async def read_line(self, prompt: str) -> str:
        """The next line, without its newline."""
        ...


class PromptReader:
    """prompt_toolkit: line editing, history, a prompt that stays live during turns. Ctrl+C
    typed at the prompt raises ``KeyboardInterrupt``; SIGINT is left to the chat loop."""

    concurrent = True

    def __init__(self, history: Path | None = None, *, input: Any = None, output: Any = None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        if history is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
        self._session: Any = PromptSession(
            history=FileHistory(str(history)) if history is not None else InMemoryHistory(),
            input=input,
            output=output,
        )

    async def read_line(self, prompt: str) -> str:
        """Prompt, with output printed meanwhile shown above the prompt line."""
        from prompt_toolkit.patch_stdout import patch_stdout

        with patch_stdout(raw=True):
            # handle_sigint=False: prompt_toolkit would replace the chat's SIGINT handler and,
            # on returning, reset it to the default, which raises KeyboardInterrupt anywhere.
            return str(await self._session.prompt_async(prompt, handle_sigint=False))


class ReadlineReader:
    """The standard library's ``input()`` with readline editing and history (used when
    prompt_toolkit is not installed); one turn at a time."""

    concurrent = False

    def __init__(self, history: Path | None = None) -> None:
        self._history = history
        try:
            import readline
        except ImportError:  # pragma: no cover - platforms without readline
            return
        if history is not None and history.is_file():
            readline.read_history_file(str(history))

    async def read_line(self, prompt: str) -> str:
        """Block on ``input()`` (nothing else runs while waiting in this mode)."""
        line = input(prompt)  # noqa: ASYNC250 - sequential mode: nothing else runs meanwhile
        if self._history is not None:
            try:
                import readline

                self._history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(str(self._history))
            except (ImportError, OSError):
                pass
        return line


class StreamReader:
    """Lines from a stream that is not a terminal (a pipe, a file); one turn at a time."""

    concurrent = False

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream

    async def read_line(self, prompt: str) -> str:
        """The next line; ``EOFError`` at the end of the stream."""
        line = (self._stream or sys.stdin).readline()
        if not line:
            raise EOFError
        return str(line).rstrip("\r\n")


def default_reader(history: Path | None) -> LineReader:
    """prompt_toolkit on a terminal (readline without it), plain lines otherwise."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return StreamReader()
    try:
        return PromptReader(history)
    except ImportError:
        return ReadlineReader(history)


class ChatLoop:
    """The chat of one session: reads lines, runs turns, feeds running turns, handles Ctrl+C."""

    def __init__(self, session: Any, reader: LineReader, out: Console, err: Console) -> None:
        self.session = session
        self.reader = reader
        self.out = out
        self.err = err
        self.renderer = TurnRenderer(out, err)
        self.turn: Any = None
        self.armed = False
        self.results: list[AssembledTurn] = []
        self._idle = anyio.Event()
        self._idle.set()
        self._fed_durable = False
        self._leaving = False
        self._reading: anyio.CancelScope | None = None

    async def wait_idle(self) -> None:
        """Return once no turn is running."""
        await self._idle.wait()

    def interrupt(self) -> str:
        """What Ctrl+C does: cancel the running turn (``"cancelled"``), else arm
        (``"armed"``), else, when armed, exit (``"exit"``)."""
        if self.turn is not None:
            self.turn.cancel("cancelled with Ctrl+C")
            self.armed = True
            return "cancelled"
        if self.armed:
            return "exit"
        self.armed = True
        self.err.print("[dim](Ctrl+C again, Ctrl+D or /exit to leave)[/]")
        return "armed"

    def leave(self) -> None:
        """Stop reading lines (the one being read is abandoned); a running turn is waited for."""
        self._leaving = True
        if self._reading is not None:
            self._reading.cancel()

    async def run(self) -> None:
        """Read and handle lines until the user leaves; a running turn is waited for. With a
        concurrent reader, SIGINT is handled as Ctrl+C until then."""
        self.err.print(f"[dim]session {escape(self.session.id)} · {INTRO}[/]")
        async with anyio.create_task_group() as group:
            watcher = anyio.CancelScope()
            if self.reader.concurrent:
                group.start_soon(_interrupt_on_sigint, self, watcher)
            await self._read_lines(group)
            await self.wait_idle()
            watcher.cancel()
        self.err.print(f"[dim]bye · continue with `lash chat --session {escape(self.session.id)}`[/]")

    async def _read_lines(self, group: anyio.abc.TaskGroup) -> None:
        while not self._leaving:
            if not self.reader.concurrent:
                await self.wait_idle()
            try:
                line = await self._read_line()
            except KeyboardInterrupt:
                if self.interrupt() == "exit":
                    return
                continue
            except EOFError:
                return
            if line is None:  # left while reading
                return
            self.armed = False
            if not await self.handle(line, group):
                return

    async def _read_line(self) -> str | None:
        with anyio.CancelScope() as self._reading:
            try:
                return await self.reader.read_line(PROMPT)
            finally:
                self._reading = None
        return None

    async def handle(self, line: str, group: anyio.abc.TaskGroup) -> bool:
        """Handle one line: a command, input for the running turn, or a new turn.
        ``False`` to leave."""
        text = line.strip()
        if not text:
            return True
        if text in ("/exit", "/quit"):
            return False
        if text == "/usage":
            self.err.print(format_usage(self.session.usage_report().usage))
            return True
        if self.turn is not None:
            await self.feed(text)
            return True
        self.turn = self.session.turn(text, sink=self.renderer)
        self._idle = anyio.Event()
        watcher = anyio.CancelScope()
        if not self.reader.concurrent:  # Ctrl+C arrives as a signal, not from the prompt
            group.start_soon(_interrupt_on_sigint, self, watcher)
        group.start_soon(self._run_turn, self.turn, watcher)
        return True

    async def feed(self, text: str) -> None:
        """Submit ``text`` to the running turn as active-turn input."""
        if self.session.is_durable:
            await self.session.submit(text, ingress="active_turn")
            self._fed_durable = True
        else:
            self.turn.submit(text)
        self.err.print("[dim](sent to the running turn)[/]")

    async def _run_turn(self, turn: Any, watcher: anyio.CancelScope) -> None:
        try:
            result = await turn.run()
            watcher.cancel()
            self.results.append(result)
            self.renderer.finish(result)
            if self._fed_durable:  # input that missed the turn's last checkpoint runs now
                self._fed_durable = False
                for late in await self.session.drain(sink=self.renderer):
                    self.results.append(late)
                    self.renderer.finish(late)
        except LashError as exc:
            self.err.print(f"[red]{escape(str(exc))}[/]")
        finally:
            watcher.cancel()
            self.turn = None
            self._idle.set()


async def _interrupt_on_sigint(loop: ChatLoop, scope: anyio.CancelScope) -> None:
    """Until ``scope`` is cancelled, SIGINT does what Ctrl+C at the prompt does."""
    with scope:
        try:
            with anyio.open_signal_receiver(signal.SIGINT) as signals:
                async for _ in signals:
                    if loop.interrupt() == "exit":
                        loop.leave()
        except (NotImplementedError, ValueError, RuntimeError):
            await anyio.sleep_forever()


async def run_chat(runtime: Any, session_id: str | None, reader: LineReader) -> int:
    """Open ``runtime`` and chat in session ``session_id`` (a new one when ``None``)."""
    async with runtime:
        session = await runtime.session(session_id)
        await ChatLoop(session, reader, make_console(), make_console(stderr=True)).run()
    return 0


@click.command("chat")
@click.option("--session", "session_id", default=None, help="Continue this session (default: a new one).")
@config_option
def chat_command(session_id: str | None, config: str | None) -> None:
    """Chat with the agent in a session, with line editing and history."""
    from lash_core.config_file import data_dir

    runtime = compose_runtime(config)
    reader = default_reader(data_dir() / "chat_history")
    sys.exit(run_async(run_chat, runtime, session_id, reader))
