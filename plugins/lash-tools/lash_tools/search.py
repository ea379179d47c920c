"""The search tools: ``glob`` (file names) and ``grep`` (file contents).

Both walk the workspace skipping hidden directories (names starting with ``.``), ``.git``
and ``node_modules``, and hidden files unless the glob's last component starts with ``.``;
they never follow symbolic links to directories, and stop after ``max_scan_files`` files. Blocking; the provider runs them in a worker thread.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator

from attrs import define

from lash_tools.settings import ToolsSettings
from lash_tools.workspace import (
    OutputBuilder,
    Target,
    ToolError,
    Workspace,
    clip_line,
    looks_binary,
)

__all__ = ["GREP_LINE_CHARS", "SKIPPED_DIRS", "glob", "glob_regex", "grep"]

SKIPPED_DIRS = frozenset({".git", "node_modules"})
"""Directory names never descended into (besides every hidden directory)."""

GREP_LINE_CHARS = 400
"""``grep`` clips matching lines at this many characters (or ``max_line_chars``, if smaller)."""


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob ``pattern`` matched against '/'-separated relative paths.

    ``*`` matches within one path component, ``?`` one character of a component,
    ``[abc]`` / ``[!abc]`` a character class, ``{a,b}`` either alternative, and a whole
    ``**`` component any number of directories (including none).
    """
    parts = pattern.split("/")
    pieces: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            pieces.append(".*" if last else "(?:[^/]*/)*")
        else:
            pieces.append(_component(part) + ("" if last else "/"))
    return re.compile("".join(pieces), re.DOTALL)


def _component(part: str) -> str:
    """The regex of one path component of a glob."""
    out: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            while i + 1 < len(part) and part[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(part, i)) != -1:
            body = part[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = end
        elif char == "{" and (end := part.find("}", i)) != -1 and "," in part[i:end]:
            options = part[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_component(option) for option in options) + ")")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_end(part: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``start`` (a leading ``]`` is literal), or -1."""
    i = start + 1
    if i < len(part) and part[i] in "!^":
        i += 1
    if i < len(part) and part[i] == "]":
        i += 1
    return part.find("]", i)


def _check_pattern(pattern: str, argument: str) -> None:
    if not pattern:
        raise ToolError.invalid("invalid_glob", f"{argument} is empty")
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ToolError.invalid(
            "invalid_glob",
            f"{argument} {pattern!r} must be relative to the search path and may not contain '..'",
        )


@define
class _Walk:
    """Files under a directory: ``(path relative to it, absolute path)``; counts what it visited.

    Hidden files are left out unless ``hidden_files`` (set when the glob's last component
    starts with ``.``, e.g. ``**/.gitignore``).
    """

    root: str
    limit: int
    hidden_files: bool = False
    visited: int = 0
    truncated: bool = False

    def files(self) -> Iterator[tuple[str, str]]:
        for directory, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
            relative_dir = os.path.relpath(directory, self.root)
            for name in sorted(filenames):
                if name.startswith(".") and not self.hidden_files:
                    continue
                if self.visited >= self.limit:
                    self.truncated = True
                    return
                self.visited += 1
                relative = name if relative_dir == "." else os.path.join(relative_dir, name)
                yield relative.replace(os.sep, "/"), os.path.join(directory, name)


def _names_hidden(pattern: str) -> bool:
    """True when the glob's last component asks for hidden files (starts with ``.``)."""
    return pattern.rsplit("/", 1)[-1].startswith(".")


def _search_root(ws: Workspace, path: str) -> Target:
    target = ws.resolve(path)
    if not os.path.exists(target.real):
        raise ToolError.invalid("not_found", f"{target.shown!r} does not exist")
    return target


def _join(base: str, relative: str) -> str:
    return relative if base == "." else f"{base}/{relative}"


def _scan_note(walk: _Walk, settings: ToolsSettings) -> str:
    if not walk.truncated:
        return ""
    return (
        f"[stopped after scanning {settings.max_scan_files} files (max_scan_files): "
        "results may be incomplete; search a narrower path]"
    )


