"""The ``{{ cookiecutter.entry_point_name }}`` store: sessions in process memory, shared by namespace.

A session store implements the whole contract of :class:`lash_core.store.SessionStore`:
loading and committing turns (one atomic commit per turn, idempotent by commit hash,
fenced by the session lease, guarded by the head revision), the session execution lease,
pending input, queued work, attachments and maintenance. The contract is long; the
conformance suite (:class:`lash_core.testing.conformance.store.StoreConformance`, run by
``tests/test_conformance.py``) is its executable form: a store that passes it works with
the runtime.

This store is built on the kernel's in-memory store, which implements every facet: it only
decides *where the data lives*. Every store of the process created with the same
``namespace`` works on the same :class:`~lash_core.store.MemoryStoreData`, like connections
to one database, so sessions outlive the runtime that wrote them (a host that closes and
recomposes its runtime keeps its sessions). They do not outlive the process: the store
declares :attr:`~lash_core.effects.DurabilityTier.INLINE`, and durable effect hosts refuse it.

To put sessions in a real database, keep the shape and replace the data layer: write each
facet against your database (the SQLite and PostgreSQL stores of lash are worked examples),
declare ``DurabilityTier.DURABLE`` once a committed turn survives a crash, and keep the
conformance suite passing (``advance=None`` when the database's clock decides leases).

Cheap to build: the runtime builds its store when it opens. ``__init__`` only takes its
settings and finds its data; connecting belongs in ``open()`` and releasing in ``close()``.
"""

from __future__ import annotations

import threading

from lash_core.clock import Clock
from lash_core.effects import DurabilityTier
from lash_core.store import MemoryStore, MemoryStoreData

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["{{ cookiecutter.__class_prefix }}Store", "forget_namespace"]

_NAMESPACES: dict[str, MemoryStoreData] = {}
_LOCK = threading.Lock()  # runtimes on different threads may open stores at the same time


def _data_of(namespace: str) -> MemoryStoreData:
    with _LOCK:
        data = _NAMESPACES.get(namespace)
        if data is None:
            data = _NAMESPACES[namespace] = MemoryStoreData()
        return data


def forget_namespace(namespace: str) -> bool:
    """Drop every session of ``namespace`` (open stores keep the data they have). True
    when there was something to drop."""
    with _LOCK:
        return _NAMESPACES.pop(namespace, None) is not None


class {{ cookiecutter.__class_prefix }}Store(MemoryStore):
    """The in-memory store over the data of its namespace; see the module docs.

    ``clock`` decides lease expiry and work readiness (the system clock unless given; tests
    pass a ``FakeClock``).
    """

    durability = DurabilityTier.INLINE

    def __init__(self, settings: {{ cookiecutter.__class_prefix }}Settings | None = None, *, clock: Clock | None = None) -> None:
        self.settings = settings if settings is not None else {{ cookiecutter.__class_prefix }}Settings()
        super().__init__(clock, data=_data_of(self.settings.namespace))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self.settings.namespace!r})"
