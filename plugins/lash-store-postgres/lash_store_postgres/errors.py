"""Errors the PostgreSQL store adds to the kernel's hierarchy (:mod:`lash_core.errors`).

::

    StoreError
    ├── HeadConflict
    │   └── TransientStoreError   the database refused a transaction for now (serialization
    │                             failure, deadlock, lock or statement timeout): retry it
    └── PostgresUnavailable       the server cannot be reached or dropped the connection
"""

from __future__ import annotations

from lash_core.errors import HeadConflict, StoreError

__all__ = ["PostgresUnavailable", "TransientStoreError"]


class TransientStoreError(HeadConflict):
    """PostgreSQL refused a transaction for a reason that goes away on retry.

    Serialization failures (SQLSTATE 40001), deadlocks (40P01), lock timeouts (55P03)
    and statement timeouts (57014) roll the whole transaction back, so nothing was
    written. It is a :class:`~lash_core.errors.HeadConflict` so a host that already
    retries head conflicts (reload the session, run the turn again) handles it too.
    ``retryable`` is always true; ``sqlstate`` names the cause.
    """

    retryable = True

    def __init__(self, operation: str, sqlstate: str, detail: str) -> None:
        super().__init__(
            f"PostgreSQL refused {operation} for now ({_CAUSES.get(sqlstate, sqlstate)}: {detail}); "
            "the transaction was rolled back and wrote nothing: retry the call (raise lock_timeout_ms / "
            "statement_timeout_ms in [store.settings] if it keeps happening)"
        )
        self.operation = operation
        self.sqlstate = sqlstate


class PostgresUnavailable(StoreError):
    """The server could not be reached, no pooled connection was free in time, or the
    connection broke during a call (whose outcome is then unknown: a turn commit retried
    with the same turn id and content is idempotent)."""

    retryable = True


_CAUSES = {
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "55P03": "lock timeout",
    "57014": "statement timeout",
}

TRANSIENT_SQLSTATES = frozenset(_CAUSES)
