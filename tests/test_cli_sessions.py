"""`lash sessions`, `lash trace show`, `lash worker` and `lash doctor` over a SQLite store
that outlives each command (every invocation opens the store anew)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from lash_core.cli import EXIT_OK, EXIT_STOPPED, EXIT_USAGE, main
from lash_core.runtime import Runtime

CONFIG = """\
[model]
id = "echo-1"

[providers.default]
type = "echo"

[store]
type = "sqlite"
settings = {{ path = "{db}" }}

[[trace_sinks]]
type = "jsonl"
settings = {{ directory = "{traces}" }}
"""


def _env(workdir: Path) -> dict[str, str]:
    return {"LASH_DATA_DIR": str(workdir / "data"), "NO_COLOR": "1"}


# The doctor reports every plugin that fails to load; load only those these tests compose.
ONLY = "echo,standard,sqlite,memory_store,inline_effects,jsonl_trace,tool_output_budget"


def _prepare(directory: Path) -> Path:
    (directory / "lash.toml").write_text(
        CONFIG.format(db=directory / "sessions.db", traces=directory / "traces"), encoding="utf-8"
    )
    return directory


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LASH_CONFIG", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with an echo + SQLite lash.toml, used as the working directory."""
    monkeypatch.chdir(tmp_path)
    return _prepare(tmp_path)


def lash(workdir: Path, *args: str) -> Result:
    """Invoke `lash` in-process."""
    return CliRunner().invoke(main, list(args), env=_env(workdir))


