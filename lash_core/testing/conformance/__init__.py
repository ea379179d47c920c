"""Conformance suites third-party plugins run against their implementations.

* :mod:`lash_core.testing.conformance.store`: the session store contract
  (:class:`~lash_core.testing.conformance.store.StoreConformance`).
"""

from lash_core.testing.conformance.store import StoreConformance, StoreFactory

__all__ = ["StoreConformance", "StoreFactory"]
