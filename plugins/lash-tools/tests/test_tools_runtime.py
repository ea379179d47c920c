"""End to end: the tools in real runtime turns, the entry-point plugin, and the settings."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from lash_tools import FILE_TOOLS, ToolsSettings, WorkspaceTools
from lash_tools.settings import ENV_SHELL, ENV_WORKSPACE

from lash_core import Runtime
from lash_core.config import structure_settings
from lash_core.model import FailureOutcome, PartKind, SuccessOutcome
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

ECHO_CONFIG = {"model": {"id": "echo-model"}, "providers": {"default": {"type": "echo"}}}


@pytest.mark.anyio
async def test_scripted_model_writes_reads_and_edits_a_file(root: Path) -> None:
    """write_file, read_file, edit_file in three model rounds; the file on disk ends up edited."""
    provider = ScriptedProvider(
        [
            reply_tool_calls(
                call(
                    "write_file",
                    {"path": "notes/todo.md", "content": "# Todo\n- buy milk\n- call Bob\n"},
                    call_id="w",
                )
            ),
            reply_tool_calls(call("read_file", {"path": "notes/todo.md"}, call_id="r")),
            reply_tool_calls(
                call(
                    "edit_file",
                    {"path": "notes/todo.md", "old_text": "- call Bob", "new_text": "- call Alice"},
                    call_id="e",
                )
            ),
            reply_text("Done: the list now says to call Alice."),
        ]
    )
    async with scripted_runtime(provider, tools=[WorkspaceTools(ToolsSettings(root=str(root)))]) as runtime:
        session = await runtime.session("workspace-e2e")
        result = await session.turn("Fix my todo list").run()

    assert (root / "notes/todo.md").read_text() == "# Todo\n- buy milk\n- call Alice\n"
    assert [record.tool for record in result.tool_calls] == ["write_file", "read_file", "edit_file"]
    values = []
    for record in result.tool_calls:
        assert isinstance(record.output.outcome, SuccessOutcome), record.output
        values.append(record.output.outcome.value)
    write, read, edit = values
    assert write == {"path": "notes/todo.md", "bytes_written": 29, "created": True}
    assert read == "1\t# Todo\n2\t- buy milk\n3\t- call Bob"
    assert edit["first_changed_line"] == 3 and "+- call Alice" in edit["diff"]
    assert result.assistant_output.raw_text == "Done: the list now says to call Alice."

    offered = {tool.name for tool in provider.requests[0].tools}
    assert offered == set(FILE_TOOLS)
    seen = [
        part.content for part in provider.requests[2].messages[-1].parts if part.kind is PartKind.TOOL_RESULT
    ]
    assert seen == ["1\t# Todo\n2\t- buy milk\n3\t- call Bob"]


@pytest.mark.anyio
async def test_model_sees_a_refused_escape_as_an_error_result(root: Path) -> None:
    """An escaping path through the runtime comes back to the model as a permission_denied error."""
    provider = ScriptedProvider(
        [reply_tool_calls(call("read_file", {"path": "../secret.txt"})), reply_text("I may not read that.")]
    )
    async with scripted_runtime(provider, tools=[WorkspaceTools(ToolsSettings(root=str(root)))]) as runtime:
        result = await (await runtime.session("escape")).turn("read the secret").run()
    (record,) = result.tool_calls
    assert isinstance(record.output.outcome, FailureOutcome)
    assert record.output.outcome.failure.failure_class.value == "permission_denied"
    (part,) = [p for p in provider.requests[1].messages[-1].parts if p.kind is PartKind.TOOL_RESULT]
    assert part.content.startswith("error [outside_workspace]: the path '../secret.txt' leaves the workspace")


@pytest.fixture
def plugin_env(monkeypatch: pytest.MonkeyPatch, root: Path) -> pytest.MonkeyPatch:
    """Entry points load normally; the workspace comes from LASH_WORKSPACE; the shell is off."""
    for name in ("LASH_LOAD_PLUGINS", "LASH_DISABLE_PLUGINS", ENV_SHELL):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_WORKSPACE, str(root))
    return monkeypatch


@pytest.mark.anyio
async def test_entry_point_plugin_registers_the_file_tools(root: Path) -> None:
    """The installed ``tools`` entry point registers the file tools on the runtime's workspace, shell off."""
    async with Runtime({**ECHO_CONFIG, "workspace": str(root)}) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
        assert report["tools"]["distribution"] == "lash-tools"
        assert report["tools"]["registered"] == {"tools": sorted(FILE_TOOLS)}
        assert "shell" not in runtime.tools
        args = json.dumps({"path": "hello.txt", "content": "hi from echo\n"})
        result = await (await runtime.session("entry-point")).turn(f"/call write_file {args}").run()
    assert (root / "hello.txt").read_text() == "hi from echo\n"
    assert "bytes_written" in result.assistant_output.raw_text


@pytest.mark.anyio
async def test_entry_point_plugin_enables_the_shell_from_its_settings(root: Path) -> None:
    """``[plugins.tools] shell = true`` adds the shell tool, running in the workspace root."""
    config = {**ECHO_CONFIG, "workspace": str(root), "plugins": {"tools": {"shell": True}}}
    async with Runtime(config) as runtime:
        assert "shell" in runtime.tools
        args = json.dumps({"command": "pwd"})
        result = await (await runtime.session("entry-shell")).turn(f"/call shell {args}").run()
    assert str(await anyio.Path(root).resolve()) in result.assistant_output.raw_text


def test_settings_from_the_environment(tmp_path: Path) -> None:
    """from_env reads the root and the shell switch; everything else keeps its default."""
    assert ToolsSettings.from_env({}) == ToolsSettings()
    assert ToolsSettings.from_env({ENV_WORKSPACE: str(tmp_path), ENV_SHELL: "1"}) == ToolsSettings(
        root=str(tmp_path), shell=True
    )
    assert ToolsSettings.from_env({ENV_SHELL: "true"}).shell
    assert not ToolsSettings.from_env({ENV_SHELL: "0"}).shell
    assert ToolsSettings.from_env({ENV_WORKSPACE: "  "}).root == "."


def test_settings_structure_from_config() -> None:
    """The settings class structures from a config table, with key paths in its problems."""
    settings, problems = structure_settings(
        {"root": "/srv", "shell": True, "max_results": 50}, ToolsSettings, "t"
    )
    assert problems == [] and settings == ToolsSettings(root="/srv", shell=True, max_results=50)
    _, problems = structure_settings({"max_result": 1}, ToolsSettings, "tools.settings")
    assert problems and "tools.settings.max_result" in problems[0]
    _, problems = structure_settings({"default_shell_timeout_s": 900}, ToolsSettings, "tools.settings")
    assert problems and "exceeds max_shell_timeout_s" in problems[0]
