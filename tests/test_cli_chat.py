"""`lash chat`: the chat loop scripted, Ctrl+C, active-turn input, prompt_toolkit input, tools."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import lash_tools.plugin as lash_tools_plugin
import pytest
from click.testing import CliRunner
from rich.console import Console

from lash_core.cli import main
from lash_core.cli.chat import ChatLoop, PromptReader
from lash_core.model import Cancelled, Finished, PartKind, Stopped
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime
from lash_core.testing.durable import DurableMemoryStore, durable_runtime

pytestmark = pytest.mark.anyio

Step = str | type[BaseException] | Callable[[], Awaitable[Any]]


class ScriptedReader:
    """Lines, Ctrl+C (KeyboardInterrupt) and waits, in order; EOF at the end."""

    def __init__(self, *steps: Step, concurrent: bool = True) -> None:
        self.steps = list(steps)
        self.concurrent = concurrent

    async def read_line(self, prompt: str) -> str:
        while self.steps:
            step = self.steps.pop(0)
            if isinstance(step, str):
                return step
            if isinstance(step, type):
                raise step()
            await step()
        raise EOFError


def _consoles() -> tuple[Console, Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(file=out, no_color=True), Console(file=err, no_color=True), out, err


async def _chat(runtime: Any, reader: Any, session_id: str = "chat") -> tuple[ChatLoop, str, str]:
    out_console, err_console, out, err = _consoles()
    async with runtime:
        loop = ChatLoop(await runtime.session(session_id), reader, out_console, err_console)
        reader.loop = loop
        await loop.run()
    return loop, out.getvalue(), err.getvalue()


def _user_texts(request: Any) -> list[str]:
    return [p.content for m in request.messages for p in m.parts if p.kind is PartKind.TEXT]


async def test_lines_run_turns_in_order_and_exit_leaves() -> None:
    """Each line is a turn; /exit leaves; the answers are printed."""
    provider = ScriptedProvider([reply_text("one"), reply_text("two")])
    reader = ScriptedReader("hello", "", "again", "/exit", "never read", concurrent=False)
    loop, out, err = await _chat(scripted_runtime(provider), reader)
    assert [r.assistant_output.safe_text for r in loop.results] == ["one", "two"]
    assert "one" in out and "two" in out and "finished" in err
    assert reader.steps == ["never read"]
    assert _user_texts(provider.requests[1]) == ["hello", "again"]


async def test_ctrl_c_cancels_the_running_turn_and_the_session_stays_usable() -> None:
    """Ctrl+C during a turn commits Stopped(Cancelled); the next line runs normally."""
    gate = anyio.Event()
    first = reply_text("never", gate=gate)
    provider = ScriptedProvider([first, reply_text("fine")])
    holder: dict[str, ChatLoop] = {}

    async def idle() -> None:
        await holder["loop"].wait_idle()

    reader = ScriptedReader("hello", first.started.wait, KeyboardInterrupt, idle, "again", idle, "/exit")
    out_console, err_console, _, err = _consoles()
    async with scripted_runtime(provider) as runtime:
        loop = holder["loop"] = ChatLoop(await runtime.session("c"), reader, out_console, err_console)
        await loop.run()
    assert loop.results[0].outcome == Stopped(Cancelled())
    assert isinstance(loop.results[1].outcome, Finished)
    assert "stopped: cancelled" in err.getvalue()


async def test_the_cancel_path_then_two_interrupts_at_the_prompt_exit() -> None:
    """interrupt(): cancels a running turn; then at the prompt it arms, and a second one exits."""
    gate = anyio.Event()
    first = reply_text("never", gate=gate)
    provider = ScriptedProvider([first])
    holder: dict[str, ChatLoop] = {}
    decisions: list[str] = []

    async def cancel_directly() -> None:
        await first.started.wait()
        decisions.append(holder["loop"].interrupt())
        await holder["loop"].wait_idle()

    reader = ScriptedReader("hello", cancel_directly, KeyboardInterrupt, "not read")
    out_console, err_console, _, _ = _consoles()
    async with scripted_runtime(provider) as runtime:
        loop = holder["loop"] = ChatLoop(await runtime.session("c"), reader, out_console, err_console)
        await loop.run()
    assert decisions == ["cancelled"]
    assert loop.results[0].outcome == Stopped(Cancelled())
    assert reader.steps == ["not read"]  # the Ctrl+C after the cancel left the chat


@pytest.fixture
def sigint_recorded() -> Iterator[list[int]]:
    """SIGINT only recorded (not KeyboardInterrupt) unless the code under test handles it."""
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)


async def test_sigint_cancels_the_turn_then_leaves_with_a_concurrent_reader(
    sigint_recorded: list[int],
) -> None:
    """SIGINT (Ctrl+C while no prompt is drawn) cancels the running turn; the next one leaves."""
    gate = anyio.Event()
    first = reply_text("never", gate=gate)
    provider = ScriptedProvider([first])
    holder: dict[str, ChatLoop] = {}

    async def sigint_then_idle() -> None:
        await first.started.wait()
        os.kill(os.getpid(), signal.SIGINT)
        await holder["loop"].wait_idle()

    async def sigint_while_reading() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # armed by the cancel: this one leaves
        await anyio.sleep_forever()  # the read in progress is abandoned

    reader = ScriptedReader("hello", sigint_then_idle, sigint_while_reading, "unread")
    out_console, err_console, _, err = _consoles()
    with anyio.fail_after(30):
        async with scripted_runtime(provider) as runtime:
            loop = holder["loop"] = ChatLoop(await runtime.session("s"), reader, out_console, err_console)
            await loop.run()
    assert loop.results[0].outcome == Stopped(Cancelled())
    assert reader.steps == ["unread"] and sigint_recorded == []
    assert "stopped: cancelled" in err.getvalue() and "bye" in err.getvalue()


async def test_ctrl_c_at_an_idle_prompt_arms_then_exits() -> None:
    """At an idle prompt the first Ctrl+C only arms; a line disarms; two in a row exit."""
    provider = ScriptedProvider([reply_text("ok")])
    reader = ScriptedReader(
        KeyboardInterrupt, "hi", KeyboardInterrupt, KeyboardInterrupt, "unread", concurrent=False
    )
    loop, _, err = await _chat(scripted_runtime(provider), reader)
    assert len(loop.results) == 1 and reader.steps == ["unread"]
    assert "Ctrl+C again" in err


async def test_text_entered_during_a_turn_joins_it() -> None:
    """A line entered while a turn runs is submitted to it (inline store: turn.submit)."""
    gate = anyio.Event()
    first = reply_text("first answer", gate=gate)
    provider = ScriptedProvider([first, reply_text("second answer")])
    holder: dict[str, ChatLoop] = {}

    async def release() -> None:
        gate.set()
        await holder["loop"].wait_idle()

    reader = ScriptedReader("start", first.started.wait, "also this", release, "/exit")
    out_console, err_console, _, err = _consoles()
    async with scripted_runtime(provider) as runtime:
        loop = holder["loop"] = ChatLoop(await runtime.session("a"), reader, out_console, err_console)
        await loop.run()
    assert len(loop.results) == 1
    assert loop.results[0].assistant_output.safe_text == "second answer"
    assert "also this" in _user_texts(provider.requests[1])
    assert "sent to the running turn" in err.getvalue()


async def test_durable_sessions_get_active_turn_input_through_the_store() -> None:
    """With a durable store the line goes through session.submit(ingress="active_turn")."""
    gate = anyio.Event()
    first = reply_text("first answer", gate=gate)
    provider = ScriptedProvider([first, reply_text("second answer")])
    holder: dict[str, ChatLoop] = {}

    async def release() -> None:
        gate.set()
        await holder["loop"].wait_idle()

    reader = ScriptedReader("start", first.started.wait, "also this", release, "/exit")
    out_console, err_console, _, _ = _consoles()
    store = DurableMemoryStore()
    async with durable_runtime(provider, store) as runtime:
        session = await runtime.session("d")
        loop = holder["loop"] = ChatLoop(session, reader, out_console, err_console)
        await loop.run()
    texts = [r.assistant_output.safe_text for r in loop.results]
    assert texts[-1] == "second answer"
    assert "also this" in _user_texts(provider.requests[-1])


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_prompt_toolkit_input_pipe_drives_the_chat(anyio_backend: str) -> None:
    """Keys typed into prompt_toolkit (a pipe input) run turns; Ctrl+C twice exits."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    gate = anyio.Event()
    first = reply_text("piped answer", gate=gate)
    provider = ScriptedProvider([first])
    out_console, err_console, out, _ = _consoles()
    with create_pipe_input() as pipe:
        reader = PromptReader(input=pipe, output=DummyOutput())
        async with scripted_runtime(provider) as runtime:
            loop = ChatLoop(await runtime.session("p"), reader, out_console, err_console)
            async with anyio.create_task_group() as group:
                group.start_soon(loop.run)
                pipe.send_text("hello there\r")
                await first.started.wait()
                gate.set()
                await loop.wait_idle()  # set after the turn recorded its result
                pipe.send_text("\x03")
                pipe.send_text("\x03")
    assert loop.results[0].assistant_output.safe_text == "piped answer"
    assert _user_texts(provider.requests[0]) == ["hello there"]
    assert "piped answer" in out.getvalue()


