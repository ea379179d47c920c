"""The effect journal in PostgreSQL, and the ``postgres-journal`` effect host.

:class:`PostgresEffectJournal` implements :class:`lash_core.effects_journal.EffectJournal`
over the ``effect_journal`` table of the store's schema: one row per
``(scope_id, replay_key)``, inserted in its own committed transaction before the turn
sees the effect's result, so a crash right after an effect keeps it, and a turn re-run
on *any* worker replays it. The first row for a key wins (``ON CONFLICT DO NOTHING``),
so two workers racing on one turn journal one outcome. Rows are deleted with their
session (:meth:`PostgresStore.delete_session`).

:func:`journaling_host` builds the kernel's
:class:`~lash_core.effects_journal.JournalingEffectHost` over it (durable).
"""

from __future__ import annotations

import anyio

from lash_core.effects import DurabilityTier
from lash_core.effects_journal import JournalEntry, JournalingEffectHost, JournalStatus
from lash_store_postgres._db import Database, Tx
from lash_store_postgres.settings import PostgresSettings, resolve_dsn

__all__ = ["PostgresEffectJournal", "journaling_host"]

_COLUMNS = "scope_id, replay_key, session_id, kind, fingerprint, status, result_json, error_json"


def _get(tx: Tx, scope_id: str, replay_key: str) -> JournalEntry | None:
    tx.idempotent = True
    row = tx.one(
        f"SELECT {_COLUMNS} FROM {{s}}.effect_journal WHERE scope_id = %s AND replay_key = %s",
        (scope_id, replay_key),
        last=True,
    )
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


def _put(tx: Tx, entry: JournalEntry) -> None:
    tx.idempotent = True  # the first row of a key wins: writing it twice changes nothing
    tx.send(
        f"INSERT INTO {{s}}.effect_journal ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (scope_id, replay_key) DO NOTHING",
        (
            entry.scope_id,
            entry.replay_key,
            entry.session_id,
            entry.kind,
            entry.fingerprint,
            entry.status.value,
            entry.result_json,
            entry.error_json,
        ),
    )


class PostgresEffectJournal:
    """Effect outcomes in the ``effect_journal`` table of a lash PostgreSQL schema.

    Effect hosts have no open step, so the journal opens its own pool (and checks or
    creates the schema) on first use and keeps it until :meth:`aclose`. Pass
    ``database`` (a :class:`PostgresStore`'s ``store.database``) to share the store's
    pool instead; the store then owns it.
    """

    durability = DurabilityTier.DURABLE

    def __init__(self, settings: PostgresSettings | None = None, *, database: Database | None = None) -> None:
        """A journal over ``settings`` (dsn, schema, pool) or over a shared ``database``."""
        self.settings = settings or (database.settings if database is not None else PostgresSettings())
        self._owns_database = database is None
        self.database = database or Database(resolve_dsn(self.settings.dsn), self.settings)
        self._opening: anyio.Lock | None = None

    async def _db(self) -> Database:
        if not self.database.is_open:
            if not self._owns_database:
                return self.database  # the owner opens it; a closed one raises StoreClosed
            if self._opening is None:
                self._opening = anyio.Lock()
            async with self._opening:
                await self.database.open()  # idempotent
        return self.database

    async def get(self, scope_id: str, replay_key: str) -> JournalEntry | None:
        """The entry journaled for ``replay_key`` in ``scope_id``, or ``None``."""
        db = await self._db()
        return await db.run("reading the effect journal", _get, scope_id, replay_key)

    async def put(self, entry: JournalEntry) -> None:
        """Journal ``entry`` in its own committed transaction (a key journaled before keeps its entry)."""
        db = await self._db()
        await db.run("writing the effect journal", _put, entry)

    async def aclose(self) -> None:
        """Close the journal's own pool (a shared database stays open)."""
        if self._owns_database:
            await self.database.close()


def journaling_host(settings: PostgresSettings | None = None) -> JournalingEffectHost:
    """The ``postgres-journal`` effect host: the kernel's journaling host over a
    :class:`PostgresEffectJournal` (use the store's ``dsn`` and ``schema``)."""
    return JournalingEffectHost(PostgresEffectJournal(settings), durability=DurabilityTier.DURABLE)
