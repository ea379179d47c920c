"""The file tools: read_file, write_file, edit_file and list_dir, and their error results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lash_tools import ToolsSettings, WorkspaceTools

from lash_core.model.tools import (
    FailureOutcome,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools import ToolInvocation

pytestmark = pytest.mark.anyio

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def value(output: ToolCallOutput) -> Any:
    """The success value of ``output`` (fails the test otherwise)."""
    assert isinstance(output.outcome, SuccessOutcome), output
    return output.outcome.value


def failure(output: ToolCallOutput) -> ToolFailure:
    """The failure of ``output`` (fails the test otherwise)."""
    assert isinstance(output.outcome, FailureOutcome), output
    return output.outcome.failure


def small_tools(root: Path, **settings: Any) -> WorkspaceTools:
    """Tools on ``root`` with some settings changed."""
    return WorkspaceTools(ToolsSettings(root=str(root), **settings))


# --------------------------------------------------------------------------- read_file


async def test_read_numbers_lines(tools: WorkspaceTools, root: Path) -> None:
    """Lines come back prefixed with their 1-based numbers; CRLF endings are not shown."""
    (root / "a.txt").write_bytes(b"one\r\ntwo\nthree")
    assert value(await tools.call("read_file", path="a.txt")) == "1\tone\n2\ttwo\n3\tthree"


async def test_read_range_says_where_to_continue(tools: WorkspaceTools, root: Path) -> None:
    """offset/limit select a range; a note gives the total and the next offset."""
    (root / "a.txt").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    text = value(await tools.call("read_file", path="a.txt", offset=5, limit=3))
    assert text.splitlines() == [
        "5\tline 5",
        "6\tline 6",
        "7\tline 7",
        "[showing lines 5-7 of 20; continue with offset=8]",
    ]
    assert value(await tools.call("read_file", path="a.txt", offset=19)) == "19\tline 19\n20\tline 20"


async def test_read_clips_long_lines(root: Path) -> None:
    """A line over max_line_chars is clipped with a note of how much was cut."""
    (root / "a.txt").write_text("x" * 300 + "\nshort\n")
    text = value(await small_tools(root, max_line_chars=100).call("read_file", path="a.txt"))
    first, second = text.splitlines()
    assert first == "1\t" + "x" * 100 + "... [line clipped: 200 more characters]"
    assert second == "2\tshort"


async def test_read_output_is_capped_with_a_continuation(tools: WorkspaceTools, root: Path) -> None:
    """A big read stops at the output cap, says so, and the offset it gives continues it."""
    (root / "big.txt").write_text("".join(f"{n:05d} " + "y" * 90 + "\n" for n in range(1, 1001)))
    text = value(await tools.call("read_file", path="big.txt"))
    assert len(text.encode()) <= tools.settings.max_output_bytes
    assert len(text.splitlines()) <= tools.settings.max_output_lines
    note = text.splitlines()[-1]
    assert note.startswith("[output capped at") and "of 1000" in note
    next_offset = int(note.rsplit("offset=", 1)[1].rstrip("]"))
    last_shown = int(text.splitlines()[-2].split("\t")[0])
    assert next_offset == last_shown + 1
    more = value(await tools.call("read_file", path="big.txt", offset=next_offset, limit=1))
    assert more.startswith(f"{next_offset}\t{next_offset:05d} ")


async def test_read_empty_file(tools: WorkspaceTools, root: Path) -> None:
    """An empty file is a success saying it is empty."""
    (root / "empty.txt").write_text("")
    assert value(await tools.call("read_file", path="empty.txt")) == "[empty.txt is empty]"


async def test_read_offset_past_the_end(tools: WorkspaceTools, root: Path) -> None:
    """An offset past the last line is an invalid request giving the line count."""
    (root / "a.txt").write_text("a\nb\n")
    error = failure(await tools.call("read_file", path="a.txt", offset=3))
    assert error.code == "offset_out_of_range" and "2 lines" in error.message


async def test_read_directory_hints_list_dir(tools: WorkspaceTools, root: Path) -> None:
    """Reading a directory is refused with a hint to use list_dir."""
    (root / "sub").mkdir()
    error = failure(await tools.call("read_file", path="sub"))
    assert error.failure_class is ToolFailureClass.INVALID_REQUEST
    assert error.code == "is_a_directory" and "list_dir" in error.message


async def test_read_missing_file(tools: WorkspaceTools) -> None:
    """A missing file is a not_found failure naming it."""
    error = failure(await tools.call("read_file", path="nope/missing.txt"))
    assert error.code == "not_found" and "nope/missing.txt" in error.message


async def test_read_binary_with_nul_bytes(tools: WorkspaceTools, root: Path) -> None:
    """A file with NUL bytes is refused as binary."""
    (root / "blob.bin").write_bytes(b"abc\x00def")
    error = failure(await tools.call("read_file", path="blob.bin"))
    assert error.code == "binary_file" and "NUL" in error.message


async def test_read_undecodable_file(tools: WorkspaceTools, root: Path) -> None:
    """Invalid UTF-8 is refused as binary, with the offset of the bad byte."""
    (root / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    error = failure(await tools.call("read_file", path="latin1.txt"))
    assert error.code == "binary_file" and "offset 3" in error.message


async def test_read_oversize_file(root: Path) -> None:
    """A file over max_read_bytes is a resource_limit failure giving its size and the limit."""
    (root / "big.txt").write_text("z" * 2000)
    error = failure(await small_tools(root, max_read_bytes=1000).call("read_file", path="big.txt"))
    assert error.failure_class is ToolFailureClass.RESOURCE_LIMIT
    assert error.code == "file_too_large" and "2000 bytes" in error.message and "1000" in error.message


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their mode")
async def test_read_unreadable_file_chmod(tools: WorkspaceTools, root: Path) -> None:
    """A file without read permission is a permission_denied failure."""
    secret = root / "locked.txt"
    secret.write_text("no\n")
    secret.chmod(0)
    try:
        error = failure(await tools.call("read_file", path="locked.txt"))
    finally:
        secret.chmod(0o644)
    assert error.failure_class is ToolFailureClass.PERMISSION_DENIED
    assert error.code == "permission_denied"


async def test_read_permission_error_from_the_system(
    tools: WorkspaceTools, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OS PermissionError (simulated: tests may run as root) is a permission_denied result."""
    target = root / "locked.txt"
    target.write_text("no\n")
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == str(target):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    for name, args in [
        ("read_file", {}),
        ("write_file", {"content": "x"}),
        ("edit_file", {"old_text": "no", "new_text": "yes"}),
    ]:
        error = failure(await tools.call(name, path="locked.txt", **args))
        assert error.failure_class is ToolFailureClass.PERMISSION_DENIED, name
        assert error.code == "permission_denied" and "locked.txt" in error.message


