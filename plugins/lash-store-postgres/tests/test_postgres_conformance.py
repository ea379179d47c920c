"""The kernel's store conformance suite against a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lash_store_postgres import PostgresStore

from lash_core.effects import DurabilityTier
from lash_core.testing.conformance.store import StoreConformance, StoreFactory


class TestPostgresStore(StoreConformance):
    """Every conformance case; the store reads the database clock, so expiry waits real time."""

    @pytest.fixture
    def store_factory(self, make_store: Callable[..., PostgresStore]) -> StoreFactory:
        """Stores over one fresh schema (a reopen is a new store and pool over it)."""
        return StoreFactory(make=make_store, advance=None, durability=DurabilityTier.DURABLE)