async def test_chat_edits_a_file_in_the_workspace_through_the_tools_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scripted model edits a file in a temporary workspace with the tools plugin."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LASH_WORKSPACE", str(tmp_path))
    (tmp_path / "notes.txt").write_text("hello world\n", encoding="utf-8")
    edit = call("edit_file", {"path": "notes.txt", "old_text": "hello", "new_text": "goodbye"})
    provider = ScriptedProvider([reply_tool_calls(edit), reply_text("I changed it.")])
    runtime = scripted_runtime(provider, plugins=[lash_tools_plugin], config={"workspace": str(tmp_path)})
    reader = ScriptedReader("change hello to goodbye in notes.txt", "/exit", concurrent=False)
    loop, out, err = await _chat(runtime, reader)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "goodbye world\n"
    assert "▸ edit_file(" in err and "✓ edit_file" in err
    assert "I changed it." in out
    assert isinstance(loop.results[0].outcome, Finished)


def test_lash_chat_reads_lines_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lash chat` with piped stdin runs a turn per line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lash.toml").write_text(
        'trace_sinks = []\n[model]\nid = "e"\n[providers.default]\ntype = "echo"\n[store]\ntype = "memory"\n',
        encoding="utf-8",
    )
    env = {"LASH_DATA_DIR": str(tmp_path / "data"), "LASH_CONFIG": None, "NO_COLOR": "1"}
    result = CliRunner().invoke(main, ["chat", "--session", "piped"], input="hello\nworld\n/exit\n", env=env)
    assert result.exit_code == 0, result.output
    assert "echo: hello" in result.stdout and "echo: world" in result.stdout
    assert "lash chat --session piped" in result.stderr
