"""pytest plugin of the lash testing kit (registered through the ``pytest11`` entry point).

Fixtures: ``fake_clock``, ``scripted_provider``, ``lash_runtime`` (a factory composing
a runtime from a config dict). The network guard is on for every test when the ini
option ``lash_network_guard = true`` is set (lash's own test suites set it); a single
test can ask for it with the ``lash_network_guard`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lash_core.testing.clock import FakeClock
from lash_core.testing.network import block_network
from lash_core.testing.providers import ScriptedProvider
from lash_core.testing.runtime import scripted_runtime


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "lash_network_guard", "block non-loopback network access in every test", type="bool", default=False
    )


@pytest.fixture(autouse=True)
def _lash_network_guard_auto(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.config.getini("lash_network_guard"):
        with block_network():
            yield
    else:
        yield


@pytest.fixture
def lash_network_guard() -> Iterator[None]:
    """Block non-loopback network access for this test."""
    with block_network():
        yield


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
def scripted_provider() -> ScriptedProvider:
    """An empty ScriptedProvider; queue replies with ``.queue(...)``."""
    return ScriptedProvider()


@pytest.fixture
def lash_runtime() -> Any:
    """A factory: ``lash_runtime(provider, config={...}, tools=[...], plugins=[...])`` returns an
    unopened runtime with the built-in defaults and the standard protocol."""
    return scripted_runtime
