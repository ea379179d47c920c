"""The file tools: ``read_file``, ``write_file``, ``edit_file`` and ``list_dir``.

These are blocking functions; the provider runs them in a worker thread. Each returns the
tool's success value or raises a :class:`~lash_tools.workspace.ToolError`.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

from lash_tools.settings import ToolsSettings
from lash_tools.workspace import (
    OutputBuilder,
    Target,
    ToolError,
    Workspace,
    clip_line,
    decode_text,
    os_error,
    read_bytes,
    split_lines,
)

__all__ = ["DIFF_MAX_LINES", "edit_file", "list_dir", "read_file", "write_file"]

DIFF_MAX_LINES = 80
"""An ``edit_file`` diff longer than this is cut, with a note."""

_DIFF_CONTEXT = 3
_MAX_MATCH_LINES_SHOWN = 10
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")
_WRITE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def read_file(ws: Workspace, settings: ToolsSettings, path: str, offset: int = 1, limit: int = 2000) -> str:
    """Lines ``offset`` .. ``offset + limit - 1`` of a text file, each prefixed by its number.

    Long lines are clipped at ``max_line_chars``; the result is capped at
    ``max_output_bytes`` / ``max_output_lines`` and ends with a note saying where to
    continue when it does not reach the end of the file.
    """
    if offset < 1:
        raise ToolError.invalid(
            "invalid_offset", f"offset must be 1 or more (lines are numbered from 1), got {offset}"
        )
    if limit < 1:
        raise ToolError.invalid("invalid_limit", f"limit must be 1 or more, got {limit}")
    target = ws.resolve(path)
    lines = split_lines(decode_text(read_bytes(target, settings.max_read_bytes), target.shown))
    total = len(lines)
    if total == 0:
        return f"[{target.shown} is empty]"
    if offset > total:
        raise ToolError.invalid(
            "offset_out_of_range",
            f"offset {offset} is past the end of {target.shown!r}, which has {total} line{_s(total)}",
        )
    end = min(total, offset - 1 + limit)
    out = OutputBuilder(settings.max_output_bytes, settings.max_output_lines)
    # Every single line fits the byte budget, so a read always makes progress.
    max_chars = min(settings.max_line_chars, out.max_bytes // 4 - 64)
    width = len(str(end))
    last = offset - 1
    for number in range(offset, end + 1):
        if not out.add(f"{number:>{width}}\t{clip_line(lines[number - 1], max_chars)}"):
            break
        last = number
    if last < end:
        note = (
            f"[output capped at {settings.max_output_bytes} bytes / {settings.max_output_lines} lines: "
            f"showing lines {offset}-{last} of {total}; continue with offset={last + 1}]"
        )
    elif end < total:
        note = f"[showing lines {offset}-{end} of {total}; continue with offset={end + 1}]"
    else:
        note = ""
    return out.text(note)


def write_file(ws: Workspace, settings: ToolsSettings, path: str, content: str) -> dict[str, Any]:
    """Create or overwrite a file with ``content`` (UTF-8), creating missing parent directories.

    Returns ``{"path", "bytes_written", "created"}``.
    """
    target = ws.resolve(path)
    if os.path.isdir(target.real):
        raise ToolError.invalid("is_a_directory", f"{target.shown!r} is a directory; give a file path")
    created = not os.path.lexists(target.real)
    if not created and not os.path.isfile(target.real):
        raise ToolError.invalid("not_a_regular_file", f"{target.shown!r} exists and is not a regular file")
    data = _encode(content, "content")
    _make_parents(target)
    _write(target, data, "write")
    return {"path": target.shown, "bytes_written": len(data), "created": created}


def edit_file(
    ws: Workspace, settings: ToolsSettings, path: str, old_text: str, new_text: str
) -> dict[str, Any]:
    """Replace the one exact occurrence of ``old_text`` in a text file with ``new_text``.

    Zero or several occurrences are an error saying which (and how many, at which
    lines). Returns ``{"path", "first_changed_line", "diff"}`` with a short unified diff.
    """
    if not old_text:
        raise ToolError.invalid(
            "empty_old_text", "old_text is empty; give the exact text to replace (write_file creates files)"
        )
    if old_text == new_text:
        raise ToolError.invalid("no_change", "old_text and new_text are identical; nothing would change")
    target = ws.resolve(path)
    text = decode_text(read_bytes(target, settings.max_read_bytes, "edit"), target.shown)
    count = text.count(old_text)
    if count == 0:
        raise ToolError.invalid("no_match", _no_match_message(text, old_text, target.shown))
    if count > 1:
        lines = _match_lines(text, old_text)
        shown = ", ".join(str(n) for n in lines[:_MAX_MATCH_LINES_SHOWN])
        more = ", ..." if len(lines) > _MAX_MATCH_LINES_SHOWN else ""
        raise ToolError.invalid(
            "ambiguous_match",
            f"old_text matches {count} times in {target.shown!r} (starting at lines {shown}{more}); "
            "include more surrounding text in old_text so that it matches exactly once",
        )
    index = text.index(old_text)
    updated = text[:index] + new_text + text[index + len(old_text) :]
    _write(target, _encode(updated, "new_text"), "edit")
    common = _common_prefix(old_text, new_text)
    first_changed = text.count("\n", 0, index + common) + 1
    return {
        "path": target.shown,
        "first_changed_line": first_changed,
        "diff": _diff(text, updated, index, old_text, new_text, target.shown),
    }


def list_dir(ws: Workspace, settings: ToolsSettings, path: str = ".") -> str:
    """The entries of a directory, sorted by name, one per line: type, size in bytes, name.

    Directories end in ``/``; symbolic links show their target. At most ``max_results``
    entries are shown, with a note when there are more.
    """
    target = ws.resolve(path)
    try:
        with os.scandir(target.real) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except NotADirectoryError:
        raise ToolError.invalid(
            "not_a_directory", f"{target.shown!r} is a file, not a directory; use read_file to read it"
        ) from None
    except OSError as exc:
        raise os_error(exc, target.shown, "list") from None
    total = len(entries)
    if total == 0:
        return f"{target.shown}/ is empty"
    out = OutputBuilder(settings.max_output_bytes, settings.max_output_lines)
    out.add(f"{target.shown}/ ({total} entr{'y' if total == 1 else 'ies'})")
    shown = out.extend(_entry_line(entry) for entry in entries[: settings.max_results])
    note = ""
    if shown < total:
        note = f"[showing {shown} of {total} entries; use glob with a pattern to narrow the listing]"
    return out.text(note)


def _entry_line(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_symlink():
            return f"link {'-':>10}  {entry.name} -> {os.readlink(entry.path)}"
        if entry.is_dir(follow_symlinks=False):
            return f"dir  {'-':>10}  {entry.name}/"
        if entry.is_file(follow_symlinks=False):
            return f"file {entry.stat(follow_symlinks=False).st_size:>10}  {entry.name}"
    except OSError:
        return f"?    {'-':>10}  {entry.name}"
    return f"other{'-':>10}  {entry.name}"


def _make_parents(target: Target) -> None:
    parent = os.path.dirname(target.real)
    try:
        os.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ToolError.invalid(
            "not_a_directory",
            f"cannot create the parent directories of {target.shown!r}: a part of the path is a file",
        ) from None
    except OSError as exc:
        raise os_error(exc, target.shown, "create the parent directories of") from None


def _write(target: Target, data: bytes, action: str) -> None:
    try:
        fd = os.open(target.real, _WRITE_FLAGS, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise os_error(exc, target.shown, action) from None


def _encode(text: str, argument: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError.invalid(
            "invalid_text",
            f"{argument} contains a character that cannot be written as UTF-8 (a lone surrogate)",
        ) from None


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix of ``a`` and ``b``."""
    limit = min(len(a), len(b))
    index = 0
    while index < limit and a[index] == b[index]:
        index += 1
    return index


