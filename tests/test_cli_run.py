"""`lash run`: streamed prose, tool calls, JSON mode and exit codes (echo provider, SQLite store)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from lash_core.cli import EXIT_HOST, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, main
from lash_core.cli.render import TurnRenderer
from lash_core.model import AssistantProseDelta, RetryStatus, TurnActivity
from lash_core.providers import RATE_LIMIT_WAIT
from lash_core.store.leases import LeaseOwner

ECHO_CONFIG = """\
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


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with an echo + SQLite lash.toml."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lash.toml").write_text(
        ECHO_CONFIG.format(db=tmp_path / "sessions.db", traces=tmp_path / "traces"), encoding="utf-8"
    )
    return tmp_path


def lash(workdir: Path, *args: str, input: str | None = None) -> Result:
    """Invoke `lash` in-process with a clean environment."""
    env = {
        "LASH_DATA_DIR": str(workdir / "data"),
        "LASH_CONFIG": None,
        "OPENAI_API_KEY": None,
        "ANTHROPIC_API_KEY": None,
        "NO_COLOR": "1",
    }
    return CliRunner().invoke(main, list(args), env=env, input=input)


def test_run_streams_the_answer_and_ends_with_outcome_and_usage(workdir: Path) -> None:
    """Prose goes to stdout; the outcome and token usage end the run on stderr; exit 0."""
    result = lash(workdir, "run", "hello there")
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.strip() == "echo: hello there"
    assert "finished" in result.stderr and "in," in result.stderr and "out tokens" in result.stderr


def test_run_continues_a_named_session(workdir: Path) -> None:
    """--session reuses the session: the second turn sees the first."""
    assert lash(workdir, "run", "--session", "s1", "one").exit_code == 0
    result = lash(workdir, "run", "--session", "s1", "--json", "two")
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["session_id"] == "s1"
    listed = json.loads(lash(workdir, "sessions", "list", "--json").stdout)
    assert [(s["session_id"], s["turn_count"]) for s in listed] == [("s1", 2)]


def test_json_mode_prints_activities_then_the_result(workdir: Path) -> None:
    """--json prints one JSON activity per line and a final result line."""
    result = lash(workdir, "run", "--json", "--session", "j", "hi")
    assert result.exit_code == EXIT_OK
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [line["event"]["type"] for line in lines[:-1]]
    assert kinds[0] == "model_request_started" and "assistant_prose_delta" in kinds and "usage" in kinds
    final = lines[-1]
    assert final["type"] == "result"
    assert final["outcome"] == {
        "type": "finished",
        "finish": {"type": "assistant_message", "text": "echo: hi"},
    }
    assert final["usage"]["output_tokens"] > 0 and final["exit_code"] == 0


def test_prompt_from_stdin(workdir: Path) -> None:
    """`lash run -` reads the prompt from stdin."""
    result = lash(workdir, "run", "-", input="from stdin\n")
    assert result.exit_code == 0 and "echo: from stdin" in result.stdout


