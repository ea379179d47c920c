"""Kernel test configuration: every async test runs on asyncio and on trio; fixtures the
kernel tests share (tests import nothing from each other: they run in importlib mode)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lash_core.effects import DurabilityTier
from lash_core.hooks import hookimpl
from lash_core.store.contract import CommitResult, SessionStore, TurnCommit
from lash_core.store.memory import MemoryStore


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each anyio test on both backends."""
    return str(request.param)


class RecordingStore(MemoryStore):
    """A memory store that keeps every commit it applied, with a configurable durability tier."""

    def __init__(self, durability: DurabilityTier = DurabilityTier.INLINE) -> None:
        super().__init__()
        self.durability = durability
        self.commits: list[TurnCommit] = []

    async def commit(self, commit: TurnCommit) -> CommitResult:
        result = await super().commit(commit)
        self.commits.append(commit)
        return result


def _store_plugin(
    store: SessionStore, name: str = "recording", plugin_name: str = "recording-store"
) -> object:
    """A plugin (named ``plugin_name``) registering ``store`` (an instance) as store type ``name``."""

    class StorePlugin:
        lash_plugin_name = plugin_name

        @hookimpl
        def register_stores(self, register: Any) -> None:
            register(name, lambda settings=None: store)

    return StorePlugin()


@pytest.fixture
def recording_store() -> type[RecordingStore]:
    """``recording_store(durability=INLINE)``: a memory store keeping every commit it applied
    in ``commits``."""
    return RecordingStore


@pytest.fixture
def store_plugin() -> Callable[..., object]:
    """``store_plugin(store, name="recording", plugin_name="recording-store")``: a plugin
    registering ``store`` (an instance) as store type ``name``."""
    return _store_plugin
