"""The opt-in shell tool: availability, exit codes, timeouts, process-group kills, output caps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from lash_tools import FILE_TOOLS, ToolsSettings, WorkspaceTools

from lash_core.model.tools import (
    FailureOutcome,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)

pytestmark = pytest.mark.anyio


def value(output: ToolCallOutput) -> Any:
    """The success value of ``output`` (fails the test otherwise)."""
    assert isinstance(output.outcome, SuccessOutcome), output
    return output.outcome.value


def failure(output: ToolCallOutput) -> ToolFailure:
    """The failure of ``output`` (fails the test otherwise)."""
    assert isinstance(output.outcome, FailureOutcome), output
    return output.outcome.failure


def shell_tools(root: Path, **settings: Any) -> WorkspaceTools:
    """Tools on ``root`` with the shell enabled."""
    return WorkspaceTools(ToolsSettings(root=str(root), shell=True, **settings))


def alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _poll(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def wait_until_dead(pid: int, seconds: float = 5.0) -> None:
    """Wait (in a worker thread) until process ``pid`` is gone; fail the test if it is not."""
    assert await anyio.to_thread.run_sync(_poll, lambda: not alive(pid), seconds), f"process {pid} survived"


async def wait_for_pid_file(path: Path, seconds: float = 5.0) -> int:
    """The pid written to ``path`` once it appears."""

    def written() -> bool:
        return path.exists() and bool(path.read_text().strip())

    assert await anyio.to_thread.run_sync(_poll, written, seconds), f"{path} never appeared"
    return int(await anyio.Path(path).read_text())


def test_shell_is_off_by_default(root: Path) -> None:
    """Without shell=True the tool is not in the catalog at all."""
    tools = WorkspaceTools(ToolsSettings(root=str(root)))
    assert [m.name for m in tools.manifests()] == list(FILE_TOOLS)
    assert [m.name for m in shell_tools(root).manifests()] == [*FILE_TOOLS, "shell"]


async def test_disabled_shell_cannot_be_called(tools: WorkspaceTools) -> None:
    """Calling the disabled shell directly is an unknown-tool failure."""
    assert failure(await tools.call("shell", command="echo hi")).code == "unknown_tool"


async def test_exit_code_and_output(root: Path) -> None:
    """The exit code leads the result; a non-zero exit is data; stderr is merged; it runs in the root."""
    (root / "marker.txt").write_text("")
    real_root = str(await anyio.Path(root).resolve())
    text = value(await shell_tools(root).call("shell", command="pwd; ls; echo oops >&2; exit 3"))
    lines = text.splitlines()
    assert lines[0] == "exit code: 3"
    assert lines[1] == real_root
    assert "marker.txt" in lines and "oops" in lines


async def test_successful_command_without_output(root: Path) -> None:
    """An empty output says so."""
    assert value(await shell_tools(root).call("shell", command="true")) == "exit code: 0\n(no output)"


async def test_stdin_is_closed(root: Path) -> None:
    """A command reading stdin gets end-of-file instead of hanging."""
    assert value(await shell_tools(root).call("shell", command="cat; echo done", timeout_s=10)) == (
        "exit code: 0\ndone\n"
    )


async def test_timeout_kills_the_process_group(root: Path) -> None:
    """A command over its timeout fails with ``timeout``, keeps its output and its children die."""
    command = "echo started; sleep 30 & echo $! > bg.pid; wait"
    started = time.monotonic()
    error = failure(await shell_tools(root).call("shell", command=command, timeout_s=0.5))
    assert time.monotonic() - started < 10
    assert error.failure_class is ToolFailureClass.TIMEOUT and error.code == "timeout"
    assert "timed out after 0.5s" in error.message and "started" in error.message
    await wait_until_dead(int((root / "bg.pid").read_text()))


async def test_background_process_holding_output_does_not_block(root: Path) -> None:
    """Once the shell exits, a left-behind process still holding the output is killed shortly after."""
    started = time.monotonic()
    text = value(
        await shell_tools(root).call(
            "shell", command="(sleep 30; echo late) & echo $! > bg.pid; echo early", timeout_s=20
        )
    )
    assert time.monotonic() - started < 10
    assert text == "exit code: 0\nearly\n"
    await wait_until_dead(int((root / "bg.pid").read_text()))


async def test_cancellation_kills_the_process_group(root: Path) -> None:
    """Cancelling a running call kills the command and its children."""
    tools = shell_tools(root)

    async def run() -> None:
        await tools.call("shell", command="echo $$ > sh.pid; sleep 30")

    with anyio.move_on_after(10) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            shell_pid = await wait_for_pid_file(root / "sh.pid")
            group.cancel_scope.cancel()
    assert not scope.cancelled_caught
    await wait_until_dead(shell_pid)


async def test_output_is_capped_keeping_head_and_tail(root: Path) -> None:
    """Huge output keeps its beginning and its end around an omission marker, within the budget."""
    tools = shell_tools(root, max_output_bytes=2048, max_output_lines=40)
    text = value(await tools.call("shell", command="seq 1 100000"))
    lines = text.splitlines()
    assert lines[0] == "exit code: 0"
    assert lines[1:4] == ["1", "2", "3"]
    assert lines[-1] == "100000"
    assert any("of output omitted" in line for line in lines)
    assert len(text.encode()) <= 2048 and len(lines) <= 40


async def test_many_short_lines_are_capped_by_line_count(root: Path) -> None:
    """Output within the byte budget but over the line budget loses middle lines, saying how many."""
    tools = shell_tools(root, max_output_lines=20)
    lines = value(await tools.call("shell", command="seq 1 100")).splitlines()
    assert len(lines) <= 20
    assert lines[1] == "1" and lines[-1] == "100"
    assert any("more lines of output omitted" in line for line in lines)


async def test_ansi_escapes_are_removed(root: Path) -> None:
    """Colour codes are stripped from the output."""
    text = value(await shell_tools(root).call("shell", command=r"printf '\033[31mred\033[0m\n'"))
    assert text == "exit code: 0\nred\n"


async def test_killed_by_a_signal(root: Path) -> None:
    """A shell killed by a signal reports the signal."""
    text = value(await shell_tools(root).call("shell", command="kill -KILL $$"))
    assert text.startswith("exit code: -9 (killed by SIGKILL)")


async def test_invalid_shell_requests(root: Path) -> None:
    """An empty command, a timeout over the maximum and a missing shell program are clear failures."""
    tools = shell_tools(root, max_shell_timeout_s=5, default_shell_timeout_s=1)
    assert failure(await tools.call("shell", command="  ")).code == "empty_command"
    assert failure(await tools.call("shell", command="ls", timeout_s=6)).code == "invalid_arguments"
    missing = shell_tools(root, shell_program=str(root / "no-such-shell"))
    error = failure(await missing.call("shell", command="ls"))
    assert error.failure_class is ToolFailureClass.UNAVAILABLE and error.code == "shell_unavailable"
