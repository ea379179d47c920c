"""The store conformance suite run against the in-memory store."""

from __future__ import annotations

import pytest

from lash_core.effects import DurabilityTier
from lash_core.store import MemoryStore, MemoryStoreData
from lash_core.testing import FakeClock
from lash_core.testing.conformance.store import StoreConformance, StoreFactory


class TestMemoryStore(StoreConformance):
    """Every conformance case on MemoryStore with an injected fake clock."""

    @pytest.fixture
    def store_factory(self, fake_clock: FakeClock) -> StoreFactory:
        """Memory stores sharing one fresh data object (a reopen is a new object over it)."""
        data = MemoryStoreData()
        return StoreFactory(
            make=lambda: MemoryStore(fake_clock, data=data),
            advance=fake_clock.advance,
            durability=DurabilityTier.INLINE,
        )


class TestMemoryStoreOwnClock(StoreConformance):
    """The cases as a store reading its own clock meets them: short real TTLs, real waits
    (asyncio only, the real waits are the slow part of the suite)."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        """One backend: the clock fallback does not depend on it."""
        return "asyncio"

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Memory stores on the system clock; expiry waits real time."""
        data = MemoryStoreData()
        return StoreFactory(make=lambda: MemoryStore(data=data), real_ttl_ms=250)
