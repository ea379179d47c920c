"""A durable-tier memory store for tests of the durable runtime paths.

::

    store = DurableMemoryStore(clock=FakeClock())
    runtime = scripted_runtime(
        provider, plugins=[durable_memory_plugin(store)], config={"store": {"type": "durable-memory"}}
    )
    # or, the same with a lease owner name: durable_runtime(provider, store, owner_id="worker-a")

With a durable store the runtime holds the session execution lease while a turn runs,
claims pending input, fences its commits and reloads a session another worker moved
on. Several runtimes given the same store object (or stores over the same
``store.data``) behave like workers sharing one database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lash_core.clock import Clock
from lash_core.effects import DurabilityTier
from lash_core.runtime import Runtime
from lash_core.store.memory import MemoryStore
from lash_core.testing.runtime import scripted_runtime
from lash_hookspecs import hookimpl

__all__ = [
    "DURABLE_MEMORY_STORE",
    "DurableMemoryStore",
    "ProcessCrash",
    "durable_memory_plugin",
    "durable_runtime",
    "raised",
]

DURABLE_MEMORY_STORE = "durable-memory"
"""The store type :func:`durable_memory_plugin` registers by default."""


class DurableMemoryStore(MemoryStore):
    """A test double: keeps everything in memory but behaves like a durable store, so the
    durable runtime paths can be tested without a database.

    It declares :attr:`~lash_core.effects.DurabilityTier.DURABLE`, so the runtime takes
    the session execution lease for every turn and drain. Nothing survives the process:
    never use it where durability matters.
    """

    durability = DurabilityTier.DURABLE


def durable_memory_plugin(store: MemoryStore, name: str = DURABLE_MEMORY_STORE) -> object:
    """A plugin object registering ``store`` (an instance, shared by every runtime the
    plugin is given to) as store type ``name``."""

    class DurableMemoryStorePlugin:
        lash_plugin_name = f"test-store-{name}"

        @hookimpl
        def register_stores(self, register: Any) -> None:
            register(name, lambda settings=None: store, description="in memory, declared durable (tests)")

    return DurableMemoryStorePlugin()


def durable_runtime(
    provider: Any,
    store: MemoryStore,
    *,
    owner_id: str | None = None,
    tools: Iterable[Any] = (),
    plugins: Iterable[object] = (),
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """A runtime (not yet open) like :func:`~lash_core.testing.scripted_runtime` whose store is
    ``store`` (registered with :func:`durable_memory_plugin`). ``owner_id`` names the runtime in
    session leases; give each "worker" its own runtime over the same store."""
    base: dict[str, Any] = {"store": {"type": DURABLE_MEMORY_STORE}}
    if owner_id is not None:
        base["owner_id"] = owner_id
    base.update(config or {})
    return scripted_runtime(
        provider,
        tools=tools,
        plugins=(durable_memory_plugin(store), *plugins),
        config=base,
        clock=clock,
    )


class ProcessCrash(BaseException):
    """A simulated process death for crash tests: no ``except Exception`` handles it, so
    nothing after the raise point runs (raise it from a store method to "kill" a worker there)."""


def raised(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when ``exc`` is, or an exception group (at any depth) holds, a ``kind``."""
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(raised(inner, kind) for inner in exc.exceptions)
    return False