def test_explicit_config_option(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """--config points at a file elsewhere."""
    other = tmp_path_factory.mktemp("elsewhere") / "conf.toml"
    other.write_text(
        '[model]\nid = "e"\n[providers.default]\ntype = "echo"\nsettings = { prefix = "E> " }\n'
        '[store]\ntype = "memory"\n',
        encoding="utf-8",
    )
    result = lash(workdir, "run", "--config", str(other), "x")
    assert result.exit_code == 0 and result.stdout.strip() == "E> x"


def test_tool_calls_show_name_arguments_result_and_duration(workdir: Path) -> None:
    """A tool call is shown with its arguments, a result summary and its duration."""
    (workdir / "notes.txt").write_text("a\nb\n", encoding="utf-8")
    result = lash(workdir, "run", '/call read_file {"path": "notes.txt"}')
    assert result.exit_code == EXIT_OK, result.output
    assert '▸ read_file(path="notes.txt")' in result.stderr
    assert "✓ read_file →" in result.stderr and " ms" in result.stderr


def test_empty_prompt_is_a_usage_error(workdir: Path) -> None:
    """An empty prompt exits 2."""
    assert lash(workdir, "run", "  ").exit_code == EXIT_USAGE


def test_config_error_exits_2_naming_the_key(workdir: Path) -> None:
    """A bad configuration exits 2 and names the key."""
    (workdir / "lash.toml").write_text(
        'max_turns = "x"\n[providers.default]\ntype = "echo"\n', encoding="utf-8"
    )
    result = lash(workdir, "run", "hi")
    assert result.exit_code == EXIT_USAGE
    assert "max_turns: expected an integer, found a string" in result.stderr


def test_a_stopped_turn_exits_1(workdir: Path) -> None:
    """A provider that fails stops the turn: exit 1, with the turn's issue shown."""
    (workdir / "lash.toml").write_text(
        '[model]\nid = "m"\n[store]\ntype = "memory"\n[providers.default]\ntype = "llamacpp"\n'
        f'settings = {{ model_path = "{workdir / "missing.gguf"}" }}\n',
        encoding="utf-8",
    )
    result = lash(workdir, "run", "--json", "hi")
    assert result.exit_code == EXIT_STOPPED, result.output
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["outcome"] == {"type": "stopped", "stop": {"type": "provider_error"}}
    human = lash(workdir, "run", "hi")
    assert human.exit_code == EXIT_STOPPED
    assert "stopped: provider error" in human.stderr and "missing.gguf" in human.stderr


def test_a_busy_session_is_a_host_error(workdir: Path) -> None:
    """A session whose lease another worker holds exits 3."""
    from lash_store_sqlite.settings import SqliteStoreSettings
    from lash_store_sqlite.store import SqliteStore

    assert lash(workdir, "run", "--session", "busy", "first").exit_code == 0

    async def hold_lease() -> None:
        store = SqliteStore(SqliteStoreSettings(path=str(workdir / "sessions.db")))
        await store.open()
        try:
            await store.try_claim_lease("busy", LeaseOwner("elsewhere", "i1"), ttl_ms=600_000)
        finally:
            await store.close()

    anyio.run(hold_lease)
    result = lash(workdir, "run", "--session", "busy", "second")
    assert result.exit_code == EXIT_HOST
    assert "already running a turn" in result.stderr and "elsewhere" in result.stderr


def test_renderer_writes_prose_as_it_arrives() -> None:
    """Each prose delta is written immediately, before the turn ends."""
    buffer = io.StringIO()
    renderer = TurnRenderer(Console(file=buffer, no_color=True), Console(file=io.StringIO()))
    seen: list[str] = []
    for piece in ("one ", "two"):
        renderer.show(TurnActivity("a", "c", AssistantProseDelta(piece)))
        seen.append(buffer.getvalue())
    assert seen == ["one ", "one two"]


def test_renderer_tells_a_rate_limit_wait_from_a_retry() -> None:
    """A wait for the provider's own rate limit is shown as such; a real retry as a retry."""
    err = io.StringIO()
    renderer = TurnRenderer(Console(file=io.StringIO()), Console(file=err, no_color=True, width=200))
    limit = f"{RATE_LIMIT_WAIT}: requests_per_window = 2 reached"
    renderer.show(TurnActivity("a", "c", RetryStatus(4.0, 1, 4, limit)))
    renderer.show(TurnActivity("a", "c", RetryStatus(2.0, 2, 4, "http 503")))
    lines = err.getvalue().splitlines()
    assert lines == [
        "waiting 4.0 s for the provider's rate limit: requests_per_window = 2 reached",
        "retrying in 2.0 s (attempt 2/4): http 503",
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consoles colour a terminal, but not a pipe, and never with NO_COLOR set."""
    from lash_core.cli._common import make_console

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout", _Terminal())
    assert make_console().no_color is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert make_console().no_color is True
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert make_console().no_color is True
