"""The ``shell`` tool: one non-interactive command in the workspace root.

The command runs as ``<shell_program> -c <command>`` in its own process group (session)
with stdin closed and stderr merged into stdout. Output is captured keeping a head and a
tail within the output budget. On timeout or cancellation the whole process group is
killed. A non-zero exit code is data, not a failure.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import anyio
from anyio.abc import ByteReceiveStream, Process

from lash_core.model.tools import ToolFailureClass
from lash_tools.settings import ToolsSettings
from lash_tools.workspace import ToolError, Workspace

__all__ = ["DRAIN_SECONDS", "HeadTail", "run_shell"]

DRAIN_SECONDS = 1.0
"""After the shell exits, how long to wait for processes it left behind to close the output."""

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_RESERVED_BYTES = 400  # the exit-code line and the omission marker


class HeadTail:
    """Keeps the first ``head_bytes`` and the last ``tail_bytes`` of a byte stream."""

    def __init__(self, head_bytes: int, tail_bytes: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.head_bytes = head_bytes
        self.tail_bytes = tail_bytes
        self.total = 0

    def add(self, chunk: bytes) -> None:
        """Record ``chunk``."""
        self.total += len(chunk)
        room = self.head_bytes - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_bytes:
                del self.tail[: len(self.tail) - self.tail_bytes]

    @property
    def omitted(self) -> int:
        """Bytes dropped from the middle."""
        return self.total - len(self.head) - len(self.tail)

    def text(self, max_lines: int) -> str:
        """The kept output as text (ANSI escapes removed), with a marker where the middle was
        dropped; at most ``max_lines`` lines, dropping more of the middle if needed."""
        keep_head = (max_lines - 1) // 3
        keep_tail = max(max_lines - 1 - keep_head, 1)
        if self.omitted == 0:
            whole = _clean(bytes(self.head) + bytes(self.tail))
            lines = whole.split("\n")
            if len(lines) <= max_lines:
                return whole
            head_lines, tail_lines = lines[:keep_head], lines[keep_head:]
        else:
            head_lines = _clean(bytes(self.head)).split("\n")
            tail_lines = _clean(bytes(self.tail)).split("\n")
        dropped = max(0, len(head_lines) - keep_head) + max(0, len(tail_lines) - keep_tail)
        head_lines, tail_lines = head_lines[:keep_head], tail_lines[-keep_tail:]
        what = [f"{self.omitted} bytes"] if self.omitted else []
        if dropped:
            what.append(f"{dropped} more lines")
        marker = f"[... {' and '.join(what)} of output omitted ...]"
        return "\n".join([*head_lines, marker, *tail_lines])


def _clean(data: bytes) -> str:
    return _ANSI.sub("", data.decode("utf-8", "replace")).replace("\r\n", "\n")


async def run_shell(ws: Workspace, settings: ToolsSettings, command: str, timeout_s: float) -> str:
    """Run ``command``; return ``exit code: N`` followed by its (capped) output.

    Raises a ``timeout`` :class:`ToolError` (with the output so far) when it runs longer
    than ``timeout_s``, after killing its process group.
    """
    if not command.strip():
        raise ToolError.invalid("empty_command", "the command is empty")
    if not 0 < timeout_s <= settings.max_shell_timeout_s:
        raise ToolError.invalid(
            "invalid_timeout",
            f"timeout_s must be more than 0 and at most {settings.max_shell_timeout_s:g}, got {timeout_s:g}",
        )
    budget = max(settings.max_output_bytes - _RESERVED_BYTES, 256)
    output = HeadTail(budget // 3, budget - budget // 3)
    try:
        process = await anyio.open_process(
            [settings.shell_program, "-c", command],
            cwd=ws.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolError(
            ToolFailureClass.UNAVAILABLE,
            "shell_unavailable",
            f"cannot start {settings.shell_program!r}: {exc.strerror or exc}",
        ) from None
    max_lines = settings.max_output_lines - 3
    drained = False
    deadline = anyio.move_on_after(timeout_s)
    try:
        with deadline:
            drained = await _collect(process, output)
    finally:
        if deadline.cancelled_caught or not drained:
            _kill_group(process)
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
    if deadline.cancelled_caught:
        raise ToolError(
            ToolFailureClass.TIMEOUT,
            "timeout",
            f"the command timed out after {timeout_s:g}s and its process group was killed; "
            f"output before the timeout:\n{output.text(max_lines) or '(no output)'}",
        )
    return f"{_status(process.returncode)}\n{output.text(max_lines) or '(no output)'}"


async def _collect(process: Process, output: HeadTail) -> bool:
    """Read the output until the shell has exited and the output is closed.

    Returns False when processes left behind still held the output open
    :data:`DRAIN_SECONDS` after the shell exited.
    """
    stream = process.stdout
    assert stream is not None
    closed = anyio.Event()

    async def pump(source: ByteReceiveStream) -> None:
        try:
            async for chunk in source:
                output.add(chunk)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        closed.set()

    async with anyio.create_task_group() as group:
        group.start_soon(pump, stream)
        await process.wait()
        with anyio.move_on_after(DRAIN_SECONDS):
            await closed.wait()
        group.cancel_scope.cancel()
    return closed.is_set()


def _kill_group(process: Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"exit code: {returncode} (killed by {name})"
    return f"exit code: {returncode}"
