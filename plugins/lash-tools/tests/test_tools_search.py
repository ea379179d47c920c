"""glob and grep: matching, exclusions, caps and error results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lash_tools import ToolsSettings, WorkspaceTools
from lash_tools.search import glob_regex

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


@pytest.fixture
def tree(root: Path) -> Path:
    """A small project with hidden, .git and node_modules directories."""
    files = {
        "README.md": "# demo\nTODO: write docs\n",
        "src/app.py": "def main():\n    return 42  # TODO tidy\n",
        "src/util/helpers.py": "def helper():\n    pass\n",
        "src/util/data.json": '{"todo": false}\n',
        ".github/ci.yml": "TODO hidden\n",
        ".env": "TODO=secret-ish\n",
        ".git/config": "TODO git\n",
        "node_modules/pkg/index.js": "// TODO vendored\n",
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "logo.png").write_bytes(b"\x89PNG\x00\x00TODO")
    return root


def test_glob_regex_semantics() -> None:
    """``*`` stays in a component, ``**`` spans directories (or none), braces and classes work."""
    assert glob_regex("*.py").fullmatch("a.py")
    assert not glob_regex("*.py").fullmatch("src/a.py")
    assert glob_regex("**/*.py").fullmatch("a.py")
    assert glob_regex("**/*.py").fullmatch("src/deep/a.py")
    assert glob_regex("src/**").fullmatch("src/deep/a.py")
    assert glob_regex("src/**/a.py").fullmatch("src/a.py")
    assert glob_regex("*.{ts,tsx}").fullmatch("x.tsx")
    assert glob_regex("file[0-9].txt").fullmatch("file7.txt")
    assert not glob_regex("file[!0-9].txt").fullmatch("file7.txt")
    assert glob_regex("a?c").fullmatch("abc") and not glob_regex("a?c").fullmatch("a/c")
    assert glob_regex("a+b(1).txt").fullmatch("a+b(1).txt")


async def test_glob_finds_files_and_skips_hidden_git_and_node_modules(
    tools: WorkspaceTools, tree: Path
) -> None:
    """Matches are sorted paths relative to the root; excluded directories are not searched."""
    assert value(await tools.call("glob", pattern="**/*.py")).splitlines() == [
        "src/app.py",
        "src/util/helpers.py",
    ]
    everything = value(await tools.call("glob", pattern="**")).splitlines()
    assert "src/util/data.json" in everything
    assert not any(p.startswith((".github/", ".git/", "node_modules/")) for p in everything)


async def test_glob_under_a_path(tools: WorkspaceTools, tree: Path) -> None:
    """``path`` narrows the search (even into a hidden directory); results stay root-relative."""
    assert value(await tools.call("glob", pattern="*.json", path="src/util")) == "src/util/data.json"
    assert value(await tools.call("glob", pattern="*.yml", path=".github")) == ".github/ci.yml"


async def test_glob_without_matches_says_so(tools: WorkspaceTools, tree: Path) -> None:
    """No match is a success explaining what was searched."""
    text = value(await tools.call("glob", pattern="*.rs"))
    assert text.startswith("no files match '*.rs'")


async def test_glob_is_capped_with_truncation_info(root: Path) -> None:
    """More matches than max_results: the first ones, sorted, and a note with the total."""
    for n in range(30):
        (root / f"f{n:02d}.txt").write_text("")
    tools = WorkspaceTools(ToolsSettings(root=str(root), max_results=10))
    lines = value(await tools.call("glob", pattern="*.txt")).splitlines()
    assert lines[:10] == [f"f{n:02d}.txt" for n in range(10)]
    assert lines[10] == "[showing 10 of 30 matching files; narrow the pattern or the path]"


async def test_glob_scan_limit_is_reported(root: Path) -> None:
    """A walk stopped by max_scan_files says results may be incomplete."""
    for n in range(10):
        (root / f"f{n}.txt").write_text("")
    tools = WorkspaceTools(ToolsSettings(root=str(root), max_scan_files=4))
    text = value(await tools.call("glob", pattern="*.txt"))
    assert len(text.splitlines()) == 5 and "max_scan_files" in text


async def test_glob_bad_patterns_and_paths(tools: WorkspaceTools, tree: Path) -> None:
    """Absolute or '..' patterns, a file as the directory and a missing path are invalid requests."""
    assert failure(await tools.call("glob", pattern="/etc/*")).code == "invalid_glob"
    assert failure(await tools.call("glob", pattern="../*")).code == "invalid_glob"
    assert failure(await tools.call("glob", pattern="*", path="README.md")).code == "not_a_directory"
    assert failure(await tools.call("glob", pattern="*", path="missing")).code == "not_found"


async def test_grep_reports_file_line_text(tools: WorkspaceTools, tree: Path) -> None:
    """Results are ``file:line: text`` in walk order; binary and excluded files are skipped."""
    lines = value(await tools.call("grep", pattern=r"TODO\b")).splitlines()
    assert lines == [
        "README.md:2: TODO: write docs",
        "src/app.py:2:     return 42  # TODO tidy",
        "[1 file skipped: binary, too large, unreadable or linked outside the workspace]",
    ]


async def test_grep_glob_filter_and_single_file(tools: WorkspaceTools, tree: Path) -> None:
    """``glob`` limits the files (by name without '/', by path with); ``path`` may be a file."""
    assert (
        value(await tools.call("grep", pattern="def", glob="helpers.py"))
        == "src/util/helpers.py:1: def helper():"
    )
    assert value(await tools.call("grep", pattern="def", glob="src/*.py")) == "src/app.py:1: def main():"
    assert value(await tools.call("grep", pattern="todo", path="src/util/data.json")) == (
        'src/util/data.json:1: {"todo": false}'
    )


async def test_grep_invalid_regex_is_a_clear_error(tools: WorkspaceTools, tree: Path) -> None:
    """An invalid regular expression is an invalid request quoting the compiler's reason."""
    error = failure(await tools.call("grep", pattern="(unclosed"))
    assert error.failure_class is ToolFailureClass.INVALID_REQUEST
    assert error.code == "invalid_regex" and "missing )" in error.message