# --------------------------------------------------------------------------- write_file


async def test_write_creates_parents_and_reports_bytes(tools: WorkspaceTools, root: Path) -> None:
    """write_file creates parent directories and reports UTF-8 bytes written."""
    result = value(await tools.call("write_file", path="a/b/c.txt", content="héllo\n"))
    assert result == {"path": "a/b/c.txt", "bytes_written": 7, "created": True}
    assert (root / "a/b/c.txt").read_text() == "héllo\n"


async def test_write_overwrites(tools: WorkspaceTools, root: Path) -> None:
    """An existing file is replaced and reported as not created."""
    (root / "a.txt").write_text("old old old\n")
    result = value(await tools.call("write_file", path="a.txt", content="new"))
    assert result == {"path": "a.txt", "bytes_written": 3, "created": False}
    assert (root / "a.txt").read_text() == "new"


async def test_write_to_a_directory_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """A directory path cannot be written."""
    (root / "sub").mkdir()
    assert failure(await tools.call("write_file", path="sub", content="x")).code == "is_a_directory"


async def test_write_below_a_file_is_refused(tools: WorkspaceTools, root: Path) -> None:
    """A parent that is a file (a directory is expected) gives not_a_directory."""
    (root / "plain").write_text("file\n")
    error = failure(await tools.call("write_file", path="plain/child.txt", content="x"))
    assert error.code == "not_a_directory"


# --------------------------------------------------------------------------- edit_file


async def test_edit_replaces_and_reports_line_and_diff(tools: WorkspaceTools, root: Path) -> None:
    """The one match is replaced; the first changed line and a unified diff come back."""
    (root / "code.py").write_text("".join(f"line{n}\n" for n in range(1, 11)))
    result = value(
        await tools.call("edit_file", path="code.py", old_text="line6\nline7\n", new_text="line6\nSEVEN\n")
    )
    assert result["first_changed_line"] == 7
    assert (root / "code.py").read_text().splitlines()[6] == "SEVEN"
    diff = result["diff"].splitlines()
    assert diff[:3] == ["--- a/code.py", "+++ b/code.py", "@@ -4,7 +4,7 @@"]
    assert "-line7" in diff and "+SEVEN" in diff and " line6" in diff


async def test_edit_without_a_match_is_an_error(tools: WorkspaceTools, root: Path) -> None:
    """Zero matches is an invalid request saying the text was not found; the file is unchanged."""
    (root / "a.txt").write_text("alpha\n")
    error = failure(await tools.call("edit_file", path="a.txt", old_text="beta", new_text="gamma"))
    assert error.failure_class is ToolFailureClass.INVALID_REQUEST
    assert error.code == "no_match" and "not found" in error.message
    assert (root / "a.txt").read_text() == "alpha\n"


