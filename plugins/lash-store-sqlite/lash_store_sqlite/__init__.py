"""The embedded default lash session store (SQLite) and a journaling effect host over it."""

from lash_store_sqlite.database import SqliteDatabase
from lash_store_sqlite.journal import SqliteEffectJournal, journaling_host
from lash_store_sqlite.schema import APPLICATION_ID, SCHEMA_VERSION
from lash_store_sqlite.settings import (
    MEMORY_PATH,
    SqliteDurability,
    SqliteJournalSettings,
    SqliteStoreSettings,
    default_database_path,
)
from lash_store_sqlite.store import SqliteStore

__all__ = [
    "APPLICATION_ID",
    "MEMORY_PATH",
    "SCHEMA_VERSION",
    "SqliteDatabase",
    "SqliteDurability",
    "SqliteEffectJournal",
    "SqliteJournalSettings",
    "SqliteStore",
    "SqliteStoreSettings",
    "default_database_path",
    "journaling_host",
]