def lash_process(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `lash` as a separate process."""
    env = {**os.environ, **_env(workdir)}
    return subprocess.run(
        [sys.executable, "-m", "lash_core.cli", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def stored_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two turns of session `demo`, each run by its own process (read-only for the tests)."""
    directory = _prepare(tmp_path_factory.mktemp("stored"))
    for prompt in ("first question", "second question"):
        done = lash_process(directory, "run", "--session", "demo", prompt)
        assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture
def stored(stored_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stored sessions' directory as the working directory."""
    monkeypatch.chdir(stored_dir)
    return stored_dir


def test_list_shows_sessions_from_an_earlier_process(stored: Path) -> None:
    """Sessions written by one process are listed by another."""
    result = lash(stored, "sessions", "list")
    assert result.exit_code == EXIT_OK
    assert "demo" in result.stdout and "2" in result.stdout
    listed = json.loads(lash(stored, "sessions", "list", "--json").stdout)
    assert listed[0]["session_id"] == "demo" and listed[0]["turn_count"] == 2


def test_show_prints_the_conversation(stored: Path) -> None:
    """`sessions show` prints facts, usage and every message."""
    result = lash(stored, "sessions", "show", "demo")
    assert result.exit_code == EXIT_OK
    out = result.stdout
    assert "session demo" in out and "2 turns" in out and "out tokens" in out
    assert out.index("first question") < out.index("echo: first question") < out.index("second question")


def test_export_json_has_every_node(stored: Path) -> None:
    """`sessions export --format json` holds every history node and the usage."""
    result = lash(stored, "sessions", "export", "demo", "--format", "json")
    data = json.loads(result.stdout)
    assert data["session_id"] == "demo" and data["turn_count"] == 2
    roles = [node["message"]["role"] for node in data["nodes"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert data["usage"]["usage"]["output_tokens"] > 0


def test_export_markdown_is_a_transcript(stored: Path) -> None:
    """`sessions export --format markdown` is a readable transcript."""
    result = lash(stored, "sessions", "export", "demo", "--format", "markdown")
    text = result.stdout
    assert text.startswith("# Session demo\n")
    assert "## User\n\nfirst question" in text and "## Assistant\n\necho: second question" in text


def test_delete_removes_the_session(workdir: Path) -> None:
    """`sessions delete` removes it; later commands no longer find it."""
    assert lash(workdir, "run", "--session", "gone", "x").exit_code == EXIT_OK
    assert lash(workdir, "run", "--session", "kept", "y").exit_code == EXIT_OK
    assert lash(workdir, "sessions", "delete", "gone").exit_code == EXIT_OK
    listed = json.loads(lash(workdir, "sessions", "list", "--json").stdout)
    assert [s["session_id"] for s in listed] == ["kept"]
    assert lash(workdir, "sessions", "show", "gone").exit_code == EXIT_STOPPED
    assert lash(workdir, "sessions", "delete", "gone").exit_code == EXIT_STOPPED


def test_unknown_session_exits_1_with_a_hint(workdir: Path) -> None:
    """Showing a session that does not exist says how to list them."""
    result = lash(workdir, "sessions", "show", "ghost")
    assert result.exit_code == EXIT_STOPPED
    assert "lash sessions list" in result.stderr


def test_trace_show_renders_a_real_trace(stored: Path) -> None:
    """`trace show` reads the session's JSONL trace and prints a timeline per turn."""
    result = lash(stored, "trace", "show", "demo")
    assert result.exit_code == EXIT_OK, result.output
    out = result.stdout
    assert out.count("turn ") >= 2
    assert "model call echo-1 via default" in out and "out tokens" in out
    assert "turn completed · assistant_message" in out


def test_trace_show_lists_tool_calls(workdir: Path) -> None:
    """Tool calls appear in the timeline with their duration and outcome."""
    (workdir / "a.txt").write_text("x\n", encoding="utf-8")
    assert lash(workdir, "run", "--session", "t", '/call read_file {"path": "a.txt"}').exit_code == 0
    out = lash(workdir, "trace", "show", "t").stdout
    assert "tool read_file" in out and "success" in out and "1 tool calls" in out


def test_trace_show_without_a_trace_exits_1(workdir: Path) -> None:
    """A session without a trace file exits 1."""
    assert lash(workdir, "trace", "show", "nothing").exit_code == EXIT_STOPPED


def test_trace_show_needs_a_jsonl_sink(workdir: Path) -> None:
    """Without a jsonl sink configured there is nothing to read: exit 2."""
    text = (workdir / "lash.toml").read_text(encoding="utf-8")
    (workdir / "lash.toml").write_text(
        "trace_sinks = []\n" + text.split("[[trace_sinks]]")[0], encoding="utf-8"
    )
    assert lash(workdir, "trace", "show", "demo").exit_code == EXIT_USAGE


def test_worker_serves_pending_input(workdir: Path) -> None:
    """`lash worker --until-idle` runs input submitted to the store, then exits."""

    async def submit() -> None:
        async with Runtime.from_config(workdir / "lash.toml", environ=_env(workdir)) as runtime:
            session = await runtime.session("queued")
            await session.submit("do this later")

    anyio.run(submit)
    result = lash(workdir, "worker", "--until-idle", "--poll-interval", "0.05")
    assert result.exit_code == EXIT_OK, result.output
    assert "1 turns served" in result.stderr
    assert "echo: do this later" in lash(workdir, "sessions", "show", "queued").stdout


def test_worker_refuses_a_non_durable_store(workdir: Path) -> None:
    """The worker needs a durable store."""
    (workdir / "lash.toml").write_text('[providers.default]\ntype = "echo"\n[store]\ntype = "memory"\n')
    result = lash(workdir, "worker", "--until-idle")
    assert result.exit_code == EXIT_USAGE and "durable store" in result.stderr


def test_doctor_passes_offline(workdir: Path) -> None:
    """`lash doctor` checks config, plugins, store and provider."""
    result = CliRunner().invoke(main, ["doctor"], env={**_env(workdir), "LASH_LOAD_PLUGINS": ONLY})
    assert result.exit_code == EXIT_OK, result.output
    out = result.stdout
    assert "✓ configuration" in out and "✓ plugin echo" in out and "✓ store sqlite" in out
    assert "not contacted" in out


def test_doctor_online_sends_a_request(workdir: Path) -> None:
    """`lash doctor --online` gets an answer from the provider."""
    result = CliRunner().invoke(
        main, ["doctor", "--online"], env={**_env(workdir), "LASH_LOAD_PLUGINS": ONLY}
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "answered" in result.stdout


def test_doctor_fails_on_a_bad_config(workdir: Path) -> None:
    """An invalid configuration fails the doctor and lists the key."""
    (workdir / "lash.toml").write_text('bogus = 1\n[providers.default]\ntype = "echo"\n', encoding="utf-8")
    result = lash(workdir, "doctor")
    assert result.exit_code == EXIT_STOPPED
    assert "bogus: unknown key" in result.stdout
