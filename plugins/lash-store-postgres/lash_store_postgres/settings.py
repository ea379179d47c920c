"""Settings of the PostgreSQL store (the ``[store.settings]`` table of ``lash.toml``)."""

from __future__ import annotations

import os
import re

from attrs import frozen
from psycopg.conninfo import conninfo_to_dict

from lash_core.errors import ConfigError

__all__ = ["DSN_ENV", "PostgresSettings", "describe_dsn", "quote_schema", "resolve_dsn"]

DSN_ENV = "LASH_POSTGRES_DSN"

_ENV_REF = re.compile(r"^\$env:([A-Za-z_][A-Za-z0-9_]*)$")


@frozen
class PostgresSettings:
    """How the store reaches PostgreSQL and where its tables live.

    ``dsn``: a libpq connection string or URI (``postgresql://user@host:5432/db``); a
    ``$env:NAME`` reference is read from that environment variable; when left out the
    store reads :data:`DSN_ENV` (``LASH_POSTGRES_DSN``).
    ``schema``: the PostgreSQL schema that holds every table of the store (created on first
    use when ``create_schema`` is true).
    ``min_pool_size`` / ``max_pool_size``: connections kept open / opened at most;
    ``max_pool_size`` also bounds the worker threads the store runs queries on.
    ``pool_timeout_s``: how long a call waits for a free connection.
    ``connect_timeout_s``: how long opening the store waits for its first connections.
    ``statement_timeout_ms`` / ``lock_timeout_ms``: server-side backstops set on every
    connection; a statement or lock wait past them fails with a retryable error.
    ``create_schema``: create the tables on ``open()`` when the schema has none (a
    version mismatch is never repaired automatically: run ``lash-postgres-schema``).
    """

    dsn: str | None = None
    schema: str = "lash"
    min_pool_size: int = 1
    max_pool_size: int = 10
    pool_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 10_000
    create_schema: bool = True

    def __attrs_post_init__(self) -> None:
        quote_schema(self.schema)
        if self.min_pool_size < 0 or self.max_pool_size < 1 or self.min_pool_size > self.max_pool_size:
            raise ConfigError(
                f"invalid pool sizes min_pool_size={self.min_pool_size}, max_pool_size={self.max_pool_size} "
                "in [store.settings]: use 0 <= min_pool_size <= max_pool_size and max_pool_size >= 1"
            )
        for name in ("pool_timeout_s", "connect_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{name} in [store.settings] must be greater than 0, got {getattr(self, name)}"
                )
        for name in ("statement_timeout_ms", "lock_timeout_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"{name} in [store.settings] must be 0 (no limit) or a positive number of milliseconds, "
                    f"got {getattr(self, name)}"
                )


def resolve_dsn(dsn: str | None) -> str:
    """The connection string to use: ``dsn`` itself, the variable a ``$env:NAME`` reference
    names, or ``LASH_POSTGRES_DSN`` when ``dsn`` is ``None``/empty; a :class:`ConfigError`
    says what to set when there is none."""
    if dsn:
        match = _ENV_REF.match(dsn.strip())
        if match is None:
            return dsn
        name = match.group(1)
        value = os.environ.get(name, "")
        if not value:
            raise ConfigError(
                f"the postgres store's dsn refers to ${{env:{name}}} ({dsn!r}) but environment variable "
                f"{name} is not set: export {name}=postgresql://user@host:5432/dbname"
            )
        return value
    value = os.environ.get(DSN_ENV, "")
    if not value:
        raise ConfigError(
            f'the postgres store has no connection string: set dsn = "postgresql://user@host:5432/dbname" '
            f'(or dsn = "$env:NAME") in [store.settings], or export {DSN_ENV}'
        )
    return value


def describe_dsn(dsn: str) -> str:
    """``user@host:port/dbname`` of a connection string, without its password (for messages)."""
    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable connection string>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = parts.get("port") or "5432"
    return f"{user}{host}:{port}/{parts.get('dbname') or '(default database)'}"


def quote_schema(schema: str) -> str:
    """The schema name as a quoted SQL identifier; a :class:`ConfigError` for a name
    PostgreSQL cannot hold."""
    if not schema or "\x00" in schema or len(schema.encode()) > 63:
        raise ConfigError(
            f"schema {schema!r} in [store.settings] is not a valid PostgreSQL schema name: use 1 to 63 "
            'bytes without NUL, such as "lash"'
        )
    return '"' + schema.replace('"', '""') + '"'
