"""The store passes lash's store conformance suite: every case of the store contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from lash_core.effects import DurabilityTier
from lash_core.testing import FakeClock
from lash_core.testing.conformance.store import StoreConformance, StoreFactory

from {{ cookiecutter.package_name }} import {{ cookiecutter.__class_prefix }}Settings, {{ cookiecutter.__class_prefix }}Store, forget_namespace


class Test{{ cookiecutter.__class_prefix }}Store(StoreConformance):
    """Every conformance case, on the fake clock."""

    @pytest.fixture
    def store_factory(self, fake_clock: FakeClock) -> Iterator[StoreFactory]:
        """Stores over a fresh namespace: a new object is a reopen, two open ones are two
        connections to one database (what the suite expects of ``make``)."""
        settings = {{ cookiecutter.__class_prefix }}Settings(namespace=f"conformance-{uuid.uuid4().hex}")
        yield StoreFactory(
            make=lambda: {{ cookiecutter.__class_prefix }}Store(settings, clock=fake_clock),
            advance=fake_clock.advance,
            durability=DurabilityTier.INLINE,
        )
        forget_namespace(settings.namespace)
