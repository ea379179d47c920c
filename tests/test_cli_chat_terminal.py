"""`lash chat` in a real terminal: the installed `lash` executable in a pseudo-terminal, keys
typed on it (Ctrl+C is the byte 0x03, as a terminal sends it), a model the test answers.

The model is the ``gated`` provider of ``tests/fixtures/gated_provider`` (found through its
entry point, that directory being on ``PYTHONPATH``): every model call connects to a Unix
socket of the test and waits for the answer, so a turn stays in flight exactly as long as
the test wants. Nothing sleeps: the test waits for markers in the terminal output and for
model calls on the socket, each under one overall deadline.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lash_core.cli.trace import read_trace
from lash_core.tracing import JsonlTraceSink

termios = pytest.importorskip("termios", reason="needs a POSIX pseudo-terminal")
fcntl = pytest.importorskip("fcntl", reason="needs a POSIX pseudo-terminal")

GATED = Path(__file__).parent / "fixtures" / "gated_provider"
DEADLINE_SECONDS = 90.0
"""For a whole conversation; generous because a loaded machine starts Python slowly."""
PLUGINS = "gated,standard,sqlite,memory_store,inline_effects,jsonl_trace,tool_output_budget"

STORES = {
    "sqlite": 'type = "sqlite"\nsettings = {{ path = "{dir}/sessions.db" }}',
    "memory": 'type = "memory"',
}
CONFIG = """\
[model]
id = "gated-1"

[providers.default]
type = "gated"
settings = {{ socket = "{socket}" }}

[store]
{store}

[[trace_sinks]]
type = "jsonl"
settings = {{ directory = "{dir}/traces" }}
"""

PROMPT_LIVE = "\x1b[?2004h"
"""prompt_toolkit turns bracketed paste on when it draws a prompt, after putting the terminal
in raw mode; from then on Ctrl+C is a key the prompt reads (not SIGINT from the terminal)."""
_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")
CTRL_C = b"\x03"
CTRL_D = b"\x04"


class Deadline:
    """One overall time limit for everything a test waits for."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self, waiting_for: str) -> float:
        """Seconds left; fails the test once there are none."""
        left = self.end - time.monotonic()
        if left <= 0:
            pytest.fail(f"timed out waiting for {waiting_for}")
        return left


class ModelCall:
    """A model call in flight: the user texts it was asked with; the test answers it."""

    def __init__(self, conn: socket.socket, deadline: Deadline) -> None:
        self.conn = conn
        self.deadline = deadline
        line = self._read_until(b"\n", "the model request")
        self.texts: list[str] = json.loads(line)["texts"]

    def _read_until(self, end: bytes, what: str) -> bytes:
        data = b""
        while not data.endswith(end):
            self.conn.settimeout(self.deadline.remaining(what))
            chunk = self.conn.recv(4096)
            if not chunk:
                return data
            data += chunk
        return data

    def answer(self, text: str) -> None:
        """Reply with ``text``: the call returns it as the model's answer."""
        self.conn.sendall(text.encode() + b"\n")
        self.conn.close()

    def wait_abandoned(self) -> None:
        """Wait until the provider hangs up without an answer (its call was cancelled)."""
        assert self._read_until(b"\n", "the cancelled model call to hang up") == b""
        self.conn.close()


class Gate:
    """The Unix socket the ``gated`` provider's model calls connect to."""

    def __init__(self, path: Path, deadline: Deadline) -> None:
        self.deadline = deadline
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()

    def next_call(self) -> ModelCall:
        """Wait for the next model call."""
        self.server.settimeout(self.deadline.remaining("a model call"))
        conn, _ = self.server.accept()
        return ModelCall(conn, self.deadline)


