"""Settings of the workspace tools.

:class:`ToolsSettings` is a frozen attrs class, so it can be built in code or structured
from configuration (every field has a plain JSON type). :meth:`ToolsSettings.from_env`
builds the settings the entry-point plugin uses: the workspace root from
``LASH_WORKSPACE`` and the shell switch from ``LASH_TOOLS_SHELL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from attrs import field, frozen
from attrs.validators import ge, gt, min_len

__all__ = ["ENV_SHELL", "ENV_WORKSPACE", "ToolsSettings"]

ENV_WORKSPACE = "LASH_WORKSPACE"
"""Environment variable naming the workspace root of the entry-point plugin."""

ENV_SHELL = "LASH_TOOLS_SHELL"
"""Environment variable enabling the ``shell`` tool of the entry-point plugin (``1``)."""

_TRUE = frozenset({"1", "true", "yes", "on"})


@frozen(kw_only=True)
class ToolsSettings:
    """What the workspace tools may touch and how much they return.

    Attributes:
        root: The workspace root. Every path a tool receives is resolved against it and
            must stay inside it. Relative roots are resolved against the current working
            directory when the tool provider is built. Default ``"."``.
        shell: Offer the ``shell`` tool. Off by default: when off the tool is not in the
            catalog at all.
        max_read_bytes: Files larger than this are refused by ``read_file`` and
            ``edit_file`` and skipped by ``grep``. Default 10 MiB.
        max_line_chars: Longer lines are clipped in ``read_file`` and ``grep`` output.
        max_output_bytes: Cap on the UTF-8 size of one tool result (``read_file``,
            ``list_dir``, ``glob``, ``grep``, ``shell``). The default stays under the
            default tool-output budget (16 KiB), so the model sees the tool's own,
            precise continuation hint rather than a generic cut.
        max_output_lines: Cap on the lines of one tool result; the default stays under the
            default budget's 400 lines.
        max_results: At most this many entries (``list_dir``), paths (``glob``) or
            matching lines (``grep``) are returned.
        max_scan_files: ``glob`` and ``grep`` stop walking after visiting this many
            files and say so.
        shell_program: The shell that runs ``shell`` commands as ``<program> -c <command>``.
        default_shell_timeout_s: Timeout of a ``shell`` call that gives none.
        max_shell_timeout_s: The largest ``timeout_s`` a ``shell`` call may ask for.
    """

    root: str = field(default=".", validator=min_len(1))
    shell: bool = False
    max_read_bytes: int = field(default=10 * 1024 * 1024, validator=ge(1))
    max_line_chars: int = field(default=2000, validator=ge(16))
    max_output_bytes: int = field(default=16_000, validator=ge(1024))
    max_output_lines: int = field(default=390, validator=ge(10))
    max_results: int = field(default=300, validator=ge(1))
    max_scan_files: int = field(default=50_000, validator=ge(1))
    shell_program: str = field(default="/bin/sh", validator=min_len(1))
    default_shell_timeout_s: float = field(default=60.0, validator=gt(0))
    max_shell_timeout_s: float = field(default=600.0, validator=gt(0))

    def __attrs_post_init__(self) -> None:
        if self.default_shell_timeout_s > self.max_shell_timeout_s:
            raise ValueError(
                f"default_shell_timeout_s ({self.default_shell_timeout_s}) exceeds "
                f"max_shell_timeout_s ({self.max_shell_timeout_s})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ToolsSettings:
        """Settings from the environment, every other field at its default.

        ``LASH_WORKSPACE`` gives the root (default: the current working directory);
        ``LASH_TOOLS_SHELL`` set to ``1`` (or ``true``, ``yes``, ``on``) enables the shell.
        """
        env = os.environ if environ is None else environ
        root = env.get(ENV_WORKSPACE, "").strip() or "."
        shell = env.get(ENV_SHELL, "").strip().lower() in _TRUE
        return cls(root=root, shell=shell)
