"""Entry point of the SQLite plugin: the ``sqlite`` store and the ``sqlite-journal`` effect host."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_store_sqlite.journal import journaling_host
from lash_store_sqlite.settings import SqliteJournalSettings, SqliteStoreSettings
from lash_store_sqlite.store import SqliteStore


def _store(settings: SqliteStoreSettings | None = None) -> SqliteStore:
    """The ``sqlite`` store built from its settings (the system clock)."""
    return SqliteStore(settings)


@hookimpl
def register_stores(register: Any) -> None:
    """Register the ``sqlite`` store."""
    register(
        "sqlite",
        _store,
        settings=SqliteStoreSettings,
        description="every session in one SQLite database file (WAL; the embedded default)",
    )


@hookimpl
def register_effect_hosts(register: Any) -> None:
    """Register the ``sqlite-journal`` effect host."""
    register(
        "sqlite-journal",
        journaling_host,
        settings=SqliteJournalSettings,
        description="journal effect results in the SQLite database and replay them after a crash",
    )
