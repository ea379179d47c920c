"""Entry point of the workspace tools plugin (``tools`` in the ``lash`` group).

The kernel does not pass per-plugin settings to ``register_tools`` yet, so this plugin
builds its settings from the environment (:meth:`ToolsSettings.from_env`): the workspace
root from ``LASH_WORKSPACE`` (default: the current working directory) and the ``shell``
tool only when ``LASH_TOOLS_SHELL=1``. To configure the tools in code instead, disable
this plugin (``LASH_DISABLE_PLUGINS=tools``) and register ``WorkspaceTools(settings)``
from your own plugin.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_tools.provider import WorkspaceTools
from lash_tools.settings import ToolsSettings


@hookimpl
def register_tools(register: Any) -> None:
    """Register the workspace tools with settings from the environment."""
    register(WorkspaceTools(ToolsSettings.from_env()))