def glob(ws: Workspace, settings: ToolsSettings, pattern: str, path: str = ".") -> str:
    """Files under ``path`` whose path relative to it matches ``pattern``, sorted, one per line.

    Paths are shown relative to the workspace root. At most ``max_results`` are listed,
    with a note giving the total when there are more.
    """
    _check_pattern(pattern, "pattern")
    base = _search_root(ws, path)
    if not os.path.isdir(base.real):
        raise ToolError.invalid(
            "not_a_directory", f"{base.shown!r} is a file, not a directory; give the directory to search"
        )
    regex = glob_regex(pattern)
    walk = _Walk(base.real, settings.max_scan_files, _names_hidden(pattern))
    matches = sorted(_join(base.shown, rel) for rel, _ in walk.files() if regex.fullmatch(rel))
    if not matches:
        return "\n".join(
            note
            for note in (
                f"no files match {pattern!r} under {base.shown!r} "
                "(hidden directories, .git and node_modules are not searched; use ** to match subdirectories)",
                _scan_note(walk, settings),
            )
            if note
        )
    out = OutputBuilder(settings.max_output_bytes, settings.max_output_lines)
    shown = out.extend(matches[: settings.max_results])
    note = ""
    if shown < len(matches):
        note = f"[showing {shown} of {len(matches)} matching files; narrow the pattern or the path]"
    return out.text(note, _scan_note(walk, settings))


def grep(
    ws: Workspace, settings: ToolsSettings, pattern: str, path: str = ".", glob: str | None = None
) -> str:
    """Lines matching the regular expression ``pattern`` as ``file:line: text``.

    ``path`` is a file or a directory to search; ``glob`` restricts the files searched (a
    pattern without ``/`` matches file names, one with ``/`` paths relative to ``path``).
    Binary files, files over ``max_read_bytes`` and links leading outside the workspace
    are skipped. At most ``max_results`` lines are returned, with a note when there are more.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError.invalid("invalid_regex", f"invalid regular expression {pattern!r}: {exc}") from None
    except (RecursionError, OverflowError) as exc:
        raise ToolError.invalid(
            "invalid_regex", f"regular expression {pattern!r} is too complex: {exc}"
        ) from None
    file_filter: re.Pattern[str] | None = None
    by_name = False
    if glob is not None:
        _check_pattern(glob, "glob")
        file_filter, by_name = glob_regex(glob), "/" not in glob
    base = _search_root(ws, path)
    walk = _Walk(base.real, settings.max_scan_files, glob is not None and _names_hidden(glob))
    if os.path.isdir(base.real):
        files: Iterator[tuple[str, str]] = (
            (_join(base.shown, rel), real)
            for rel, real in walk.files()
            if file_filter is None or file_filter.fullmatch(os.path.basename(rel) if by_name else rel)
        )
    else:
        files = iter([(base.shown, base.real)])
    max_chars = min(settings.max_line_chars, GREP_LINE_CHARS)
    results: list[str] = []
    skipped = 0
    more = False
    for shown, real in files:
        text = _searchable_text(ws, real, settings.max_read_bytes)
        if text is None:
            skipped += 1
            continue
        for number, line in enumerate(text.split("\n"), 1):
            if regex.search(line):
                if len(results) >= settings.max_results:
                    more = True
                    break
                results.append(f"{shown}:{number}: {clip_line(line.rstrip(chr(13)), max_chars)}")
        if more:
            break
    out = OutputBuilder(settings.max_output_bytes, settings.max_output_lines)
    shown_count = out.extend(results)
    notes: list[str] = []
    if not results:
        notes.append(f"no lines match {pattern!r} under {base.shown!r}")
    if more or shown_count < len(results):
        notes.append(
            f"[results capped at {shown_count} matching lines; more exist: narrow the pattern, path or glob]"
        )
    if skipped:
        notes.append(
            f"[{skipped} file{'' if skipped == 1 else 's'} skipped: binary, too large, unreadable or linked outside the workspace]"
        )
    return out.text(*notes, _scan_note(walk, settings))


def _searchable_text(ws: Workspace, real: str, max_bytes: int) -> str | None:
    """The text of a file to search, or None to skip it (binary, too large, unreadable, or a
    link leading outside the workspace)."""
    try:
        if os.path.islink(real) and not ws.contains(os.path.realpath(real)):
            return None
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        with open(real, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError:
        return None
    if len(data) > max_bytes or looks_binary(data):
        return None
    return data.decode("utf-8", "replace")