async def test_edit_with_several_matches_says_how_many(tools: WorkspaceTools, root: Path) -> None:
    """Several matches is an error giving the count and the lines; nothing is changed."""
    (root / "a.txt").write_text("x = 1\ny = 2\nx = 1\nx = 1\n")
    error = failure(await tools.call("edit_file", path="a.txt", old_text="x = 1", new_text="x = 9"))
    assert error.code == "ambiguous_match"
    assert "3 times" in error.message and "1, 3, 4" in error.message
    assert (root / "a.txt").read_text() == "x = 1\ny = 2\nx = 1\nx = 1\n"


async def test_edit_hints_at_crlf_line_endings(tools: WorkspaceTools, root: Path) -> None:
    """old_text with LF endings against a CRLF file gets a hint about line endings."""
    (root / "dos.txt").write_bytes(b"one\r\ntwo\r\n")
    error = failure(await tools.call("edit_file", path="dos.txt", old_text="one\ntwo", new_text="x"))
    assert error.code == "no_match" and "CRLF" in error.message


async def test_edit_refuses_empty_and_identical_text(tools: WorkspaceTools, root: Path) -> None:
    """Empty old_text and a no-op replacement are invalid requests."""
    (root / "a.txt").write_text("a\n")
    assert (
        failure(await tools.call("edit_file", path="a.txt", old_text="", new_text="b")).code
        == "empty_old_text"
    )
    assert (
        failure(await tools.call("edit_file", path="a.txt", old_text="a", new_text="a")).code == "no_change"
    )


async def test_edit_binary_missing_and_oversize_files(root: Path) -> None:
    """edit_file refuses what read_file refuses, with the same codes."""
    tools = small_tools(root, max_read_bytes=100)
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (root / "big.txt").write_text("b" * 200)
    edit = {"old_text": "b", "new_text": "c"}
    assert failure(await tools.call("edit_file", path="blob.bin", **edit)).code == "binary_file"
    assert failure(await tools.call("edit_file", path="gone.txt", **edit)).code == "not_found"
    assert failure(await tools.call("edit_file", path="big.txt", **edit)).code == "file_too_large"


# --------------------------------------------------------------------------- list_dir


async def test_list_dir_shows_type_and_size_sorted(tools: WorkspaceTools, root: Path) -> None:
    """Entries are sorted by name with their type and size; directories end in '/'."""
    (root / "b.txt").write_text("12345")
    (root / "a_dir").mkdir()
    (root / "c.lnk").symlink_to(root / "b.txt")
    lines = value(await tools.call("list_dir")).splitlines()
    assert lines[0] == "./ (3 entries)"
    assert lines[1].split() == ["dir", "-", "a_dir/"]
    assert lines[2].split() == ["file", "5", "b.txt"]
    assert lines[3].split()[:3] == ["link", "-", "c.lnk"]


async def test_list_dir_is_capped(root: Path) -> None:
    """More entries than max_results are cut with a note giving the total."""
    for n in range(12):
        (root / f"f{n:02d}").write_text("")
    lines = value(await small_tools(root, max_results=5).call("list_dir", path=".")).splitlines()
    assert [line.split()[-1] for line in lines[1:6]] == ["f00", "f01", "f02", "f03", "f04"]
    assert lines[-1].startswith("[showing 5 of 12 entries")


async def test_list_dir_of_a_file_or_missing_path(tools: WorkspaceTools, root: Path) -> None:
    """A file gets a hint to use read_file; a missing path is not_found."""
    (root / "a.txt").write_text("a")
    error = failure(await tools.call("list_dir", path="a.txt"))
    assert error.code == "not_a_directory" and "read_file" in error.message
    assert failure(await tools.call("list_dir", path="missing")).code == "not_found"


# --------------------------------------------------------------------------- provider


async def test_arguments_are_validated_when_called_directly(tools: WorkspaceTools) -> None:
    """Bad or unknown arguments and unknown tools are invalid requests, not exceptions."""
    assert failure(await tools.call("read_file")).code == "invalid_arguments"
    assert failure(await tools.call("read_file", path="a", offset=0)).code == "invalid_arguments"
    assert failure(await tools.call("read_file", path="a", colour="red")).code == "invalid_arguments"
    assert failure(await tools.call("shell", command="ls")).code == "unknown_tool"
    output = await tools.execute(ToolInvocation("c1", "nope", {}), None)
    assert failure(output).code == "unknown_tool"