def _match_lines(text: str, needle: str) -> list[int]:
    """The line numbers where each non-overlapping occurrence of ``needle`` starts."""
    lines, start = [], 0
    while (index := text.find(needle, start)) != -1:
        lines.append(text.count("\n", 0, index) + 1)
        start = index + len(needle)
    return lines


def _no_match_message(text: str, old_text: str, shown: str) -> str:
    message = f"old_text was not found in {shown!r}"
    if "\r\n" in text and "\n" in old_text and old_text.replace("\n", "\r\n") in text:
        return f"{message}: the file uses CRLF (\\r\\n) line endings; include the \\r characters in old_text"
    if old_text.strip() and old_text.strip() in text:
        return f"{message} (it matches with different leading or trailing whitespace); copy the exact text"
    return f"{message}; read the file again and copy the exact text, including whitespace and indentation"


def _diff(text: str, updated: str, index: int, old_text: str, new_text: str, shown: str) -> str:
    """A unified diff of the edited region with a few lines of context, cut to ``DIFF_MAX_LINES``."""
    first = text.count("\n", 0, index)
    low = max(0, first - _DIFF_CONTEXT)
    old_lines = _lines(text)[low : first + old_text.count("\n") + 1 + _DIFF_CONTEXT]
    new_lines = _lines(updated)[low : first + new_text.count("\n") + 1 + _DIFF_CONTEXT]
    diff = list(
        difflib.unified_diff(old_lines, new_lines, f"a/{shown}", f"b/{shown}", n=_DIFF_CONTEXT, lineterm="")
    )
    shifted = [_shift_hunk(line, low) for line in diff]
    if len(shifted) > DIFF_MAX_LINES:
        cut = len(shifted) - DIFF_MAX_LINES
        shifted = [*shifted[:DIFF_MAX_LINES], f"[... diff cut: {cut} more line{_s(cut)} ...]"]
    return "\n".join(shifted)


def _lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n``; a final newline does not start an empty line."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _shift_hunk(line: str, offset: int) -> str:
    """A hunk header of a diff of an excerpt, renumbered to the excerpt's place in the file."""
    match = _HUNK.match(line)
    if match is None or offset == 0:
        return line
    old_start, old_len, new_start, new_len = match.groups()
    return (
        f"@@ -{int(old_start) + offset}{old_len or ''} +{int(new_start) + offset}{new_len or ''} @@"
        + line[match.end() :]
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"
