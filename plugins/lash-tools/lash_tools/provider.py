"""``WorkspaceTools``: the tool provider offering the workspace tools.

::

    from lash_tools import ToolsSettings, WorkspaceTools

    @hookimpl
    def register_tools(register):
        register(WorkspaceTools(ToolsSettings(root="/srv/project", shell=True)))

Every failure a tool can foresee (a bad path, a missing or binary file, an ambiguous
edit, an invalid regex, a timeout, ...) comes back as a failure result; ``execute`` does
not raise.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio.to_thread

from lash_core.model.tools import (
    FailureOutcome,
    FailureSource,
    SuccessOutcome,
    ToolCallOutput,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools.contract import ToolContext, ToolInvocation, ToolManifest
from lash_core.tools.validation import ArgumentError, validator_for
from lash_tools import files, search
from lash_tools.settings import ToolsSettings
from lash_tools.shell import run_shell
from lash_tools.workspace import ToolError, Workspace

__all__ = ["FILE_TOOLS", "WorkspaceTools"]

log = logging.getLogger("lash.tools.workspace")

FILE_TOOLS = ("read_file", "write_file", "edit_file", "list_dir", "glob", "grep")
"""The tools always offered; ``shell`` is added when the settings enable it."""

Handler = Callable[..., Awaitable[Any]]

_PATH = "Path relative to the workspace root (absolute paths must lie inside the workspace)."


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def build_manifests(settings: ToolsSettings) -> tuple[ToolManifest, ...]:
    """The manifests of the tools ``settings`` enable, in a fixed order."""
    manifests = [
        ToolManifest(
            "read_file",
            "Read a UTF-8 text file. Returns its lines prefixed by line numbers, starting at `offset` "
            f"(1-based) for at most `limit` lines; lines over {settings.max_line_chars} characters are "
            f"clipped and the output is capped at {settings.max_output_bytes} bytes, with a note saying "
            "which offset to continue from. Refuses directories (use list_dir), binary files and files "
            f"over {settings.max_read_bytes} bytes.",
            _schema(
                {
                    "path": {"type": "string", "description": _PATH},
                    "offset": {"type": "integer", "minimum": 1, "default": 1, "description": "First line."},
                    "limit": {"type": "integer", "minimum": 1, "default": 2000, "description": "Most lines."},
                },
                ["path"],
            ),
        ),
        ToolManifest(
            "write_file",
            "Create or overwrite a file with the given text (UTF-8), creating missing parent "
            "directories. Returns the path, the number of bytes written and whether the file was created.",
            _schema(
                {
                    "path": {"type": "string", "description": _PATH},
                    "content": {"type": "string", "description": "The complete new content of the file."},
                },
                ["path", "content"],
            ),
            sequential=True,
        ),
        ToolManifest(
            "edit_file",
            "Replace one exact occurrence of `old_text` in a text file with `new_text`. `old_text` must "
            "match exactly once, including whitespace and indentation: no match or several matches is "
            "an error (add surrounding lines to make it unique). Returns the first changed line number "
            "and a unified diff.",
            _schema(
                {
                    "path": {"type": "string", "description": _PATH},
                    "old_text": {"type": "string", "description": "The exact text to replace."},
                    "new_text": {"type": "string", "description": "The replacement text."},
                },
                ["path", "old_text", "new_text"],
            ),
            sequential=True,
        ),
        ToolManifest(
            "list_dir",
            "List a directory: one entry per line with its type (file, dir, link), size in bytes and "
            f"name, sorted by name; at most {settings.max_results} entries.",
            _schema({"path": {"type": "string", "default": ".", "description": _PATH}}),
        ),
        ToolManifest(
            "glob",
            "Find files whose path (relative to `path`) matches a glob pattern: `*` and `?` within a "
            "name, `**` for any number of directories, `[abc]`, `{a,b}`. Example: `**/*.py`. Hidden "
            "directories, .git and node_modules are not searched. Returns matching paths, sorted, "
            f"at most {settings.max_results}.",
            _schema(
                {
                    "pattern": {"type": "string", "description": "Glob pattern, e.g. `src/**/*.ts`."},
                    "path": {"type": "string", "default": ".", "description": "Directory to search."},
                },
                ["pattern"],
            ),
        ),
        ToolManifest(
            "grep",
            "Search file contents with a Python regular expression. Returns `file:line: text` for "
            f"each matching line (at most {settings.max_results}). `path` is a file or a directory; "
            "`glob` limits the files searched (e.g. `*.py`). Binary files, hidden directories, .git "
            "and node_modules are skipped.",
            _schema(
                {
                    "pattern": {"type": "string", "description": "Regular expression (Python syntax)."},
                    "path": {"type": "string", "default": ".", "description": "File or directory to search."},
                    "glob": {
                        "type": ["string", "null"],
                        "default": None,
                        "description": "Only search files matching this glob.",
                    },
                },
                ["pattern"],
            ),
        ),
    ]
    if settings.shell:
        manifests.append(
            ToolManifest(
                "shell",
                f"Run a non-interactive shell command ({settings.shell_program} -c) in the workspace root, "
                "stdin closed, stderr merged into stdout. Returns `exit code: N` and the output (a "
                "non-zero exit code is a normal result); long output keeps its beginning and end. On "
                "timeout the command and everything it started are killed and the call fails.",
                _schema(
                    {
                        "command": {"type": "string", "description": "The command line."},
                        "timeout_s": {
                            "type": "number",
                            "exclusiveMinimum": 0,
                            "maximum": settings.max_shell_timeout_s,
                            "default": settings.default_shell_timeout_s,
                            "description": "Seconds before the command is killed.",
                        },
                    },
                    ["command"],
                ),
                sequential=True,
            )
        )
    return tuple(manifests)


class WorkspaceTools:
    """A tool provider confined to one workspace directory.

    Offers ``read_file``, ``write_file``, ``edit_file``, ``list_dir``, ``glob`` and
    ``grep``, plus ``shell`` when ``settings.shell`` is true (otherwise it is not in the
    catalog at all). ``write_file``, ``edit_file`` and ``shell`` are ``sequential``: they
    never run concurrently with other calls of the same round, so a round's reads and
    writes happen in the order the model gave them.

    Raises ``ValueError`` at construction when the root is not a directory.
    """

    def __init__(self, settings: ToolsSettings | None = None) -> None:
        """Resolve the workspace root and build the manifests."""
        self.settings = settings if settings is not None else ToolsSettings()
        self.workspace = Workspace(self.settings.root)
        self._manifests = build_manifests(self.settings)
        self._by_name = {manifest.name: manifest for manifest in self._manifests}
        self._handlers: dict[str, Handler] = {
            "read_file": self._threaded(files.read_file, abandon=True),
            "write_file": self._threaded(files.write_file, abandon=False),
            "edit_file": self._threaded(files.edit_file, abandon=False),
            "list_dir": self._threaded(files.list_dir, abandon=True),
            "glob": self._threaded(search.glob, abandon=True),
            "grep": self._threaded(search.grep, abandon=True),
            "shell": self._shell,
        }

    def __repr__(self) -> str:
        return f"WorkspaceTools(root={self.root!r}, shell={self.settings.shell})"

    @property
    def root(self) -> str:
        """The resolved workspace root."""
        return self.workspace.root

    def manifests(self) -> Sequence[ToolManifest]:
        """The enabled tools."""
        return self._manifests

    async def execute(self, call: ToolInvocation, context: ToolContext | None = None) -> ToolCallOutput:
        """Run one call; every foreseeable problem is a failure result, not an exception.

        Arguments are validated against the tool's schema here too, so the provider is
        safe to call directly.
        """
        manifest = self._by_name.get(call.name)
        if manifest is None:
            known = ", ".join(self._by_name)
            return _failure(
                ToolFailureClass.INVALID_REQUEST,
                "unknown_tool",
                f"this provider has no enabled tool {call.name!r}; it offers: {known}",
            )
        try:
            validator_for(manifest.input_schema).validate(call.args)
        except ArgumentError as exc:
            return _failure(
                ToolFailureClass.INVALID_REQUEST, "invalid_arguments", f"{call.name}: {exc.message}"
            )
        try:
            value = await self._handlers[call.name](**call.args)
        except ToolError as exc:
            return exc.to_output()
        except Exception as exc:
            log.exception("tool %s failed unexpectedly", call.name)
            return _failure(
                ToolFailureClass.INTERNAL,
                "unexpected_error",
                f"{call.name} failed: {type(exc).__name__}: {exc}",
            )
        return ToolCallOutput(SuccessOutcome(value))

    async def call(self, name: str, /, **args: Any) -> ToolCallOutput:
        """Run tool ``name`` with keyword arguments outside a turn (for code and tests)."""
        return await self.execute(ToolInvocation(f"direct-{name}", name, args), None)

    def _threaded(self, function: Callable[..., Any], *, abandon: bool) -> Handler:
        """A handler running the blocking ``function(workspace, settings, **args)`` in a worker thread.

        Read-only tools are abandoned on cancellation (their result is not needed); writes
        finish first, so a file is never left half-written by a cancelled turn.
        """

        async def handler(**args: Any) -> Any:
            bound = functools.partial(function, self.workspace, self.settings, **args)
            return await anyio.to_thread.run_sync(bound, abandon_on_cancel=abandon)

        return handler

    async def _shell(self, command: str, timeout_s: float | None = None) -> str:
        timeout = self.settings.default_shell_timeout_s if timeout_s is None else float(timeout_s)
        return await run_shell(self.workspace, self.settings, command, timeout)


def _failure(failure_class: ToolFailureClass, code: str, message: str) -> ToolCallOutput:
    return ToolCallOutput(FailureOutcome(ToolFailure(failure_class, code, message, FailureSource.TOOL)))
