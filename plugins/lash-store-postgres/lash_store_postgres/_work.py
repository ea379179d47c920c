"""Queued work in SQL (private; runs inside :meth:`Database.run`).

Claims at the head of the queue (:func:`claim_leading_command`,
:func:`claim_ready`) lock the leading ready rows with ``FOR UPDATE`` and *wait* for a
concurrent transaction on them instead of skipping them: queue order is part of the
contract (commands before turn work, join runs are consecutive), and skipping a head
row that a concurrent abandon is about to free would claim work out of order. Rows the
other transaction claimed for the caller's generation fail the re-check and drop out.
Claims of named batches (:func:`claim_batches`) have no order to keep and use
``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psycopg.rows import DictRow

from lash_core.errors import StoreError
from lash_core.store.claims import ClaimRef
from lash_core.store.leases import LeaseFence
from lash_core.store.queued_work import (
    DeliveryPolicy,
    QueuedWorkBatch,
    QueuedWorkDraft,
    SlotPolicy,
    WorkBoundary,
    WorkClaim,
    WorkClass,
    WorkItem,
    work_class,
)
from lash_store_postgres._db import NOW_MS, Tx
from lash_store_postgres._rows import (
    CLAIMABLE,
    NOT_LIVE_CLAIM,
    WORK_COLUMNS,
    LeaseRow,
    dump,
    lease_later,
    read_lease,
    work_record,
)

__all__: list[str] = []

# Ready by the database clock, read once per statement (an uncorrelated scalar subquery).
_READY = f"state = 'pending' AND available_at_ms <= (SELECT {NOW_MS}) AND " + CLAIMABLE


def insert(tx: Tx, draft: QueuedWorkDraft) -> QueuedWorkBatch:
    """Record a batch, or return the batch with the same source key (any state)."""
    kind = work_class(draft.payloads)
    for _ in range(2):
        if draft.source_key is not None:
            row = tx.one(
                f"SELECT {WORK_COLUMNS} FROM {{s}}.work_batches WHERE session_id = %s AND source_key = %s",
                (draft.session_id, draft.source_key),
            )
            if row is not None:
                return work_record(row)
        batch_id = f"wb_{uuid.uuid4().hex}"
        items = tuple(WorkItem(f"{batch_id}:{i}", payload) for i, payload in enumerate(draft.payloads))
        row = tx.one(
            "INSERT INTO {s}.work_batches (session_id, batch_id, enqueue_seq, work_class, delivery, slot, "
            "merge_key, available_at_ms, enqueued_at_ms, source_key, state, items_json) "
            f"VALUES (%s, %s, nextval('{{s}}.enqueue_seq'), %s, %s, %s, %s, %s, {NOW_MS}, %s, 'pending', %s) "
            f"ON CONFLICT DO NOTHING RETURNING {WORK_COLUMNS}",
            (
                draft.session_id,
                batch_id,
                kind.value,
                draft.delivery.value,
                draft.slot.value,
                draft.merge_key,
                draft.available_at_ms,
                draft.source_key,
                dump(items),
            ),
        )
        if row is not None:
            return work_record(row)
    raise StoreError(
        f"could not enqueue work with source key {draft.source_key!r} for session {draft.session_id!r}: a "
        "concurrent enqueue kept conflicting; retry the call"
    )


def list_pending(tx: Tx, session_id: str, include_claimed: bool) -> list[QueuedWorkBatch]:
    """Pending batches in queue order (optionally without those under a live claim)."""
    tx.idempotent = True
    gen = read_lease(tx, session_id).live_generation
    where = "" if include_claimed else f" AND {NOT_LIVE_CLAIM}"
    rows = tx.all(
        f"SELECT {WORK_COLUMNS} FROM {{s}}.work_batches WHERE session_id = %(sid)s AND state = 'pending'"
        f"{where} ORDER BY enqueue_seq",
        {"sid": session_id, "gen": gen},
        last=True,
    )
    return [work_record(r) for r in rows]


def _ready_rows(
    tx: Tx, fence: LeaseFence, extra: str, limit: int, lock: str, **params: object
) -> tuple[int, list[DictRow]]:
    # The lease read and the scan go out together; the scan assumes the fence's generation,
    # the live one whenever the check passes (otherwise the rollback frees what it locked).
    lease_rows = lease_later(tx, fence.session_id)
    gen = fence.fencing_token
    ready = tx.later(
        f"SELECT {WORK_COLUMNS} FROM {{s}}.work_batches WHERE session_id = %(sid)s AND {_READY}{extra} "
        f"ORDER BY enqueue_seq LIMIT %(limit)s {lock}",
        {"sid": fence.session_id, "gen": gen, "limit": limit, **params},
    )
    LeaseRow(lease_rows.one()).check(fence)
    return gen, ready.all()


def _claim(tx: Tx, fence: LeaseFence, gen: int, rows: Sequence[DictRow]) -> WorkClaim | None:
    if not rows:
        return None
    claim_id, token = f"claim_{uuid.uuid4().hex}", uuid.uuid4().hex
    updated = tx.all(
        "UPDATE {s}.work_batches SET claim_id = %(claim)s, claim_token = %(token)s, claim_owner_json = %(owner)s, "
        f"claim_generation = %(gen)s, claimed_at_ms = {NOW_MS}, claim_fencing_token = claim_fencing_token + 1 "
        f"WHERE session_id = %(sid)s AND batch_id = ANY(%(ids)s) RETURNING {WORK_COLUMNS}",
        {
            "claim": claim_id,
            "token": token,
            "owner": dump(fence.owner),
            "gen": gen,
            "sid": fence.session_id,
            "ids": [r["batch_id"] for r in rows],
        },
        last=True,
    )
    batches = sorted((work_record(r) for r in updated), key=lambda b: b.enqueue_seq)
    return WorkClaim(fence.session_id, claim_id, token, gen, tuple(batches))


def claim_leading_command(tx: Tx, fence: LeaseFence) -> WorkClaim | None:
    """Claim the earliest ready claimable batch if it is a session command."""
    gen, rows = _ready_rows(tx, fence, "", 1, "FOR UPDATE")
    if not rows or rows[0]["work_class"] != WorkClass.SESSION_COMMAND.value:
        return None
    return _claim(tx, fence, gen, rows[:1])


def claim_ready(tx: Tx, fence: LeaseFence, boundary: WorkBoundary, max_batches: int) -> WorkClaim | None:
    """Claim turn work at the head of the queue: an exclusive head alone, a join head with the
    consecutive join batches of its delivery and merge key."""
    extra = ""
    if boundary is WorkBoundary.ACTIVE_TURN_CHECKPOINT:
        extra = " AND (work_class = %(command)s OR delivery = %(safe)s)"
    gen, rows = _ready_rows(
        tx,
        fence,
        extra,
        max_batches,
        "FOR UPDATE",
        command=WorkClass.SESSION_COMMAND.value,
        safe=DeliveryPolicy.EARLIEST_SAFE_BOUNDARY.value,
    )
    if not rows or rows[0]["work_class"] != WorkClass.TURN_WORK.value:
        return None
    head = rows[0]
    taken = [head]
    if head["slot"] == SlotPolicy.JOIN.value and head["merge_key"] is not None:
        for row in rows[1:]:
            if (
                len(taken) == max_batches
                or row["work_class"] != WorkClass.TURN_WORK.value
                or row["slot"] != SlotPolicy.JOIN.value
                or row["delivery"] != head["delivery"]
                or row["merge_key"] != head["merge_key"]
            ):
                break
            taken.append(row)
    return _claim(tx, fence, gen, taken)


def claim_batches(tx: Tx, fence: LeaseFence, batch_ids: Sequence[str]) -> WorkClaim | None:
    """Claim exactly the named batches that are pending, ready and claimable."""
    wanted = list(dict.fromkeys(batch_ids))
    if not wanted:
        read_lease(tx, fence.session_id).check(fence)
        return None
    gen, rows = _ready_rows(
        tx, fence, " AND batch_id = ANY(%(ids)s)", len(wanted), "FOR UPDATE SKIP LOCKED", ids=wanted
    )
    return _claim(tx, fence, gen, rows)


def abandon(tx: Tx, ref: ClaimRef) -> int:
    """Release the batches that still carry the claim."""
    return tx.execute(
        "UPDATE {s}.work_batches SET claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
        "claim_generation = NULL, claimed_at_ms = NULL "
        "WHERE session_id = %s AND batch_id = ANY(%s) AND claim_id = %s AND claim_token = %s",
        (ref.session_id, list(ref.item_ids), ref.claim_id, ref.claim_token),
        last=True,
    )


def cancel(tx: Tx, session_id: str, batch_id: str) -> QueuedWorkBatch | None:
    """Cancel a pending batch that is not under a live claim."""
    gen = read_lease(tx, session_id).live_generation
    row = tx.one(
        f"UPDATE {{s}}.work_batches SET state = 'cancelled', claim_id = NULL, claim_token = NULL, "
        "claim_owner_json = NULL, claim_generation = NULL, claimed_at_ms = NULL "
        f"WHERE session_id = %(sid)s AND batch_id = %(bid)s AND state = 'pending' AND {NOT_LIVE_CLAIM} "
        f"RETURNING {WORK_COLUMNS}",
        {"sid": session_id, "bid": batch_id, "gen": gen},
        last=True,
    )
    return work_record(row) if row is not None else None
