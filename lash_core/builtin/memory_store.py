"""The ``memory`` store: sessions kept in process memory (lost on exit)."""

from __future__ import annotations

from typing import Any

from lash_core.store.memory import MemoryStore
from lash_hookspecs import hookimpl


@hookimpl
def register_stores(register: Any) -> None:
    """Register the ``memory`` store."""
    register("memory", lambda settings=None: MemoryStore(), description="in process memory, lost on exit")
