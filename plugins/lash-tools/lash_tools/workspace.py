"""The workspace: path confinement, failures, and the text helpers the tools share.

Every path a tool receives goes through :meth:`Workspace.resolve`, which refuses, with a
``permission_denied`` :class:`ToolError`, paths that leave the workspace root: through
``..``, as an absolute path elsewhere, or through a symbolic link whose target is outside.
Tools operate on the resolved real path only.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable

from attrs import frozen

from lash_core.model.tools import (
    FailureOutcome,
    FailureSource,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)

__all__ = [
    "OutputBuilder",
    "Target",
    "ToolError",
    "Workspace",
    "clip_line",
    "decode_text",
    "os_error",
    "read_bytes",
    "split_lines",
]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY_SNIFF = 8192


class ToolError(Exception):
    """A failure a tool reports to the model; becomes a failure result, never escapes ``execute``."""

    def __init__(self, failure_class: ToolFailureClass, code: str, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.code = code
        self.message = message

    @classmethod
    def invalid(cls, code: str, message: str) -> ToolError:
        """An ``invalid_request`` failure: the call cannot succeed as made."""
        return cls(ToolFailureClass.INVALID_REQUEST, code, message)

    @classmethod
    def denied(cls, code: str, message: str) -> ToolError:
        """A ``permission_denied`` failure."""
        return cls(ToolFailureClass.PERMISSION_DENIED, code, message)

    def to_output(self) -> ToolCallOutput:
        """The failure result."""
        failure = ToolFailure(self.failure_class, self.code, self.message, FailureSource.TOOL)
        return ToolCallOutput(FailureOutcome(failure))


@frozen
class Target:
    """A resolved path: ``real`` is the absolute path with links resolved, ``shown`` the
    path relative to the workspace root as messages and results name it."""

    real: str
    shown: str


class Workspace:
    """A directory tree the tools are confined to."""

    def __init__(self, root: str) -> None:
        """Resolve ``root`` (``~`` expanded, relative to the working directory); it must be a directory."""
        expanded = os.path.expanduser(root)
        self.given_root = os.path.normpath(os.path.abspath(expanded))
        self.root = os.path.realpath(expanded)
        if not os.path.isdir(self.root):
            raise ValueError(f"workspace root {root!r} is not a directory (resolved to {self.root})")

    def contains(self, path: str) -> bool:
        """True when the absolute, normalized ``path`` is the root or inside it."""
        return _inside(path, self.root)

    def resolve(self, path: str) -> Target:
        """Resolve ``path`` (relative to the root, or absolute inside it).

        Raises a :class:`ToolError` for an empty path or a NUL byte (``invalid_request``)
        and for a path that leaves the workspace (``permission_denied``, saying how).
        The path need not exist.
        """
        if not path:
            raise ToolError.invalid("empty_path", "the path is empty; give a path relative to the workspace")
        if "\x00" in path:
            raise ToolError.invalid("invalid_path", f"the path {path!r} contains a NUL character")
        joined = path if os.path.isabs(path) else os.path.join(self.root, path)
        lexical = os.path.normpath(joined)
        if os.path.isabs(path):
            if not (_inside(lexical, self.root) or _inside(lexical, self.given_root)):
                raise ToolError.denied(
                    "outside_workspace",
                    f"the absolute path {path!r} is outside the workspace ({self.root}); "
                    "use a path relative to the workspace",
                )
        elif not _inside(lexical, self.root):
            raise ToolError.denied(
                "outside_workspace",
                f"the path {path!r} leaves the workspace through '..'; paths must stay inside the workspace",
            )
        real = os.path.realpath(joined)
        if not self.contains(real):
            raise ToolError.denied(
                "outside_workspace",
                f"the path {path!r} goes through a symbolic link that leads outside the workspace "
                f"(to {real}); links may only point inside the workspace",
            )
        return Target(real, self.show(lexical))

    def show(self, path: str) -> str:
        """The absolute ``path`` relative to the root (resolved or as configured), '/'-separated."""
        for base in (self.root, self.given_root):
            if _inside(path, base):
                return os.path.relpath(path, base).replace(os.sep, "/")
        return path


def _inside(path: str, root: str) -> bool:
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


def os_error(exc: OSError, shown: str, action: str) -> ToolError:
    """A clear :class:`ToolError` for an OS error while ``action`` (e.g. ``"read"``) on ``shown``."""
    code = exc.errno
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return ToolError.denied(
            "permission_denied", f"cannot {action} {shown!r}: permission denied by the system"
        )
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        return ToolError.invalid("not_found", f"cannot {action} {shown!r}: no such file or directory")
    if isinstance(exc, IsADirectoryError) or code == errno.EISDIR:
        return ToolError.invalid("is_a_directory", f"cannot {action} {shown!r}: it is a directory")
    if isinstance(exc, NotADirectoryError) or code == errno.ENOTDIR:
        return ToolError.invalid(
            "not_a_directory", f"cannot {action} {shown!r}: a part of the path is a file, not a directory"
        )
    if code == errno.ELOOP:
        return ToolError.denied(
            "symlink_refused", f"cannot {action} {shown!r}: it is (or became) a symbolic link, or links loop"
        )
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return ToolError(
            ToolFailureClass.RESOURCE_LIMIT, "no_space", f"cannot {action} {shown!r}: {exc.strerror}"
        )
    reason = exc.strerror or str(exc)
    return ToolError(ToolFailureClass.EXECUTION, "os_error", f"cannot {action} {shown!r}: {reason}")


def read_bytes(target: Target, max_bytes: int, action: str = "read") -> bytes:
    """The content of the regular file ``target``, at most ``max_bytes`` bytes.

    Missing files, directories (with a hint to use ``list_dir``), special files, files
    over the limit and OS errors become :class:`ToolError`.
    """
    try:
        info = os.stat(target.real)
    except OSError as exc:
        raise os_error(exc, target.shown, action) from None
    if stat.S_ISDIR(info.st_mode):
        raise ToolError.invalid(
            "is_a_directory", f"{target.shown!r} is a directory, not a file; use list_dir to see its entries"
        )
    if not stat.S_ISREG(info.st_mode):
        raise ToolError.invalid("not_a_regular_file", f"{target.shown!r} is not a regular file")
    if info.st_size > max_bytes:
        raise _too_large(target.shown, info.st_size, max_bytes)
    try:
        fd = os.open(target.real, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise os_error(exc, target.shown, action) from None
    if len(data) > max_bytes:  # it grew since the stat
        raise _too_large(target.shown, len(data), max_bytes)
    return data


def _too_large(shown: str, size: int, limit: int) -> ToolError:
    return ToolError(
        ToolFailureClass.RESOURCE_LIMIT,
        "file_too_large",
        f"{shown!r} is {size} bytes, over the {limit}-byte read limit (max_read_bytes); "
        "use grep to find the lines you need",
    )


def decode_text(data: bytes, shown: str) -> str:
    """``data`` as UTF-8 text; a NUL byte or invalid UTF-8 is a ``binary_file`` :class:`ToolError`."""
    if b"\x00" in data:
        raise ToolError.invalid(
            "binary_file",
            f"{shown!r} looks like a binary file (it contains NUL bytes); only text can be read",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError.invalid(
            "binary_file",
            f"{shown!r} is not UTF-8 text (undecodable byte at offset {exc.start}); only text can be read",
        ) from None


def looks_binary(data: bytes) -> bool:
    """True when the start of ``data`` contains a NUL byte."""
    return b"\x00" in data[:_BINARY_SNIFF]


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n`` only (a trailing ``\\r`` is dropped); a final newline
    ends the last line rather than starting an empty one."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def clip_line(line: str, max_chars: int) -> str:
    """``line``, cut to ``max_chars`` characters with a note saying how much was cut."""
    if len(line) <= max_chars:
        return line
    return f"{line[:max_chars]}... [line clipped: {len(line) - max_chars} more characters]"


class OutputBuilder:
    """Collects result lines within a byte and a line budget, keeping room for closing notes."""

    NOTE_ROOM_BYTES = 400
    NOTE_ROOM_LINES = 3

    def __init__(self, max_bytes: int, max_lines: int) -> None:
        self.lines: list[str] = []
        self.size = 0
        self.max_bytes = max_bytes - self.NOTE_ROOM_BYTES
        self.max_lines = max_lines - self.NOTE_ROOM_LINES
        self.full = False

    def add(self, line: str) -> bool:
        """Add ``line`` if it fits; once one does not fit, no later line is added either."""
        if self.full:
            return False
        size = len(line.encode("utf-8", "surrogateescape")) + 1
        if len(self.lines) >= self.max_lines or self.size + size > self.max_bytes:
            self.full = True
            return False
        self.lines.append(line)
        self.size += size
        return True

    def extend(self, lines: Iterable[str]) -> int:
        """Add lines until one does not fit; return how many were added."""
        added = 0
        for line in lines:
            if not self.add(line):
                break
            added += 1
        return added

    def text(self, *notes: str) -> str:
        """The collected lines followed by the non-empty ``notes``, newline-separated."""
        return "\n".join([*self.lines, *(note for note in notes if note)])
