"""Confinement: every way out of the workspace is refused with ``permission_denied``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lash_tools import ToolsSettings, Workspace, WorkspaceTools

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


def denied(output: ToolCallOutput) -> str:
    """The message of a ``permission_denied`` / ``outside_workspace`` failure."""
    error = failure(output)
    assert error.failure_class is ToolFailureClass.PERMISSION_DENIED
    assert error.code == "outside_workspace"
    return error.message


async def test_dot_dot_escape_is_refused(tools: WorkspaceTools) -> None:
    """A relative path climbing out through '..' is refused, saying so."""
    message = denied(await tools.call("read_file", path="../secret.txt"))
    assert "'..'" in message and "../secret.txt" in message


async def test_dot_dot_escape_hidden_inside_a_path_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """'..' after a real directory still counts: the normalized path is what matters."""
    (root / "sub").mkdir()
    assert "'..'" in denied(await tools.call("read_file", path="sub/../../secret.txt"))
    assert "'..'" in denied(await tools.call("list_dir", path="sub/../.."))


async def test_dot_dot_that_stays_inside_is_allowed(tools: WorkspaceTools, root: Path) -> None:
    """'..' that does not leave the root is fine."""
    (root / "sub").mkdir()
    (root / "a.txt").write_text("a\n")
    assert value(await tools.call("read_file", path="sub/../a.txt")) == "1\ta"


async def test_absolute_path_outside_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """An absolute path elsewhere is refused, naming the workspace."""
    message = denied(await tools.call("read_file", path=str(root.parent / "secret.txt")))
    assert "absolute path" in message and "outside the workspace" in message


async def test_absolute_path_inside_is_allowed(tools: WorkspaceTools, root: Path) -> None:
    """An absolute path inside the root works like the relative one."""
    (root / "a.txt").write_text("a\n")
    assert value(await tools.call("read_file", path=str(root / "a.txt"))) == "1\ta"


async def test_symlinked_file_leading_outside_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """A link inside the workspace pointing at an outside file is refused, saying it is a link."""
    (root / "leak.txt").symlink_to(root.parent / "secret.txt")
    message = denied(await tools.call("read_file", path="leak.txt"))
    assert "symbolic link" in message


async def test_symlinked_directory_leading_outside_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """A path through a linked directory that leads outside is refused for every tool."""
    (root / "out").symlink_to(root.parent, target_is_directory=True)
    denied(await tools.call("read_file", path="out/secret.txt"))
    denied(await tools.call("list_dir", path="out"))
    denied(await tools.call("glob", pattern="*", path="out"))
    denied(await tools.call("grep", pattern="outside", path="out"))
    denied(await tools.call("write_file", path="out/planted.txt", content="x"))
    assert not (root.parent / "planted.txt").exists()


async def test_dangling_link_leading_outside_cannot_be_written(tools: WorkspaceTools, root: Path) -> None:
    """A dangling link whose target would be created outside the workspace is refused."""
    (root / "dangling.txt").symlink_to(root.parent / "created-outside.txt")
    message = denied(await tools.call("write_file", path="dangling.txt", content="x"))
    assert "symbolic link" in message
    assert not (root.parent / "created-outside.txt").exists()


async def test_symlink_inside_the_workspace_is_followed(tools: WorkspaceTools, root: Path) -> None:
    """A link whose target is inside the workspace is fine."""
    (root / "real.txt").write_text("real\n")
    (root / "alias.txt").symlink_to(root / "real.txt")
    assert value(await tools.call("read_file", path="alias.txt")) == "1\treal"


async def test_escaping_writes_and_edits_change_nothing(tools: WorkspaceTools, root: Path) -> None:
    """Refused writes and edits leave the outside file untouched."""
    secret = root.parent / "secret.txt"
    denied(await tools.call("write_file", path="../secret.txt", content="pwned"))
    denied(await tools.call("edit_file", path=str(secret), old_text="outside", new_text="pwned"))
    (root / "link.txt").symlink_to(secret)
    denied(await tools.call("write_file", path="link.txt", content="pwned"))
    assert secret.read_text() == "outside the workspace\n"


async def test_empty_and_nul_paths_are_invalid(tools: WorkspaceTools) -> None:
    """An empty path or one with a NUL byte is an invalid request, not an OS error."""
    assert failure(await tools.call("read_file", path="")).code == "empty_path"
    assert failure(await tools.call("read_file", path="a\x00b")).code == "invalid_path"


async def test_search_does_not_read_files_linked_from_outside(tools: WorkspaceTools, root: Path) -> None:
    """grep over the workspace skips a link to an outside file instead of searching it."""
    (root / "leak.txt").symlink_to(root.parent / "secret.txt")
    text = value(await tools.call("grep", pattern="outside"))
    assert "leak.txt:" not in text
    assert "no lines match" in text


def test_workspace_root_must_be_a_directory(tmp_path: Path) -> None:
    """A missing root fails construction with a clear message."""
    with pytest.raises(ValueError, match="not a directory"):
        WorkspaceTools(ToolsSettings(root=str(tmp_path / "missing")))


def test_root_given_through_a_link_is_resolved(tmp_path: Path) -> None:
    """A root reached through a symlink resolves to the real directory; paths under either spelling work."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    workspace = Workspace(str(tmp_path / "alias"))
    assert workspace.root == os.path.realpath(real)
    assert workspace.resolve(str(tmp_path / "alias" / "x.txt")).shown == "x.txt"
    assert workspace.resolve(str(real / "x.txt")).shown == "x.txt"
    assert workspace.resolve(".").shown == "."
