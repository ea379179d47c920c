"""A PostgreSQL session store for lash: many workers, one shared schema, leases decided
by the database clock.

* :class:`PostgresStore` implements the whole store contract
  (:class:`lash_core.store.SessionStore`) with :class:`PostgresSettings`;
* :class:`PostgresEffectJournal` journals effect outcomes for the ``postgres-journal``
  effect host (:func:`journaling_host`), so a re-run turn replays them on any worker;
* :func:`ensure_schema` (console script ``lash-postgres-schema``, CLI command
  ``lash postgres-schema``) creates or upgrades the tables.
"""

from lash_store_postgres.errors import PostgresUnavailable, TransientStoreError
from lash_store_postgres.journal import PostgresEffectJournal, journaling_host
from lash_store_postgres.schema import COMPONENT, SCHEMA_VERSION, SchemaStatus, ensure_schema, schema_ddl
from lash_store_postgres.settings import DSN_ENV, PostgresSettings, resolve_dsn
from lash_store_postgres.store import PostgresStore

__all__ = [
    "COMPONENT",
    "DSN_ENV",
    "SCHEMA_VERSION",
    "PostgresEffectJournal",
    "PostgresSettings",
    "PostgresStore",
    "PostgresUnavailable",
    "SchemaStatus",
    "TransientStoreError",
    "ensure_schema",
    "journaling_host",
    "resolve_dsn",
    "schema_ddl",
]