class Terminal:
    """A process in a pseudo-terminal (its controlling terminal): keys in, screen output out."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], deadline: Deadline) -> None:
        self.deadline = deadline
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # its own session, whose controlling terminal is the pty:
            preexec_fn=_take_controlling_terminal,  # so 0x03 in cooked mode is a real SIGINT
        )
        os.close(slave)
        self.raw = ""
        self.seen = 0
        self.closed = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def send(self, keys: bytes) -> None:
        """Type ``keys``."""
        os.write(self.master, keys)

    def _read(self, waiting_for: str) -> None:
        ready, _, _ = select.select([self.master], [], [], self.deadline.remaining(waiting_for))
        if not ready:
            return
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the process and every holder of the terminal are gone
            data = b""
        if not data:
            self.closed = True
        self.raw += self._decoder.decode(data, final=not data)

    def expect(self, marker: str, *, raw: bool = False) -> str:
        """Wait until ``marker`` shows in the output after what earlier calls consumed (as
        visible text, or in the raw byte stream with ``raw``); consume up to its end."""
        while True:
            if raw:
                found = self.raw.find(marker, self.seen)
                end = found + len(marker) if found >= 0 else -1
            else:
                text, where = visible(self.raw[self.seen :])
                found = text.find(marker)
                end = self.seen + where[found + len(marker) - 1] + 1 if found >= 0 else -1
            if found >= 0:
                consumed = self.raw[self.seen : end]
                self.seen = end
                return consumed
            if self.closed:
                pytest.fail(f"the terminal closed before {marker!r}; it showed:\n{self.transcript()}")
            self._read(f"{marker!r} in the terminal; it showed:\n{self.transcript()}")

    def prompt(self) -> None:
        """Wait until the next prompt is live (in raw mode, reading keys)."""
        self.expect(PROMPT_LIVE, raw=True)

    def wait_exit(self) -> int:
        """Read the output to its end; the exit status of the process."""
        while not self.closed:
            self._read(f"the process to exit; it showed:\n{self.transcript()}")
        return self.process.wait(timeout=self.deadline.remaining("the process exit status"))

    def transcript(self) -> str:
        """Everything shown so far, as text."""
        return visible(self.raw)[0]

    def close(self) -> None:
        """Kill the process if it is still running; release the terminal."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def _take_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def visible(raw: str) -> tuple[str, list[int]]:
    """The text of terminal output without escape sequences, carriage returns and
    backspaces, with the index in ``raw`` of each character kept."""
    masked = _ESCAPE.sub(lambda m: "\0" * len(m.group()), raw)
    where = [i for i, ch in enumerate(masked) if ch not in "\0\r\b"]
    return "".join(masked[i] for i in where), where


