"""The connection pool and the transaction runner of the PostgreSQL store (private).

psycopg's async API is bound to asyncio, and lash runs on asyncio and trio alike, so
the store uses psycopg's *sync* API on worker threads: every store call is one short
transaction run by :meth:`Database.run` in ``anyio.to_thread.run_sync``, limited to
``max_pool_size`` threads. A cancelled caller waits for its transaction to finish
(bounded by ``statement_timeout_ms``) before the cancellation is delivered, so a
transaction is never abandoned half-way on the client side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread
import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from lash_core.errors import SchemaVersionError, StoreClosed, StoreError
from lash_store_postgres.errors import TRANSIENT_SQLSTATES, PostgresUnavailable, TransientStoreError
from lash_store_postgres.schema import prepare_schema
from lash_store_postgres.settings import PostgresSettings, describe_dsn, quote_schema

__all__: list[str] = []

P = ParamSpec("P")
R = TypeVar("R")

# Milliseconds since the epoch on the database clock, read when the expression is evaluated.
NOW_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

_MISSING_OBJECT = frozenset({"42P01", "3F000", "42883"})  # undefined table, schema, function


class Tx:
    """One open transaction of the store: a cursor returning dict rows, and helpers that
    render ``{s}`` in SQL as the store's quoted schema name."""

    def __init__(self, cur: psycopg.Cursor[DictRow], schema: str) -> None:
        self.cur = cur
        self.schema = schema

    def sql(self, query: str) -> str:
        """``query`` with ``{s}`` replaced by the quoted schema name."""
        return query.replace("{s}", self.schema)

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> int:
        """Run a statement; returns the number of rows it affected."""
        self.cur.execute(self.sql(query), params)
        return self.cur.rowcount

    def one(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> DictRow | None:
        """The first row of a query, or ``None``."""
        self.cur.execute(self.sql(query), params)
        return self.cur.fetchone()

    def all(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[DictRow]:
        """Every row of a query."""
        self.cur.execute(self.sql(query), params)
        return self.cur.fetchall()

    def many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per parameter row (pipelined by psycopg)."""
        if rows:
            self.cur.executemany(self.sql(query), rows)

    def now_ms(self) -> int:
        """The database clock now, in epoch milliseconds."""
        row = self.one(f"SELECT {NOW_MS} AS now_ms")
        assert row is not None
        return int(row["now_ms"])

    def lock_session(self, session_id: str) -> None:
        """Take the session's transaction-scoped advisory lock (lease changes and commits of one
        session are serialized by it; it is released at commit or rollback)."""
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"lash-session:{self.schema}:{session_id}",),
        )


class Database:
    """A psycopg connection pool plus the thread limiter the store's calls run under."""

    def __init__(self, conninfo: str, settings: PostgresSettings) -> None:
        self.conninfo = conninfo
        self.settings = settings
        self.schema = quote_schema(settings.schema)
        self.where = describe_dsn(conninfo)
        self._pool: ConnectionPool[psycopg.Connection[DictRow]] | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._pool is not None

    async def open(self) -> None:
        """Open the pool (waiting for ``min_pool_size`` connections) and check the schema
        (creating it when allowed and absent)."""
        if self._pool is not None:
            return
        settings = self.settings
        pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
            self.conninfo,
            min_size=settings.min_pool_size,
            max_size=settings.max_pool_size,
            timeout=settings.pool_timeout_s,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "application_name": "lash-store-postgres",
                "connect_timeout": max(2, round(settings.connect_timeout_s)),
            },
            configure=self._configure,
            check=ConnectionPool.check_connection,
            open=False,
            name=f"lash-store-postgres:{settings.schema}",
        )
        limiter = anyio.CapacityLimiter(settings.max_pool_size)
        try:
            await anyio.to_thread.run_sync(
                partial(pool.open, wait=settings.min_pool_size > 0, timeout=settings.connect_timeout_s)
            )
            self._pool, self._limiter = pool, limiter
            await self.run("opening the store", self._prepare)
        except BaseException as exc:
            self._pool = self._limiter = None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)
            if isinstance(exc, PoolTimeout):
                raise self._unavailable(f"cannot connect to PostgreSQL at {self.where}", exc) from exc
            raise

    def _prepare(self, tx: Tx) -> None:
        prepare_schema(
            tx.cur,
            self.settings.schema,
            create=self.settings.create_schema,
            upgrade=False,
            where=self.where,
        )

    def _configure(self, conn: psycopg.Connection[DictRow]) -> None:
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
            (str(self.settings.statement_timeout_ms), str(self.settings.lock_timeout_ms)),
        )

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        pool, self._pool, self._limiter = self._pool, None, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)

    async def run(
        self, operation: str, fn: Callable[Concatenate[Tx, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run ``fn(tx, *args, **kwargs)`` in one transaction on a worker thread.

        ``operation`` names the call in error messages. Lash errors raised by ``fn`` roll
        the transaction back and propagate; database errors become
        :class:`TransientStoreError`, :class:`PostgresUnavailable` or a
        :class:`~lash_core.errors.StoreError` that says what happened.
        """
        pool, limiter = self._pool, self._limiter
        if pool is None or limiter is None:
            raise StoreClosed("postgres")
        call = partial(self._run_sync, pool, operation, partial(fn, **kwargs), args)
        return await anyio.to_thread.run_sync(call, limiter=limiter)

    def _run_sync(
        self,
        pool: ConnectionPool[psycopg.Connection[DictRow]],
        operation: str,
        fn: Callable[..., R],
        args: tuple[Any, ...],
    ) -> R:
        try:
            with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return fn(Tx(cur, self.schema), *args)
        except PoolTimeout as exc:
            raise self._unavailable(
                f"no connection to PostgreSQL at {self.where} was free for {operation} within "
                f"pool_timeout_s={self.settings.pool_timeout_s} (raise max_pool_size if the pool is busy)",
                exc,
            ) from exc
        except psycopg.Error as exc:
            raise self._translate(operation, exc) from exc

    def _translate(self, operation: str, exc: psycopg.Error) -> Exception:
        sqlstate = exc.sqlstate or ""
        detail = (exc.diag.message_primary or str(exc)).strip()
        if sqlstate in TRANSIENT_SQLSTATES:
            return TransientStoreError(operation, sqlstate, detail)
        if sqlstate in _MISSING_OBJECT:
            return SchemaVersionError(
                f"{operation} failed because the lash tables are missing in schema {self.settings.schema!r} "
                f"at {self.where} ({detail}); create them with `lash-postgres-schema --schema "
                f"{self.settings.schema}` (was the schema dropped while the store was open?)"
            )
        if isinstance(exc, psycopg.InterfaceError) or (
            isinstance(exc, psycopg.OperationalError) and not sqlstate.startswith(("22", "23", "42"))
        ):
            return self._unavailable(
                f"the connection to PostgreSQL at {self.where} failed during {operation}", exc
            )
        return StoreError(
            f"PostgreSQL failed {operation} (SQLSTATE {sqlstate or 'unknown'}: {detail}); nothing of the call "
            "was written: check the server log, and report it as a bug if the schema is intact"
        )

    def _unavailable(self, what: str, exc: BaseException) -> PostgresUnavailable:
        return PostgresUnavailable(
            f"{what} ({str(exc).strip() or type(exc).__name__}); check that the "
            "server is running and the dsn (or LASH_POSTGRES_DSN) is right, then retry (a turn commit "
            "retried with the same turn id is idempotent)"
        )
