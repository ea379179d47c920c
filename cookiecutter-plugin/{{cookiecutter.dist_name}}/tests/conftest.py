"""Test configuration: every async test runs on asyncio and on trio, as lash itself does.

lash's pytest plugin (installed with lash-core) adds the ``fake_clock``,
``scripted_provider`` and ``lash_runtime`` fixtures and blocks the network during tests
(``lash_network_guard`` in pyproject.toml).
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test on both backends."""
    return str(request.param)
