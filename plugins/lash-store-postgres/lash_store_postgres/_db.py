"""The connection pool and the transaction runner of the PostgreSQL store (private).

psycopg's async API is bound to asyncio, and lash runs on asyncio and trio alike, so
the store uses psycopg's *sync* API on worker threads: every store call is one short
transaction run by :meth:`Database.run` in ``anyio.to_thread.run_sync``, limited to
``max_pool_size`` threads. A cancelled caller waits for its transaction to finish
(bounded by ``statement_timeout_ms``) before the cancellation is delivered, so a
transaction is never abandoned half-way on the client side.

**Round trips.** A transaction runs in psycopg's pipeline mode: statements whose results
the call does not need yet are queued (:meth:`Tx.send`, :meth:`Tx.later`) and go to the
server together with the next statement whose result it needs, in one round trip. The
``BEGIN`` rides with the first batch, and the ``COMMIT`` with the last: with the call's
final statement (``last=True``) or on its own when the call returns. A call that reads
once and writes is two round trips; a plain read is one. Statements still *run* one after
the other, each with its own snapshot (READ COMMITTED), so a read queued after
:meth:`Tx.lock_session` sees everything committed before the lock was granted.

**Broken connections.** A pooled connection is not pinged before use (that was a round
trip per call). Instead the runner looks at its socket without a round trip: a connection
the server closed while it sat in the pool (a restart, ``pg_terminate_backend``, an idle
timeout) has its goodbye waiting there, and only then is it asked (one empty query) and
dropped when it fails. A connection that breaks anyway before the call's ``COMMIT`` was
sent is dropped and the whole call is run again on another connection: the server rolls
back whatever an unfinished transaction did. A connection that breaks once the ``COMMIT``
was sent leaves the outcome unknown: the call raises
:class:`~lash_store_postgres.errors.PostgresUnavailable`, unless it declared itself
idempotent (:attr:`Tx.idempotent`: a turn commit, a journal write, a read), which is run
again.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio
import anyio.to_thread
import psycopg
from psycopg.pq import TransactionStatus
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

Params = Sequence[Any] | dict[str, Any] | None


class Rows:
    """The result of a statement sent ahead with :meth:`Tx.later`, read on first use (which
    sends whatever is queued, in one round trip, unless a later read already did)."""

    __slots__ = ("_batch", "_cur", "_tx")

    def __init__(self, tx: Tx, cur: psycopg.Cursor[DictRow]) -> None:
        self._tx, self._cur, self._batch = tx, cur, tx.batch

    def _ready(self) -> psycopg.Cursor[DictRow]:
        if self._tx.batch == self._batch:
            self._tx.sync()
        return self._cur

    def one(self) -> DictRow | None:
        """The first row, or ``None``."""
        return self._ready().fetchone()

    def all(self) -> list[DictRow]:
        """Every row."""
        return self._ready().fetchall()

    @property
    def count(self) -> int:
        """The number of rows the statement affected."""
        return self._ready().rowcount


class Tx:
    """One open transaction of the store, and helpers that render ``{s}`` in SQL as the
    store's quoted schema name.

    Statements are pipelined (see the module docstring): :meth:`send` and :meth:`later`
    queue, :meth:`one`, :meth:`all` and :meth:`execute` send the queue and wait for their
    result. ``last=True`` marks the call's final statement: the ``COMMIT`` is sent with it,
    nothing may run after it, and the caller must not raise after it.
    """

    def __init__(self, conn: psycopg.Connection[DictRow], schema: str, *, pipelined: bool = True) -> None:
        self.conn = conn
        self.schema = schema
        self.pipelined = pipelined
        self.batch = 0  # round trips (syncs) so far
        self.commit_sent = False
        #: Set by a call whose effect is the same when it runs twice (a read, a turn commit
        #: retried by turn id and hash): it is run again when the connection breaks after its
        #: ``COMMIT`` was sent, whose outcome is then unknown.
        self.idempotent = False
        #: Set while a call composes other calls' steps (each of which ends with a ``last``
        #: statement): their ``last`` marks are ignored, and the ``COMMIT`` is sent on its own.
        self.composing = False
        self._pipeline: AbstractContextManager[psycopg.Pipeline] | None = None

    def sql(self, query: str) -> str:
        """``query`` with ``{s}`` replaced by the quoted schema name."""
        return query.replace("{s}", self.schema)

    def _queue(self, query: str, params: Params, *, prepare: bool | None = None) -> psycopg.Cursor[DictRow]:
        self._open()
        cur = self.conn.cursor()
        cur.execute(self.sql(query), params, prepare=prepare)
        return cur

    def _open(self) -> None:
        if self.commit_sent:
            raise RuntimeError("a statement after the transaction's last one (last=True); this is a bug")
        if self.pipelined and self._pipeline is None:
            self._pipeline = self.conn.pipeline()
            self._pipeline.__enter__()

    def sync(self) -> None:
        """Send the queued statements and read all their results (one round trip); raises the
        first error among them."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            self.batch += 1
            pipeline.__exit__(None, None, None)

    def _wait(self, cur: psycopg.Cursor[DictRow], last: bool) -> psycopg.Cursor[DictRow]:
        if last and not self.composing:
            self.end()
        self.sync()
        return cur

    def send(self, query: str, params: Params = None) -> None:
        """Queue a statement whose result is not needed (its error, if any, is raised by the
        next read or the commit)."""
        self._queue(query, params)

    def later(self, query: str, params: Params = None) -> Rows:
        """Queue a statement whose rows are read later (:class:`Rows`)."""
        return Rows(self, self._queue(query, params))

    def execute(self, query: str, params: Params = None, *, last: bool = False) -> int:
        """Run a statement; returns the number of rows it affected."""
        return self._wait(self._queue(query, params), last).rowcount

    def one(self, query: str, params: Params = None, *, last: bool = False) -> DictRow | None:
        """The first row of a query, or ``None``."""
        return self._wait(self._queue(query, params), last).fetchone()

    def all(self, query: str, params: Params = None, *, last: bool = False) -> list[DictRow]:
        """Every row of a query."""
        return self._wait(self._queue(query, params), last).fetchall()

    def many(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue a statement once per parameter row."""
        if rows:
            self._open()
            self.conn.cursor().executemany(self.sql(query), rows)

    def now_ms(self) -> int:
        """The database clock now, in epoch milliseconds."""
        row = self.one(f"SELECT {NOW_MS} AS now_ms")
        assert row is not None
        return int(row["now_ms"])

    def lock_session(self, session_id: str) -> None:
        """Take the session's transaction-scoped advisory lock (lease changes and commits of one
        session are serialized by it; it is released at commit or rollback). Queued: statements
        sent after it run once it is granted."""
        self.send(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"lash-session:{self.schema}:{session_id}",),
        )

    # -- the transaction itself (pipelined), driven by Database ----------------------------

    def begin(self) -> None:
        """Queue ``BEGIN``."""
        self._queue("BEGIN", None, prepare=False)

    def end(self) -> None:
        """Queue ``COMMIT`` (sent by the next :meth:`sync`); nothing may be queued after it."""
        if not self.pipelined:
            raise RuntimeError("last=True needs a pipelined transaction; this is a bug")
        self._queue("COMMIT", None, prepare=False)
        self.commit_sent = True

    def abort(self) -> None:
        """Roll back after a failure, quietly, and leave pipeline mode (a broken connection is
        left to the pool, which drops it)."""
        conn = self.conn
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            if not self.commit_sent:
                with suppress(psycopg.Error):
                    conn.cursor().execute("ROLLBACK", prepare=False)
            with suppress(psycopg.Error):
                pipeline.__exit__(None, None, None)  # reads every pending result
        if not conn.closed and conn.pgconn.transaction_status != TransactionStatus.IDLE:
            # a statement failed in the batch, so the ROLLBACK above was skipped
            with suppress(psycopg.Error):
                conn.execute("ROLLBACK", prepare=False)


def _socket_readable(fd: int) -> bool:
    """True when the socket has something to read (or is closed) right now."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def check_idle_connection(conn: psycopg.Connection[Any]) -> None:
    """Raise unless a pooled connection looks usable, without a round trip when it does.

    An idle connection has nothing to read: when the server closed it (a restart,
    ``pg_terminate_backend``, ``idle_session_timeout``) its goodbye is waiting on the socket,
    and the server is asked (one empty query), which raises when it is gone.
    """
    if conn.closed:
        raise psycopg.OperationalError("the pooled connection is closed")
    if _socket_readable(conn.fileno()):
        ConnectionPool.check_connection(conn)


