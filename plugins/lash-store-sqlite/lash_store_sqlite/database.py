"""One SQLite connection on worker threads: opening, checking, transactions.

:class:`SqliteDatabase` owns one stdlib ``sqlite3`` connection (autocommit mode, so
every transaction is explicit) and a lock. Each operation runs as a function of the
connection on an anyio worker thread while holding the lock, inside ``BEGIN IMMEDIATE``
(writes: the write lock is taken up front, so a transaction never fails half-way on a
lock upgrade; other connections wait up to ``busy_timeout_ms``) or ``BEGIN`` (reads: one
consistent snapshot). Several processes may open the same file: WAL lets readers run
beside the one writer, and every write transaction is serialized by SQLite itself.

Opening checks the file before anything writes to it (see :mod:`lash_store_sqlite.schema`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio.lowlevel
import anyio.to_thread

from lash_core.clock import Clock, SystemClock
from lash_core.errors import StoreClosed, StoreCorrupt, StoreError
from lash_store_sqlite.schema import create_schema, inspect_database
from lash_store_sqlite.settings import MEMORY_PATH, SqliteDurability

__all__ = ["SqliteDatabase"]

T = TypeVar("T")

_SQLITE_MAGIC = b"SQLite format 3\x00"


class SqliteDatabase:
    """A lash database file (or a private in-memory database) and its one connection.

    Several stores (and journals) may share one ``SqliteDatabase`` object: they act like
    handles on one database, serialized by its lock. ``open()`` is idempotent;
    ``close()`` closes the connection (an in-memory database is gone afterwards).
    """

    def __init__(
        self,
        path: str,
        *,
        durability: SqliteDurability = SqliteDurability.FULL,
        busy_timeout_ms: int = 15_000,
        clock: Clock | None = None,
        name: str = "sqlite",
    ) -> None:
        """A database at ``path`` (``~`` is expanded; ``":memory:"``: private, in memory);
        nothing is opened yet."""
        self.path = path if path == MEMORY_PATH else os.path.expanduser(path)
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self.name = name
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._queue: anyio.Lock | None = None
        self._queue_loop: object = None
        self._conn: sqlite3.Connection | None = None
        # Commits cost no flush to disk (memory or a RAM file system): writes may run inline.
        self._inline_writes = self.in_memory or on_ram_file_system(self.path)

    @property
    def in_memory(self) -> bool:
        """True for a private in-memory database."""
        return self.path == MEMORY_PATH

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        return self._conn is not None

    @property
    def where(self) -> str:
        """How messages name this database."""
        return "the in-memory SQLite database" if self.in_memory else f"SQLite database {self.path!r}"

    async def open(self) -> None:
        """Open the connection, check the file and create the schema in a new file."""
        await anyio.to_thread.run_sync(self._open_sync)

    async def close(self) -> None:
        """Close the connection (waits for a running operation)."""
        await anyio.to_thread.run_sync(self._close_sync)

    async def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation(conn)`` in one read transaction (a consistent snapshot), on a
        worker thread."""
        async with self._turn():
            return await anyio.to_thread.run_sync(self._run, operation, "BEGIN")

    async def peek(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Like :meth:`read`, for a short read (a probe, a head, a lease): it runs right here
        on the event loop's thread once the connection's turn comes, sparing the hop to a
        worker thread (a WAL read never waits for writers)."""
        async with self._turn():
            if self._lock.acquire(blocking=False):
                try:
                    return self._run_unlocked(operation, "BEGIN")
                finally:
                    self._lock.release()
            return await anyio.to_thread.run_sync(self._run, operation, "BEGIN")

    async def write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation(conn)`` in one ``BEGIN IMMEDIATE`` transaction: committed when it
        returns, rolled back entirely when it raises.

        A database whose commits cost no disk flush (in memory, or a file on a RAM file system
        such as ``/dev/shm``) runs the write right here on the event loop's thread when the
        connection is free and no other process holds the write lock; otherwise, and always
        for a file on disk (whose commit waits for ``fsync``), on a worker thread."""
        async with self._turn():
            if self._inline_writes and self._lock.acquire(blocking=False):
                try:
                    conn = self._connection()
                    if self._begin_without_waiting(conn):
                        return self._complete(conn, operation)
                finally:
                    self._lock.release()
            return await anyio.to_thread.run_sync(self._run, operation, "BEGIN IMMEDIATE")

    def _turn(self) -> anyio.Lock:
        """The event loop's queue for the one connection: operations of this loop take turns
        on it (FIFO) instead of each waiting on a worker thread for the connection's lock, so
        the short ones can run inline. One queue per event loop (a database object may
        outlive a loop, as in tests)."""
        token = anyio.lowlevel.current_token()
        if self._queue is None or self._queue_loop != token:
            self._queue, self._queue_loop = anyio.Lock(), token
        return self._queue

    async def pragma(self, name: str) -> object:
        """The value of ``PRAGMA name`` on this connection (for diagnostics and tests)."""

        def read(conn: sqlite3.Connection) -> object:
            return conn.execute(f"PRAGMA {name}").fetchone()[0]

        return await anyio.to_thread.run_sync(self._locked, read)

    async def set_trace(self, callback: Callable[[str], object] | None) -> None:
        """Call ``callback`` with every SQL statement the connection runs (``None``: stop);
        for diagnostics and tests."""
        await anyio.to_thread.run_sync(self._locked, lambda conn: conn.set_trace_callback(callback))

    # -- on the worker thread -----------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosed(self.name)
        return self._conn

    def _locked(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            return operation(self._connection())

    def _run(self, operation: Callable[[sqlite3.Connection], T], begin: str) -> T:
        with self._lock:
            return self._run_unlocked(operation, begin)

    def _run_unlocked(self, operation: Callable[[sqlite3.Connection], T], begin: str) -> T:
        """One transaction of ``operation`` (the caller holds the lock)."""
        conn = self._connection()
        try:
            conn.execute(begin)
        except sqlite3.OperationalError as exc:
            raise _busy_error(self, exc) from exc
        return self._complete(conn, operation)

    def _begin_without_waiting(self, conn: sqlite3.Connection) -> bool:
        """Begin a write transaction unless another connection holds the write lock (then
        ``False``, without waiting for it)."""
        if self.in_memory:  # private to this connection: nobody else can hold its lock
            conn.execute("BEGIN IMMEDIATE")
            return True
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")

    def _complete(self, conn: sqlite3.Connection, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``operation`` in the begun transaction and commit it (roll back when it raises)."""
        try:
            result = operation(conn)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _database_error(self, exc) from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{self.where} could not commit: {exc}; nothing was written, retry") from exc
        return result

    def _close_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _open_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                return
            if not self.in_memory:
                _check_file_header(self.path, self.where)
                try:
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"the directory of {self.where} cannot be created ({exc}); point `path` at a "
                        "writable location"
                    ) from exc
            # Switching a new file to WAL needs an exclusive lock and SQLite does not always wait
            # for it (no busy handler there): when several connections open one new file at once,
            # retry "database is locked" until the busy timeout is spent.
            deadline = time.monotonic() + self.busy_timeout_ms / 1000
            delay = 0.01
            while True:
                try:
                    self._conn = self._connect_and_configure()
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                        raise _open_error(self, exc) from exc
                except sqlite3.Error as exc:
                    raise _open_error(self, exc) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _connect_and_configure(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        try:
            new = _inspect_snapshot(conn, self.where)
        except sqlite3.OperationalError:
            raise  # cannot open, locked, I/O: not evidence of a damaged file
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(
                f"{self.where} cannot be read as a SQLite database ({exc}); it is not a lash session store "
                "or it is damaged, and it was left untouched: restore it from a backup or point `path` at "
                "a new file"
            ) from exc
        if not self.in_memory:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{self.where} could not switch to WAL journaling (journal mode is {mode!r}); "
                    "put the database on a local file system that supports shared memory"
                )
        conn.execute(f"PRAGMA synchronous = {self.durability.pragma}")
        if new:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have created the schema since we looked.
                if inspect_database(conn, self.where):
                    create_schema(conn, self._clock.now_ms())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise


def _inspect_snapshot(conn: sqlite3.Connection, where: str) -> bool:
    """:func:`inspect_database` in one read transaction: the markers and the table list come
    from one snapshot, even while another process is creating the schema."""
    conn.execute("BEGIN")
    try:
        return inspect_database(conn, where)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # a read: nothing to keep


def _check_file_header(path: str, where: str) -> None:
    """Refuse an existing, non-empty file that is not a SQLite database, before SQLite opens it."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except IsADirectoryError as exc:
        raise StoreError(f"{where} is a directory; point `path` at a database file inside it") from exc
    except OSError as exc:
        raise StoreError(f"{where} cannot be read ({exc}); point `path` at a writable location") from exc
    if header and header != _SQLITE_MAGIC[: len(header)]:
        raise StoreCorrupt(
            f"{where} is not a SQLite database (it does not start with the SQLite header), so it is not a "
            "lash session store; it was left untouched: point `path` at a new file or a lash database"
        )
    if header and len(header) < len(_SQLITE_MAGIC):
        raise StoreCorrupt(f"{where} is truncated ({len(header)} bytes); it was left untouched")


def _open_error(db: SqliteDatabase, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        f"{db.where} could not be opened ({type(exc).__name__}: {exc}); check that the directory exists "
        "and is writable, the file's permissions, free disk space, and that no other program holds it "
        f"locked longer than busy_timeout_ms={db.busy_timeout_ms}"
    )


def _database_error(db: SqliteDatabase, exc: sqlite3.Error) -> StoreError:
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.OperationalError | sqlite3.IntegrityError
    ):
        return StoreCorrupt(
            f"{db.where} failed a read or write ({exc}); the file is damaged: nothing was written, "
            "restore it from a backup"
        )
    return StoreError(f"{db.where} failed ({type(exc).__name__}: {exc}); nothing was written, retry")


def _busy_error(db: SqliteDatabase, exc: sqlite3.OperationalError) -> StoreError:
    return StoreError(
        f"{db.where} stayed locked by another connection for more than busy_timeout_ms="
        f"{db.busy_timeout_ms} ({exc}); nothing was written: retry, or raise busy_timeout_ms"
    )


def on_ram_file_system(path: str) -> bool:
    """True when ``path`` lies on a RAM file system (``tmpfs``/``ramfs``, e.g. ``/dev/shm``),
    read from ``/proc/self/mounts``; ``False`` where that cannot be told."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    target = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    best, fstype = "", ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype in ("tmpfs", "ramfs")
