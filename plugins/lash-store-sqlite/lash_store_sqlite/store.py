"""The ``sqlite`` session store: every session in one SQLite database file.

A turn commit is one ``BEGIN IMMEDIATE`` transaction that applies everything
:mod:`lash_core.store.contract` lists, in its order, or nothing. Its cost does not grow
with the history: the turn's messages are appended as new ``nodes`` rows and the small
``sessions`` head row is rewritten; no earlier row is read or rewritten.

Time (lease expiry, claim liveness, readiness of work) comes from the injected
:class:`~lash_core.clock.Clock`. Several store objects on one file, in one process or
several, behave like handles on one database: SQLite serializes their write
transactions and the lease and claim fences hold across them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from lash_core.clock import Clock
from lash_core.effects import DurabilityTier
from lash_core.errors import ClaimSuperseded, HeadConflict, TurnCommitConflict
from lash_core.model import Message, initial_frame_id
from lash_core.store.checkpoint import CheckpointClaims
from lash_core.store.contract import (
    CommitResult,
    HistoryNode,
    SessionHead,
    SessionRecord,
    SessionSummary,
    TurnCommit,
)
from lash_core.store.inputs import DEFAULT_CLAIM_LIMIT, InputBoundary, NextTurn, PendingInputState
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import (
    DEFAULT_WORK_BATCH_LIMIT,
    QueuedWorkBatch,
    WorkBoundary,
    WorkState,
    work_class,
)
from lash_store_sqlite._base import check_fence, dumps, live_generation, loads, owns, release
from lash_store_sqlite._inputs import InputsFacet
from lash_store_sqlite._leases import LeasesFacet
from lash_store_sqlite._maintenance import MaintenanceFacet, drop_orphan_blobs
from lash_store_sqlite._work import WorkFacet, enqueue_batch
from lash_store_sqlite.database import SqliteDatabase
from lash_store_sqlite.settings import SqliteStoreSettings

__all__ = ["SqliteStore"]

_CLEAR_CLAIM = "claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, claim_generation = NULL, claimed_at_ms = NULL"


class SqliteStore(InputsFacet, WorkFacet, LeasesFacet, MaintenanceFacet):
    """Sessions in one SQLite database (WAL). Durable for a file, inline for ``:memory:``.

    ``SqliteStore(settings, clock=...)`` opens its own connection to ``settings.path``
    and closes it with the store. ``SqliteStore(database=db)`` works on a shared
    :class:`~lash_store_sqlite.database.SqliteDatabase` (one connection serving several
    store objects) and leaves it open on close; its ``settings`` are then ignored.
    """

    def __init__(
        self,
        settings: SqliteStoreSettings | None = None,
        *,
        clock: Clock | None = None,
        database: SqliteDatabase | None = None,
    ) -> None:
        """A store over ``settings.path`` (default settings: the user's data directory)."""
        self.settings = settings or SqliteStoreSettings()
        self._owns_database = database is None
        db = database or SqliteDatabase(
            self.settings.path,
            durability=self.settings.durability,
            busy_timeout_ms=self.settings.busy_timeout_ms,
            clock=clock,
        )
        super().__init__(db, clock)
        self.durability = DurabilityTier.INLINE if db.in_memory else DurabilityTier.DURABLE

    @property
    def database(self) -> SqliteDatabase:
        """The database this store works on."""
        return self._db

    async def open(self) -> None:
        """Open the database (checking it, creating the schema in a new file)."""
        await self._db.open()
        self._open = True

    async def close(self) -> None:
        """Close the store (and its own connection; a shared database stays open)."""
        self._open = False
        if self._owns_database:
            await self._db.close()

    # -- sessions -----------------------------------------------------------------

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The session's head and history (one snapshot), or ``None``."""

        def run(conn: sqlite3.Connection) -> SessionRecord | None:
            head = _read_head(conn, session_id)
            if head is None:
                return None
            rows = conn.execute(
                "SELECT frame_id, turn_id, message_json FROM nodes WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
            nodes = tuple(HistoryNode(r[0], r[1], loads(r[2], Message)) for r in rows)
            return SessionRecord(head, nodes)

        return await self._check_open().read(run)

    async def claim_at_checkpoint(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> CheckpointClaims:
        """Claim the turn's admitted active inputs and the earliest-boundary turn work at the
        head of the queue in one write transaction, after one read finding either."""
        input_probe, claim_inputs = self._active_input_claim(fence, turn_id, checkpoint, max_inputs)
        work_probe, claim_work = self._ready_work_claim(
            fence, WorkBoundary.ACTIVE_TURN_CHECKPOINT, max_batches
        )

        def probe(conn: sqlite3.Connection) -> bool:
            return input_probe(conn) or work_probe(conn)

        def claim(conn: sqlite3.Connection) -> CheckpointClaims:
            return CheckpointClaims(claim_inputs(conn), claim_work(conn))

        return await self._run_claim(probe, claim) or CheckpointClaims()

    async def load_head(self, session_id: str) -> SessionHead | None:
        """The session's head, or ``None``."""
        return await self._check_open().peek(lambda conn: _read_head(conn, session_id))

    async def list_sessions(self) -> Sequence[SessionSummary]:
        """Every session, most recently updated first."""

        def run(conn: sqlite3.Connection) -> list[SessionSummary]:
            rows = conn.execute(
                "SELECT session_id, head_revision, turn_count, updated_at_ms FROM sessions "
                "ORDER BY updated_at_ms DESC, rowid"
            ).fetchall()
            return [SessionSummary(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._check_open().read(run)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session with its history, inputs, work, attachments and effect journal;
        the lease is freed but its fencing counter kept (tokens never repeat)."""

        def run(conn: sqlite3.Connection) -> bool:
            existed = False
            for table in ("sessions", "inputs", "work_batches", "attachments"):
                cursor = conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
                existed = cursor.rowcount > 0 or existed
            for table in ("nodes", "turn_commits", "effect_journal"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute(
                "UPDATE leases SET lease_token = NULL, owner_json = NULL, claimed_at_ms = NULL, "
                "expires_at_ms = NULL WHERE session_id = ?",
                (session_id,),
            )
            drop_orphan_blobs(conn)
            return existed

        return await self._check_open().write(run)

    # -- commit -------------------------------------------------------------------

    async def commit(self, commit: TurnCommit) -> CommitResult:
        """Apply one turn in one transaction (the order is in :mod:`lash_core.store.contract`)."""
        for draft in commit.enqueue_work:
            work_class(draft.payloads)  # refuse a bad batch before opening the transaction
        nodes = [(n.frame_id, n.turn_id, dumps(n.message)) for n in commit.nodes]
        return await self._check_open().write(lambda conn: self._commit(conn, commit, nodes))

    def _commit(
        self, conn: sqlite3.Connection, commit: TurnCommit, nodes: list[tuple[str, str, str]]
    ) -> CommitResult:
        sid = commit.session_id
        head = _read_head(conn, sid)
        if head is not None:
            recorded = conn.execute(
                "SELECT commit_hash, result_json FROM turn_commits WHERE session_id = ? AND turn_id = ?",
                (sid, commit.turn_id),
            ).fetchone()
            if recorded is not None:
                if recorded[0] != commit.commit_hash:
                    raise TurnCommitConflict(
                        f"turn {commit.turn_id!r} of session {sid!r} was already committed with "
                        "different content; use a new turn id for a new turn"
                    )
                if commit.release_lease and commit.lease is not None:
                    release(conn, commit.lease)
                result: CommitResult = loads(recorded[1], CommitResult)
                return result
        now = self._now()
        if commit.lease is not None:
            check_fence(conn, commit.lease, now)
        current = head.head_revision if head is not None else 0
        if commit.expected_head_revision != current:
            raise HeadConflict(
                f"session {sid!r} is at revision {current}, but this turn was built on revision "
                f"{commit.expected_head_revision}; another writer committed first: reopen the session and retry"
            )
        _check_completions(conn, commit)
        if head is None:
            head = SessionHead(
                session_id=sid,
                head_revision=0,
                current_frame_id=initial_frame_id(sid),
                created_at_ms=commit.committed_at_ms,
            )
        conn.executemany(
            "INSERT INTO nodes (session_id, seq, frame_id, turn_id, message_json) VALUES (?, ?, ?, ?, ?)",
            [(sid, head.node_count + i, *node) for i, node in enumerate(nodes)],
        )
        new_head = SessionHead(
            session_id=sid,
            head_revision=current + 1,
            current_frame_id=commit.current_frame_id,
            frames=commit.frames,
            ledger=head.ledger.merge(commit.usage_deltas),
            plugin_state=commit.plugin_state,
            turn_count=head.turn_count + commit.counts_as_turn,
            node_count=head.node_count + len(nodes),
            last_prompt_usage=commit.last_prompt_usage,
            created_at_ms=head.created_at_ms,
            updated_at_ms=commit.committed_at_ms,
        )
        conn.execute(
            "INSERT INTO sessions (session_id, head_revision, turn_count, node_count, updated_at_ms, head_json) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET "
            "head_revision = excluded.head_revision, turn_count = excluded.turn_count, "
            "node_count = excluded.node_count, updated_at_ms = excluded.updated_at_ms, "
            "head_json = excluded.head_json",
            (
                sid,
                new_head.head_revision,
                new_head.turn_count,
                new_head.node_count,
                new_head.updated_at_ms,
                dumps(new_head),
            ),
        )
        enqueued = _apply_queues(conn, commit, now)
        if commit.attachment_ids:
            conn.executemany(
                "UPDATE attachments SET committed = 1 WHERE session_id = ? AND attachment_id = ?",
                [(sid, attachment_id) for attachment_id in commit.attachment_ids],
            )
        conn.execute(
            "INSERT INTO turn_commits (session_id, turn_id, commit_hash, result_json, committed_at_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                sid,
                commit.turn_id,
                commit.commit_hash,
                dumps(CommitResult(current + 1, True, enqueued)),
                commit.committed_at_ms,
            ),
        )
        if commit.release_lease and commit.lease is not None:
            release(conn, commit.lease)
        return CommitResult(current + 1, enqueued_work=enqueued)


def _read_head(conn: sqlite3.Connection, session_id: str) -> SessionHead | None:
    row = conn.execute("SELECT head_json FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    head: SessionHead = loads(row[0], SessionHead)
    return head


def _check_completions(conn: sqlite3.Connection, commit: TurnCommit) -> None:
    """Every completed claim must still own each of its rows, else :class:`ClaimSuperseded`."""
    for kind, refs, table, key in (
        ("input", commit.completed_input_claims, "inputs", "input_id"),
        ("work", commit.completed_work_claims, "work_batches", "batch_id"),
    ):
        for ref in refs:
            for item_id in ref.item_ids:
                row = conn.execute(
                    f"SELECT claim_id, claim_token FROM {table} WHERE session_id = ? AND {key} = ?",
                    (commit.session_id, item_id),
                ).fetchone()
                if row is None:
                    raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} no longer exists")
                if not owns(row, ref):
                    raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} is no longer held by it")


def _apply_queues(conn: sqlite3.Connection, commit: TurnCommit, now: int) -> tuple[QueuedWorkBatch, ...]:
    """Complete the commit's claims, defer the session's unclaimed active inputs when the commit
    ends a logical turn, enqueue the outbox."""
    sid = commit.session_id
    for ref in commit.completed_input_claims:
        conn.executemany(
            f"UPDATE inputs SET state = ?, {_CLEAR_CLAIM} WHERE session_id = ? AND input_id = ?",
            [(PendingInputState.COMPLETED.value, sid, item_id) for item_id in ref.item_ids],
        )
    for ref in commit.completed_work_claims:
        conn.executemany(
            f"UPDATE work_batches SET state = ?, {_CLEAR_CLAIM} WHERE session_id = ? AND batch_id = ?",
            [(WorkState.COMPLETED.value, sid, item_id) for item_id in ref.item_ids],
        )
    if commit.defer_active_inputs_of_turn is not None:
        # The logical turn ended, and under the session lease no other turn runs: every active
        # input not under a live claim (this turn's missed ones, orphans of turns that never
        # committed) waits for the next turn.
        generation = live_generation(conn, sid, now)
        conn.execute(
            "UPDATE inputs SET state = ?, ingress_json = ?, active_turn_id = NULL, min_boundary = NULL, "
            f"{_CLEAR_CLAIM} WHERE session_id = ? AND state IN (?, ?) "
            "AND (claim_id IS NULL OR ? IS NULL OR claim_generation != ?)",
            (
                PendingInputState.DEFERRED_NEXT_TURN.value,
                dumps(NextTurn()),
                sid,
                PendingInputState.PENDING_ACTIVE.value,
                PendingInputState.ACCEPTED.value,
                generation,
                generation,
            ),
        )
    return tuple(enqueue_batch(conn, draft, now) for draft in commit.enqueue_work)