class Chat:
    """`lash chat` in a terminal, with its working directory, model gate and store."""

    def __init__(self, workdir: Path, gate: Gate, terminal: Terminal, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.gate = gate
        self.terminal = terminal
        self.env = env

    def lash(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `lash` command on the same configuration."""
        return subprocess.run(
            [_lash_executable(), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.gate.deadline.remaining(f"`lash {' '.join(args)}`"),
        )


def _lash_executable() -> str:
    path = Path(sys.executable).with_name("lash")
    assert path.exists(), "the `lash` executable is not installed next to this Python: run scripts/setup"
    return str(path)


@pytest.fixture
def chat(tmp_path: Path) -> Iterator[Callable[[str], Chat]]:
    """``chat(store)``: `lash chat --session term` started in a pseudo-terminal over a fresh
    ``lash.toml`` (``store`` is ``"sqlite"`` or ``"memory"``), the intro printed."""
    deadline = Deadline(DEADLINE_SECONDS)
    # a Unix socket path must be short (about 100 bytes): not under pytest's tmp_path
    short = tempfile.TemporaryDirectory(prefix="lash-gate-")
    gate = Gate(Path(short.name) / "gate.sock", deadline)
    terminals: list[Terminal] = []

    def start(store: str) -> Chat:
        (tmp_path / "lash.toml").write_text(
            CONFIG.format(
                socket=gate.server.getsockname(), store=STORES[store].format(dir=tmp_path), dir=tmp_path
            ),
            encoding="utf-8",
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("LASH_CONFIG", "LASH_DISABLE_PLUGINS", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
        }
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(GATED), env.get("PYTHONPATH")])),
            LASH_LOAD_PLUGINS=PLUGINS,
            LASH_DATA_DIR=str(tmp_path / "data"),
            TERM="xterm",
            NO_COLOR="1",
            PROMPT_TOOLKIT_NO_CPR="1",  # nothing here answers cursor position requests
        )
        terminal = Terminal([_lash_executable(), "chat", "--session", "term"], tmp_path, env, deadline)
        terminals.append(terminal)
        terminal.expect("Type a message and press Enter.")
        return Chat(tmp_path, gate, terminal, env)

    try:
        yield start
    finally:
        for terminal in terminals:
            terminal.close()
        gate.server.close()
        short.cleanup()


@pytest.mark.parametrize("how", ["key", "signal"])
def test_ctrl_c_cancels_the_turn_in_flight_and_the_session_goes_on(
    chat: Callable[[str], Chat], how: str
) -> None:
    """Ctrl+C typed during a turn cancels it, committed as stopped: cancelled; the next line
    runs a turn on the same session; Ctrl+C twice at an idle prompt exits with status 0.
    The same with SIGINT sent to the process (what the terminal sends for Ctrl+C when no
    prompt is drawn) instead of the key."""
    session = chat("sqlite")
    term, gate = session.terminal, session.gate

    def ctrl_c() -> None:
        if how == "key":
            term.send(CTRL_C)
        else:
            term.process.send_signal(signal.SIGINT)

    term.prompt()
    term.send(b"hold on\r")
    first = gate.next_call()  # the turn is in flight, its model call waiting on the test
    assert first.texts == ["hold on"]
    term.prompt()  # the prompt is live again while the turn runs
    ctrl_c()
    first.wait_abandoned()
    term.expect("stopped: cancelled")

    term.prompt()
    term.send(b"again\r")
    second = gate.next_call()
    assert second.texts == ["hold on", "again"]  # the same session: it holds the cancelled turn
    second.answer("fine answer")
    term.expect("fine answer")
    term.expect("finished")

    term.prompt()
    ctrl_c()
    term.expect("(Ctrl+C again, Ctrl+D or /exit to leave)")
    term.prompt()
    ctrl_c()
    term.expect("bye · continue with `lash chat --session term`")
    assert term.wait_exit() == 0
    assert "Traceback" not in term.transcript()

    exported = session.lash("sessions", "export", "term", "--format", "json")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["turn_count"] == 2
    texts = [
        (node["message"]["role"], part["content"])
        for node in data["nodes"]
        for part in node["message"]["parts"]
    ]
    assert texts == [("user", "hold on"), ("user", "again"), ("assistant", "fine answer")]
    trace = read_trace(JsonlTraceSink(session.workdir / "traces").path_for("term"))
    outcomes = [(r["status"], r["done_reason"]) for r in trace if r["type"] == "turn_completed"]
    assert outcomes == [("failed", "cancelled"), ("completed", "assistant_message")]


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_line_typed_during_a_turn_joins_it(chat: Callable[[str], Chat], store: str) -> None:
    """A line entered while the turn runs reaches that turn as active input: its next model
    call carries it (inline store: turn.submit; durable store: session.submit)."""
    session = chat(store)
    term, gate = session.terminal, session.gate
    term.prompt()
    term.send(b"start\r")
    first = gate.next_call()
    assert first.texts == ["start"]
    term.prompt()
    term.send(b"also this\r")
    term.expect("(sent to the running turn)")
    first.answer("first answer")
    second = gate.next_call()
    assert second.texts == ["start", "also this"]
    second.answer("second answer")
    term.expect("second answer")
    term.expect("finished")
    term.prompt()
    term.send(CTRL_D)
    term.expect("bye · continue with `lash chat --session term`")
    assert term.wait_exit() == 0
    trace = read_trace(JsonlTraceSink(session.workdir / "traces").path_for("term"))
    assert [r["status"] for r in trace if r["type"] == "turn_completed"] == ["completed"]
