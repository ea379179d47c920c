"""Workspace tools for lash agents: read, write and edit files, list directories, glob and
grep, and an opt-in shell, all confined to one workspace directory."""

from lash_tools.provider import FILE_TOOLS, WorkspaceTools
from lash_tools.settings import ToolsSettings
from lash_tools.workspace import ToolError, Workspace

__all__ = ["FILE_TOOLS", "ToolError", "ToolsSettings", "Workspace", "WorkspaceTools"]
