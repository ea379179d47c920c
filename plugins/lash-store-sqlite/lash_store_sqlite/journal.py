"""The effect journal in the store's database, and the ``sqlite-journal`` effect host.

:class:`SqliteEffectJournal` implements :class:`lash_core.effects_journal.EffectJournal`
over the ``effect_journal`` table of a lash SQLite database (the same file as the
sessions): one row per ``(scope_id, replay_key)``, written in its own transaction
before the turn sees the effect's result, so a crash right after an effect keeps it.
The first row for a key wins. Rows are deleted with their session.

:func:`journaling_host` builds the kernel's
:class:`~lash_core.effects_journal.JournalingEffectHost` over it: durable for a file,
inline for ``:memory:``.
"""

from __future__ import annotations

import sqlite3

from lash_core.clock import Clock, SystemClock
from lash_core.effects import DurabilityTier
from lash_core.effects_journal import JournalEntry, JournalingEffectHost, JournalStatus
from lash_store_sqlite.database import SqliteDatabase
from lash_store_sqlite.settings import SqliteJournalSettings

__all__ = ["SqliteEffectJournal", "journaling_host"]


class SqliteEffectJournal:
    """Effect outcomes in the ``effect_journal`` table of a lash SQLite database.

    Opens its connection on first use (effect hosts have no open step) and keeps it
    until :meth:`aclose`. Pass ``database`` to share a connection with a store.
    """

    def __init__(
        self,
        settings: SqliteJournalSettings | None = None,
        *,
        database: SqliteDatabase | None = None,
        clock: Clock | None = None,
    ) -> None:
        """A journal in ``settings.path`` (default settings: the store's default file)."""
        self.settings = settings or SqliteJournalSettings()
        self._clock = clock or SystemClock()
        self._owns_database = database is None
        self.database = database or SqliteDatabase(
            self.settings.path,
            durability=self.settings.durability,
            busy_timeout_ms=self.settings.busy_timeout_ms,
            clock=self._clock,
            name="sqlite-journal",
        )

    @property
    def durability(self) -> DurabilityTier:
        """Durable for a database file, inline for ``:memory:``."""
        return DurabilityTier.INLINE if self.database.in_memory else DurabilityTier.DURABLE

    async def _db(self) -> SqliteDatabase:
        if not self.database.is_open:
            await self.database.open()  # idempotent and serialized by the database's lock
        return self.database

    async def get(self, scope_id: str, replay_key: str) -> JournalEntry | None:
        """The entry journaled for ``replay_key`` in ``scope_id``, or ``None``."""

        def run(conn: sqlite3.Connection) -> JournalEntry | None:
            row = conn.execute(
                "SELECT * FROM effect_journal WHERE scope_id = ? AND replay_key = ?", (scope_id, replay_key)
            ).fetchone()
            if row is None:
                return None
            return JournalEntry(
                scope_id=row["scope_id"],
                replay_key=row["replay_key"],
                kind=row["kind"],
                fingerprint=row["fingerprint"],
                status=JournalStatus(row["status"]),
                result_json=row["result_json"],
                error_json=row["error_json"],
                session_id=row["session_id"],
            )

        return await (await self._db()).read(run)

    async def put(self, entry: JournalEntry) -> None:
        """Journal ``entry`` in its own transaction (a key journaled before keeps its entry)."""
        now = self._clock.now_ms()

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO effect_journal (scope_id, replay_key, session_id, kind, fingerprint, status, "
                "result_json, error_json, recorded_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    entry.scope_id,
                    entry.replay_key,
                    entry.session_id,
                    entry.kind,
                    entry.fingerprint,
                    entry.status.value,
                    entry.result_json,
                    entry.error_json,
                    now,
                ),
            )

        await (await self._db()).write(run)

    async def aclose(self) -> None:
        """Close the journal's own connection (a shared database stays open)."""
        if self._owns_database:
            await self.database.close()


def journaling_host(settings: SqliteJournalSettings | None = None) -> JournalingEffectHost:
    """The ``sqlite-journal`` effect host: the kernel's journaling host over a
    :class:`SqliteEffectJournal` in ``settings.path``."""
    journal = SqliteEffectJournal(settings)
    return JournalingEffectHost(journal, durability=journal.durability)
