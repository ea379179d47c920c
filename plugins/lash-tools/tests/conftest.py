"""lash-tools tests run on asyncio and trio."""

from __future__ import annotations

from pathlib import Path

import pytest
from lash_tools import ToolsSettings, WorkspaceTools


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each anyio test on both backends."""
    return str(request.param)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty workspace directory (inside ``tmp_path``, which also holds an outside file)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (tmp_path / "secret.txt").write_text("outside the workspace\n")
    return workspace


@pytest.fixture
def tools(root: Path) -> WorkspaceTools:
    """Workspace tools (shell off) on ``root``."""
    return WorkspaceTools(ToolsSettings(root=str(root)))
