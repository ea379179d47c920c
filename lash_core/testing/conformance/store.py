"""The store conformance suite: the executable form of the store contract.

Every store (the kernel's memory store, SQLite, PostgreSQL, third-party stores) runs
the same cases by subclassing :class:`StoreConformance` in a test module and providing
one fixture, ``store_factory``, that returns a :class:`StoreFactory`::

    import pytest

    from lash_core.effects import DurabilityTier
    from lash_core.store import MemoryStore, MemoryStoreData
    from lash_core.testing import FakeClock
    from lash_core.testing.conformance.store import StoreConformance, StoreFactory


    class TestMemoryStore(StoreConformance):
        @pytest.fixture
        def store_factory(self, fake_clock: FakeClock) -> StoreFactory:
            data = MemoryStoreData()  # fresh, empty data for each test
            return StoreFactory(
                make=lambda: MemoryStore(fake_clock, data=data),
                advance=fake_clock.advance,
                durability=DurabilityTier.INLINE,
            )

The factory's fields:

* ``make()`` returns a new, **unopened** store object (it may be ``async``) over the
  same data each time. The suite opens and closes it; calling ``make`` again after a
  close is a *reopen*, calling it while another object is open gives a *concurrent
  handle* (two workers on one database). Give each test fresh, empty data: a new
  temporary directory, a new schema, a truncated database (the fixture may be an async
  generator fixture that cleans up after ``yield``).
* ``advance(seconds)`` moves the store's clock (sync or async), usually
  ``fake_clock.advance`` with the store built on ``clock=fake_clock``. For a store that
  reads its **own clock** (PostgreSQL decides leases with the database clock) pass
  ``advance=None``: expiry cases then use leases of ``real_ttl_ms`` (default 400 ms) and
  wait real time, and the one case that needs time to move by a precise amount checks
  only what it can.
* ``durability`` is the tier the store must declare (``None`` accepts either).

The cases are ``async`` and marked ``anyio``: they run on the backends the project's
``anyio_backend`` fixture selects (the kernel runs asyncio and trio). Session ids are
unique per case, so a store may share one database between cases if it must, though
fresh data per test is the contract. Case groups (commit, lease, input, work,
maintenance) live in the private ``_store_*`` modules beside this one.
"""

from __future__ import annotations

import pytest

from lash_core.testing.conformance._store_commit import CommitCases
from lash_core.testing.conformance._store_inputs import InputCases
from lash_core.testing.conformance._store_leases import LeaseCases
from lash_core.testing.conformance._store_maintenance import MaintenanceCases
from lash_core.testing.conformance._store_support import StoreFactory
from lash_core.testing.conformance._store_work import WorkCases

__all__ = ["StoreConformance", "StoreFactory"]


class StoreConformance(CommitCases, LeaseCases, InputCases, WorkCases, MaintenanceCases):
    """Every case of the store contract. Subclass it as ``Test<YourStore>`` and override the
    ``store_factory`` fixture (see the module docs)."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override this fixture in your subclass: it returns the :class:`StoreFactory` of your store."""
        raise NotImplementedError(
            "define a `store_factory` fixture in your StoreConformance subclass that returns a "
            "StoreFactory (see lash_core.testing.conformance.store)"
        )