class _Attempt:
    """What one attempt of a call got to before it failed."""

    __slots__ = ("broken", "tx")

    def __init__(self) -> None:
        self.tx: Tx | None = None
        self.broken = False

    @property
    def may_retry(self) -> bool:
        """True when the connection broke and running the call again cannot apply it twice."""
        tx = self.tx
        return self.broken and (tx is None or not tx.commit_sent or tx.idempotent)


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
            open=False,
            name=f"lash-store-postgres:{settings.schema}",
        )
        limiter = anyio.CapacityLimiter(settings.max_pool_size)
        try:
            await anyio.to_thread.run_sync(
                partial(pool.open, wait=settings.min_pool_size > 0, timeout=settings.connect_timeout_s)
            )
            self._pool, self._limiter = pool, limiter
            await self._call("opening the store", self._prepare, (), pipelined=False)
        except BaseException as exc:
            self._pool = self._limiter = None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pool.close)
            if isinstance(exc, PoolTimeout):
                raise self._unavailable(f"cannot connect to PostgreSQL at {self.where}", exc) from exc
            raise

    def _prepare(self, tx: Tx) -> None:
        prepare_schema(
            tx.conn.cursor(),
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
        :class:`~lash_core.errors.StoreError` that says what happened. A connection that
        turns out broken is replaced and the call run again when that cannot apply it twice
        (see the module docstring).
        """
        return await self._call(operation, partial(fn, **kwargs), args)

    async def _call(
        self, operation: str, fn: Callable[..., R], args: tuple[Any, ...], *, pipelined: bool = True
    ) -> R:
        pool, limiter = self._pool, self._limiter
        if pool is None or limiter is None:
            raise StoreClosed("postgres")
        call = partial(self._run_sync, pool, operation, fn, args, pipelined)
        return await anyio.to_thread.run_sync(call, limiter=limiter)

    def _run_sync(
        self,
        pool: ConnectionPool[psycopg.Connection[DictRow]],
        operation: str,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        pipelined: bool,
    ) -> R:
        # Every pooled connection may be broken at once (a server restart): each failed
        # attempt drops one, so max_pool_size + 1 attempts reach a fresh connection.
        attempts = self.settings.max_pool_size + 1
        for attempt in range(1, attempts + 1):
            state = _Attempt()
            try:
                return self._attempt(pool, fn, args, pipelined, state)
            except PoolTimeout as exc:
                raise self._unavailable(
                    f"no connection to PostgreSQL at {self.where} was free for {operation} within "
                    f"pool_timeout_s={self.settings.pool_timeout_s} (raise max_pool_size if the pool is busy)",
                    exc,
                ) from exc
            except psycopg.Error as exc:
                if state.may_retry and attempt < attempts:
                    continue
                raise self._translate(operation, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        pool: ConnectionPool[psycopg.Connection[DictRow]],
        fn: Callable[..., R],
        args: tuple[Any, ...],
        pipelined: bool,
        state: _Attempt,
    ) -> R:
        with pool.connection() as conn:
            try:
                check_idle_connection(conn)
                tx = state.tx = Tx(conn, self.schema, pipelined=pipelined)
                if not pipelined:
                    with conn.transaction():
                        result = fn(tx, *args)
                        tx.commit_sent = True
                    return result
                tx.begin()
                try:
                    result = fn(tx, *args)
                    if not tx.commit_sent:
                        tx.end()
                    tx.sync()
                except BaseException:
                    tx.abort()
                    raise
                return result
            except psycopg.Error:
                state.broken = conn.closed
                raise

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
