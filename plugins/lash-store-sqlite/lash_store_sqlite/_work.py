"""Queued work of the SQLite store (private: use SqliteStore).

Mirrors the in-memory reference (:mod:`lash_core.store._memory_queues`): commands before
turn work, join/exclusive grouping, generation-fenced claims, each call one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence

from lash_core.store.claims import ClaimRef
from lash_core.store.codec import encode
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import (
    DEFAULT_WORK_BATCH_LIMIT,
    DeliveryPolicy,
    QueuedWorkBatch,
    QueuedWorkDraft,
    SlotPolicy,
    WorkBoundary,
    WorkClaim,
    WorkClass,
    WorkItem,
    WorkState,
    work_class,
)
from lash_store_sqlite._base import (
    SqliteBase,
    batch_from_row,
    check_fence,
    check_limit,
    claim_live,
    dumps,
    live_generation,
    new_claim,
    next_seq,
    owns,
)

__all__: list[str] = []

_PENDING = WorkState.PENDING.value
_READY = (
    "SELECT * FROM work_batches WHERE session_id = ? AND state = ? AND available_at_ms <= ? "
    "AND (claim_id IS NULL OR claim_generation != ?)"
)
_AT_CHECKPOINT = (
    f" AND (work_class = '{WorkClass.SESSION_COMMAND.value}' "
    f"OR delivery = '{DeliveryPolicy.EARLIEST_SAFE_BOUNDARY.value}')"
)

_Selector = Callable[[sqlite3.Connection, int, int], list[QueuedWorkBatch]]


def enqueue_batch(conn: sqlite3.Connection, draft: QueuedWorkDraft, now: int) -> QueuedWorkBatch:
    """Insert a batch (or return the batch with the same source key), inside a transaction."""
    kind = work_class(draft.payloads)
    if draft.source_key is not None:
        existing = conn.execute(
            "SELECT * FROM work_batches WHERE session_id = ? AND source_key = ?",
            (draft.session_id, draft.source_key),
        ).fetchone()
        if existing is not None:
            return batch_from_row(existing)
    batch_id = f"wb_{uuid.uuid4().hex}"
    items = [encode(WorkItem(f"{batch_id}:{i}", p)) for i, p in enumerate(draft.payloads)]
    seq = next_seq(conn)
    conn.execute(
        "INSERT INTO work_batches (enqueue_seq, session_id, batch_id, source_key, work_class, delivery, slot, "
        "merge_key, available_at_ms, enqueued_at_ms, items_json, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            draft.session_id,
            batch_id,
            draft.source_key,
            kind.value,
            draft.delivery.value,
            draft.slot.value,
            draft.merge_key,
            draft.available_at_ms,
            now,
            json.dumps(items, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
            _PENDING,
        ),
    )
    return batch_from_row(conn.execute("SELECT * FROM work_batches WHERE enqueue_seq = ?", (seq,)).fetchone())


def _ready(
    conn: sqlite3.Connection,
    session_id: str,
    generation: int,
    now: int,
    limit: int,
    *,
    at_checkpoint: bool = False,
) -> list[QueuedWorkBatch]:
    """The first ``limit`` pending, ready batches claimable by ``generation``, in queue order
    (at a checkpoint: only commands and ``earliest_safe_boundary`` work)."""
    query = _READY + (_AT_CHECKPOINT if at_checkpoint else "") + " ORDER BY enqueue_seq LIMIT ?"
    rows = conn.execute(query, (session_id, _PENDING, now, generation, limit)).fetchall()
    return [batch_from_row(row) for row in rows]


class WorkFacet(SqliteBase):
    """The queued work facet."""

    async def enqueue_work(self, draft: QueuedWorkDraft) -> QueuedWorkBatch:
        """Record a batch, or return the batch with the same source key."""
        work_class(draft.payloads)  # refuse a bad batch before opening a transaction
        return await self._check_open().write(lambda conn: enqueue_batch(conn, draft, self._now()))

    async def list_work(self, session_id: str, *, include_claimed: bool = True) -> Sequence[QueuedWorkBatch]:
        """Pending batches in queue order."""

        def run(conn: sqlite3.Connection) -> list[QueuedWorkBatch]:
            generation = live_generation(conn, session_id, self._now())
            rows = conn.execute(
                "SELECT * FROM work_batches WHERE session_id = ? AND state = ? ORDER BY enqueue_seq",
                (session_id, _PENDING),
            )
            return [batch_from_row(row) for row in rows if include_claimed or not claim_live(row, generation)]

        return await self._check_open().read(run)

    async def claim_leading_command(self, fence: LeaseFence) -> WorkClaim | None:
        """Claim the head batch if it is a session command."""

        def select(conn: sqlite3.Connection, generation: int, now: int) -> list[QueuedWorkBatch]:
            ready = _ready(conn, fence.session_id, generation, now, 1)
            return ready if ready and ready[0].work_class is WorkClass.SESSION_COMMAND else []

        return await self._run_claim(*self._work_claim(fence, select))

    async def claim_ready_work(
        self,
        fence: LeaseFence,
        boundary: WorkBoundary,
        *,
        max_batches: int = DEFAULT_WORK_BATCH_LIMIT,
    ) -> WorkClaim | None:
        """Claim turn work at the head of the queue (join/exclusive grouping)."""
        return await self._run_claim(*self._ready_work_claim(fence, boundary, max_batches))

    def _ready_work_claim(
        self, fence: LeaseFence, boundary: WorkBoundary, max_batches: int
    ) -> tuple[Callable[[sqlite3.Connection], bool], Callable[[sqlite3.Connection], WorkClaim | None]]:
        """The probe and the claim of the turn work at the head of the queue."""
        check_limit("max_batches", max_batches)

        def select(conn: sqlite3.Connection, generation: int, now: int) -> list[QueuedWorkBatch]:
            at_checkpoint = boundary is WorkBoundary.ACTIVE_TURN_CHECKPOINT
            ready = _ready(conn, fence.session_id, generation, now, max_batches, at_checkpoint=at_checkpoint)
            if not ready or ready[0].work_class is not WorkClass.TURN_WORK:
                return []
            head = ready[0]
            taken = [head]
            if head.slot is SlotPolicy.JOIN and head.merge_key is not None:
                for batch in ready[1:]:
                    if (
                        len(taken) == max_batches
                        or batch.work_class is not WorkClass.TURN_WORK
                        or batch.slot is not SlotPolicy.JOIN
                        or batch.delivery is not head.delivery
                        or batch.merge_key != head.merge_key
                    ):
                        break
                    taken.append(batch)
            return taken

        return self._work_claim(fence, select)

    async def claim_work_batches(self, fence: LeaseFence, batch_ids: Sequence[str]) -> WorkClaim | None:
        """Claim exactly the named batches that are pending, ready and claimable."""
        wanted = set(batch_ids)

        def select(conn: sqlite3.Connection, generation: int, now: int) -> list[QueuedWorkBatch]:
            if not wanted:
                return []
            marks = ", ".join("?" for _ in wanted)
            query = _READY + f" AND batch_id IN ({marks}) ORDER BY enqueue_seq"
            rows = conn.execute(query, (fence.session_id, _PENDING, now, generation, *sorted(wanted)))
            return [batch_from_row(row) for row in rows.fetchall()]

        return await self._run_claim(*self._work_claim(fence, select))

    def _work_claim(
        self, fence: LeaseFence, select: _Selector
    ) -> tuple[Callable[[sqlite3.Connection], bool], Callable[[sqlite3.Connection], WorkClaim | None]]:
        """A probe (does ``select`` find anything?) and the claim of what ``select`` finds."""

        def probe(conn: sqlite3.Connection) -> bool:
            now = self._now()
            generation = check_fence(conn, fence, now).fencing_token
            return bool(select(conn, generation, now))

        def run(conn: sqlite3.Connection) -> WorkClaim | None:
            now = self._now()
            generation = check_fence(conn, fence, now).fencing_token
            batches = select(conn, generation, now)
            if not batches:
                return None
            claim_id, token = new_claim()
            owner_json = dumps(fence.owner)
            claimed = []
            for batch in batches:
                conn.execute(
                    "UPDATE work_batches SET claim_id = ?, claim_token = ?, claim_owner_json = ?, "
                    "claim_generation = ?, claim_fencing_token = claim_fencing_token + 1, claimed_at_ms = ? "
                    "WHERE enqueue_seq = ?",
                    (claim_id, token, owner_json, generation, now, batch.enqueue_seq),
                )
                row = conn.execute(
                    "SELECT * FROM work_batches WHERE enqueue_seq = ?", (batch.enqueue_seq,)
                ).fetchone()
                claimed.append(batch_from_row(row))
            return WorkClaim(fence.session_id, claim_id, token, generation, tuple(claimed))

        return probe, run

    async def abandon_work_claim(self, ref: ClaimRef) -> int:
        """Release the batches that still carry the claim."""

        def run(conn: sqlite3.Connection) -> int:
            released = 0
            for batch_id in ref.item_ids:
                row = conn.execute(
                    "SELECT * FROM work_batches WHERE session_id = ? AND batch_id = ?",
                    (ref.session_id, batch_id),
                ).fetchone()
                if row is None or not owns(row, ref):
                    continue
                conn.execute(
                    "UPDATE work_batches SET claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
                    "claim_generation = NULL, claimed_at_ms = NULL WHERE enqueue_seq = ?",
                    (row["enqueue_seq"],),
                )
                released += 1
            return released

        return await self._check_open().write(run)

    async def cancel_work(self, session_id: str, batch_id: str) -> QueuedWorkBatch | None:
        """Cancel a pending batch not under a live claim."""

        def run(conn: sqlite3.Connection) -> QueuedWorkBatch | None:
            row = conn.execute(
                "SELECT * FROM work_batches WHERE session_id = ? AND batch_id = ?", (session_id, batch_id)
            ).fetchone()
            if row is None or row["state"] != _PENDING:
                return None
            if claim_live(row, live_generation(conn, session_id, self._now())):
                return None
            conn.execute(
                "UPDATE work_batches SET state = ?, claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
                "claim_generation = NULL, claimed_at_ms = NULL WHERE enqueue_seq = ?",
                (WorkState.CANCELLED.value, row["enqueue_seq"]),
            )
            updated = conn.execute(
                "SELECT * FROM work_batches WHERE enqueue_seq = ?", (row["enqueue_seq"],)
            ).fetchone()
            return batch_from_row(updated)

        return await self._check_open().write(run)
