"""Entry point of the PostgreSQL plugin: the ``postgres`` store, the ``postgres-journal``
effect host and the ``postgres-schema`` command of the ``lash`` CLI."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_store_postgres.cli import postgres_schema
from lash_store_postgres.journal import journaling_host
from lash_store_postgres.settings import PostgresSettings
from lash_store_postgres.store import PostgresStore


def _make_store(settings: PostgresSettings | None = None) -> PostgresStore:
    return PostgresStore(settings)


@hookimpl
def register_stores(register: Any) -> None:
    """Register the ``postgres`` store."""
    register(
        "postgres",
        _make_store,
        settings=PostgresSettings,
        description="PostgreSQL, shared by many workers; leases on the database clock (durable)",
    )


@hookimpl
def register_effect_hosts(register: Any) -> None:
    """Register the ``postgres-journal`` effect host."""
    register(
        "postgres-journal",
        journaling_host,
        settings=PostgresSettings,
        description="journal effect results in PostgreSQL and replay them when a turn is re-run on any worker",
    )


@hookimpl
def register_commands(register: Any) -> None:
    """Register ``lash postgres-schema``."""
    register(postgres_schema)
