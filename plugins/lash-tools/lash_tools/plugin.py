"""Entry point of the workspace tools plugin (``tools`` in the ``lash`` group).

Settings come from the ``[plugins.tools]`` section of the runtime's configuration
(:class:`ToolsSettings`); a relative ``root`` is resolved against the runtime's workspace
(``workspace`` in ``lash.toml``, default the current directory). ``shell`` stays off
unless enabled there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import evolve

from lash_hookspecs import hookimpl
from lash_tools.provider import WorkspaceTools
from lash_tools.settings import ToolsSettings

LASH_PLUGIN_API = ">=1.0,<2"


@hookimpl
def register_tools(register: Any) -> None:
    """Register the workspace tools with the plugin's configured settings."""
    settings: ToolsSettings = register.settings(ToolsSettings)
    workspace = Path(register.workspace)
    root = Path(settings.root)
    if not root.is_absolute():
        settings = evolve(settings, root=str((workspace / root).resolve()))
    register(WorkspaceTools(settings))