async def test_grep_without_matches(tools: WorkspaceTools, tree: Path) -> None:
    """No matching line is a success saying so."""
    assert value(await tools.call("grep", pattern="nothing-like-this")).startswith("no lines match")


async def test_grep_is_capped(root: Path) -> None:
    """More matching lines than max_results: the first ones and a note that more exist."""
    (root / "many.txt").write_text("hit\n" * 50)
    tools = WorkspaceTools(ToolsSettings(root=str(root), max_results=7))
    lines = value(await tools.call("grep", pattern="hit")).splitlines()
    assert lines[:7] == [f"many.txt:{n}: hit" for n in range(1, 8)]
    assert lines[7].startswith("[results capped at 7 matching lines; more exist")


async def test_grep_output_bytes_are_capped(root: Path) -> None:
    """Long matching lines are clipped and the result stays within max_output_bytes."""
    (root / "wide.txt").write_text(("match " + "w" * 1000 + "\n") * 100)
    tools = WorkspaceTools(ToolsSettings(root=str(root), max_output_bytes=4096))
    text = value(await tools.call("grep", pattern="match"))
    assert len(text.encode()) <= 4096
    assert "[line clipped:" in text and "[results capped at" in text


async def test_grep_missing_path(tools: WorkspaceTools) -> None:
    """A missing search path is not_found."""
    assert failure(await tools.call("grep", pattern="x", path="missing")).code == "not_found"


async def test_hidden_files_need_a_dot_pattern(tools: WorkspaceTools, tree: Path) -> None:
    """Hidden files are found only by a pattern whose last component starts with '.'."""
    assert ".env" not in value(await tools.call("glob", pattern="*")).splitlines()
    assert value(await tools.call("glob", pattern=".env")) == ".env"
    assert value(await tools.call("grep", pattern="TODO", glob=".env")) == ".env:1: TODO=secret-ish"
