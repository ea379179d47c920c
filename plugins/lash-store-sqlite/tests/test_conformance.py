"""The store conformance suite against a database file and against ``:memory:``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lash_store_sqlite import (
    MEMORY_PATH,
    SqliteDatabase,
    SqliteDurability,
    SqliteStore,
    SqliteStoreSettings,
)

from lash_core.effects import DurabilityTier
from lash_core.testing import FakeClock
from lash_core.testing.conformance.store import StoreConformance, StoreFactory


class TestSqliteFileStore(StoreConformance):
    """Every store object opens its own connection to one fresh database file (``normal``
    durability: the suite checks semantics, not fsync)."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path, fake_clock: FakeClock) -> StoreFactory:
        """Stores over ``sessions.db`` in a fresh temporary directory."""
        settings = SqliteStoreSettings(path=str(tmp_path / "sessions.db"), durability=SqliteDurability.NORMAL)
        return StoreFactory(
            make=lambda: SqliteStore(settings, clock=fake_clock),
            advance=fake_clock.advance,
            durability=DurabilityTier.DURABLE,
        )


class TestSqliteMemoryStore(StoreConformance):
    """Store objects share one private in-memory database (one connection), like handles."""

    @pytest.fixture
    async def store_factory(self, fake_clock: FakeClock) -> AsyncIterator[StoreFactory]:
        """Stores over one ``:memory:`` database, closed after the test."""
        database = SqliteDatabase(MEMORY_PATH, clock=fake_clock)
        await database.open()
        try:
            yield StoreFactory(
                make=lambda: SqliteStore(clock=fake_clock, database=database),
                advance=fake_clock.advance,
                durability=DurabilityTier.INLINE,
            )
        finally:
            await database.close()
