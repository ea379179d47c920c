"""Pending turn input in SQL (private; runs inside :meth:`Database.run`).

Claims scan with ``FOR UPDATE SKIP LOCKED``: two claimants never take the same row,
and rows another transaction is claiming are left to it. Rows of the caller's own
lease generation are filtered out in SQL, so any number of them never hides later
claimable rows from a bounded scan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from psycopg.rows import DictRow

from lash_core.errors import SourceKeyConflict
from lash_core.store.claims import ClaimRef
from lash_core.store.codec import input_content_digest
from lash_core.store.inputs import (
    ActiveTurn,
    AnchorNotFound,
    ByInputId,
    CancelResult,
    CancelStatus,
    CancelTarget,
    InputBoundary,
    InputClaim,
    InputIngress,
    NextTurn,
    PendingInput,
    PendingInputDraft,
    PendingInputState,
)
from lash_core.store.leases import LeaseFence
from lash_store_postgres._db import NOW_MS, Rows, Tx
from lash_store_postgres._rows import (
    CLAIMABLE,
    INPUT_COLUMNS,
    NOT_LIVE_CLAIM,
    LeaseRow,
    dump,
    input_record,
    lease_later,
    read_lease,
)

__all__: list[str] = []

_NEXT_TURN_JSON = dump(NextTurn())


def check_limit(name: str, value: int) -> None:
    """Refuse a claim limit below 1."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _find_by_key(tx: Tx, session_id: str, source_key: str) -> Rows:
    return tx.later(
        f"SELECT {INPUT_COLUMNS}, content_digest FROM {{s}}.inputs WHERE session_id = %s AND source_key = %s",
        (session_id, source_key),
    )


def _find_by_id(tx: Tx, session_id: str, input_id: str) -> Rows:
    return tx.later(
        f"SELECT {INPUT_COLUMNS}, content_digest FROM {{s}}.inputs WHERE session_id = %s AND input_id = %s",
        (session_id, input_id),
    )


def _existing(tx: Tx, draft: PendingInputDraft, content: str) -> PendingInput | None:
    """The row a draft's source key / input id names (checked for the same content), or ``None``."""
    key_rows = _find_by_key(tx, draft.session_id, draft.source_key) if draft.source_key is not None else None
    id_rows = _find_by_id(tx, draft.session_id, draft.input_id) if draft.input_id is not None else None
    existing = key_rows.one() if key_rows is not None else None
    by_id = id_rows.one() if id_rows is not None else None
    if existing is None:
        existing = by_id
    elif by_id is not None and by_id["input_id"] != existing["input_id"]:
        raise SourceKeyConflict(draft.session_id, draft.input_id or "", "input id")
    if existing is None:
        return None
    if (
        existing["content_digest"] != content
        or (draft.source_key is not None and existing["source_key"] != draft.source_key)
        or (draft.input_id is not None and existing["input_id"] != draft.input_id)
    ):
        key, what = (
            (draft.source_key, "source key") if draft.source_key else (existing["input_id"], "input id")
        )
        raise SourceKeyConflict(draft.session_id, key, what)
    return input_record(existing)


def _turn_committed(tx: Tx, session_id: str, turn_id: str) -> bool:
    """True when the session holds the commit stamp of ``turn_id``."""
    return (
        tx.one(
            "SELECT 1 AS found FROM {s}.turn_commits WHERE session_id = %s AND turn_id = %s",
            (session_id, turn_id),
        )
        is not None
    )


def enqueue(tx: Tx, draft: PendingInputDraft) -> PendingInput:
    """Record the input, or return the row with the same source key / id and content.

    Active-turn input for a turn the session already committed is recorded as a deferred
    next-turn input (no checkpoint of that turn will claim it). The check runs under the
    session's advisory lock, which a commit holds for its whole transaction: a racing commit
    either comes first (and the check sees its stamp) or comes after the insert (and its
    deferral sees the row).
    """
    content = input_content_digest(draft.ingress, draft.input)
    # A concurrent enqueue of the same key makes the INSERT do nothing; the second pass finds its row.
    for _ in range(2):
        found = _existing(tx, draft, content)
        if found is not None:
            return found
        ingress: InputIngress = draft.ingress
        active = ingress if isinstance(ingress, ActiveTurn) else None
        if active is not None:
            tx.lock_session(draft.session_id)
            if _turn_committed(tx, draft.session_id, active.turn_id):
                ingress, active = NextTurn(), None
        state = PendingInputState.PENDING_ACTIVE if active else PendingInputState.DEFERRED_NEXT_TURN
        row = tx.one(
            "INSERT INTO {s}.inputs (session_id, input_id, enqueue_seq, source_key, ingress_json, "
            "active_turn_id, min_boundary, state, input_json, content_digest, enqueued_at_ms) "
            f"VALUES (%s, %s, nextval('{{s}}.enqueue_seq'), %s, %s, %s, %s, %s, %s, %s, {NOW_MS}) "
            f"ON CONFLICT DO NOTHING RETURNING {INPUT_COLUMNS}",
            (
                draft.session_id,
                draft.input_id or f"in_{uuid.uuid4().hex}",
                draft.source_key,
                dump(ingress),
                active.turn_id if active else None,
                active.min_boundary.value if active else None,
                state.value,
                dump(draft.input),
                content,
            ),
        )
        if row is not None:
            return input_record(row)
    raise SourceKeyConflict(draft.session_id, draft.source_key or draft.input_id or "", "source key")


def get(tx: Tx, session_id: str, input_id: str) -> PendingInput | None:
    """One input by id, in any state."""
    tx.idempotent = True
    rows = _find_by_id(tx, session_id, input_id)
    tx.end()
    row = rows.one()
    return input_record(row) if row is not None else None


def list_pending(tx: Tx, session_id: str) -> list[PendingInput]:
    """Inputs neither terminal nor under a live claim, oldest first."""
    tx.idempotent = True
    gen = read_lease(tx, session_id).live_generation
    rows = tx.all(
        f"SELECT {INPUT_COLUMNS} FROM {{s}}.inputs WHERE session_id = %(sid)s "
        f"AND state NOT IN ('completed', 'cancelled') AND {NOT_LIVE_CLAIM} ORDER BY enqueue_seq",
        {"sid": session_id, "gen": gen},
        last=True,
    )
    return [input_record(r) for r in rows]


def _lock_target(tx: Tx, session_id: str, target: CancelTarget) -> DictRow | None:
    column, value = (
        ("input_id", target.input_id) if isinstance(target, ByInputId) else ("source_key", target.source_key)
    )
    return tx.one(
        f"SELECT {INPUT_COLUMNS} FROM {{s}}.inputs WHERE session_id = %s AND {column} = %s FOR UPDATE",
        (session_id, value),
    )


def _cancel_row(tx: Tx, target: CancelTarget, row: DictRow | None, gen: int | None) -> CancelResult:
    if row is None:
        return CancelResult(target, CancelStatus.NOT_FOUND)
    record = input_record(row)
    if record.state is PendingInputState.COMPLETED:
        return CancelResult(target, CancelStatus.ALREADY_COMPLETED, record)
    if record.state is PendingInputState.CANCELLED:
        return CancelResult(target, CancelStatus.ALREADY_CANCELLED, record)
    if record.claim is not None and gen is not None and record.claim.lease_generation == gen:
        return CancelResult(target, CancelStatus.ALREADY_CLAIMED, record)
    updated = tx.one(
        "UPDATE {s}.inputs SET state = 'cancelled', claim_id = NULL, claim_token = NULL, "
        "claim_owner_json = NULL, claim_generation = NULL, claimed_at_ms = NULL "
        f"WHERE session_id = %s AND input_id = %s RETURNING {INPUT_COLUMNS}",
        (record.session_id, record.input_id),
    )
    assert updated is not None
    return CancelResult(target, CancelStatus.CANCELLED, input_record(updated))


def cancel(tx: Tx, session_id: str, targets: Sequence[CancelTarget]) -> tuple[CancelResult, ...]:
    """Cancel each pending target not under a live claim, atomically."""
    # Lock every target row first, in queue order, so concurrent cancels and commits take row
    # locks in one order and cannot deadlock each other.
    tx.send(
        "SELECT 1 FROM {s}.inputs WHERE session_id = %s AND (input_id = ANY(%s) OR source_key = ANY(%s)) "
        "ORDER BY enqueue_seq FOR UPDATE",
        (
            session_id,
            [t.input_id for t in targets if isinstance(t, ByInputId)],
            [t.source_key for t in targets if not isinstance(t, ByInputId)],
        ),
    )
    gen = read_lease(tx, session_id).live_generation
    return tuple(_cancel_row(tx, t, _lock_target(tx, session_id, t), gen) for t in targets)


def cancel_suffix(tx: Tx, session_id: str, anchor: CancelTarget) -> tuple[CancelResult, ...] | AnchorNotFound:
    """Cancel the anchor and every later input, atomically."""
    found = _lock_target(tx, session_id, anchor)
    if found is None:
        return AnchorNotFound(anchor)
    gen = read_lease(tx, session_id).live_generation
    rows = tx.all(
        f"SELECT {INPUT_COLUMNS} FROM {{s}}.inputs WHERE session_id = %s AND enqueue_seq >= %s "
        "ORDER BY enqueue_seq FOR UPDATE",
        (session_id, found["enqueue_seq"]),
    )
    return tuple(_cancel_row(tx, ByInputId(r["input_id"]), r, gen) for r in rows)


def _claim(
    tx: Tx,
    fence: LeaseFence,
    max_inputs: int,
    where: str,
    params: dict[str, object],
    accept: bool,
    *,
    regroup: bool = False,
) -> InputClaim | None:
    """Claim the rows ``where`` selects (oldest first); with ``regroup``, a head row still
    marked with a dead claim is claimed again only with the other rows of that claim.

    The lease read and the row scan go out together: the scan assumes the fence's generation,
    which is the live one whenever the lease check passes (otherwise the rollback releases
    the rows it locked). The claim's update carries the commit.
    """
    lease_rows = lease_later(tx, fence.session_id)
    gen = fence.fencing_token
    picked_rows = tx.later(
        f"SELECT input_id, claim_id FROM {{s}}.inputs WHERE session_id = %(sid)s AND {where} AND {CLAIMABLE} "
        "ORDER BY enqueue_seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"sid": fence.session_id, "gen": gen, "limit": max_inputs, **params},
    )
    LeaseRow(lease_rows.one()).check(fence)
    picked = picked_rows.all()
    if not picked:
        return None
    if regroup and picked[0]["claim_id"] is not None:
        picked = [r for r in picked if r["claim_id"] == picked[0]["claim_id"]]
    claim_id, token = f"claim_{uuid.uuid4().hex}", uuid.uuid4().hex
    rows = tx.all(
        "UPDATE {s}.inputs SET claim_id = %(claim)s, claim_token = %(token)s, claim_owner_json = %(owner)s, "
        f"claim_generation = %(gen)s, claimed_at_ms = {NOW_MS}, claim_fencing_token = claim_fencing_token + 1"
        + (", state = 'accepted'" if accept else "")
        + f" WHERE session_id = %(sid)s AND input_id = ANY(%(ids)s) RETURNING {INPUT_COLUMNS}",
        {
            "claim": claim_id,
            "token": token,
            "owner": dump(fence.owner),
            "gen": gen,
            "sid": fence.session_id,
            "ids": [r["input_id"] for r in picked],
        },
        last=True,
    )
    inputs = sorted((input_record(r) for r in rows), key=lambda i: i.enqueue_seq)
    return InputClaim(fence.session_id, claim_id, token, gen, tuple(inputs))


def claim_next_turn(tx: Tx, fence: LeaseFence, max_inputs: int) -> InputClaim | None:
    """Claim deferred next-turn inputs, oldest first."""
    return _claim(tx, fence, max_inputs, "state = 'deferred_next_turn'", {}, accept=False, regroup=True)


def claim_active(
    tx: Tx, fence: LeaseFence, turn_id: str, checkpoint: InputBoundary, max_inputs: int
) -> InputClaim | None:
    """Claim the turn's active inputs the checkpoint admits; they become ``accepted``."""
    where = "state IN ('pending_active', 'accepted') AND active_turn_id = %(turn)s"
    if checkpoint is not InputBoundary.BEFORE_COMPLETION:
        where += f" AND min_boundary = '{InputBoundary.AFTER_WORK.value}'"
    return _claim(tx, fence, max_inputs, where, {"turn": turn_id}, accept=True)


def abandon(tx: Tx, ref: ClaimRef) -> int:
    """Release the rows that still carry the claim (``accepted`` returns to ``pending_active``)."""
    return tx.execute(
        "UPDATE {s}.inputs SET claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
        "claim_generation = NULL, claimed_at_ms = NULL, "
        "state = CASE WHEN state = 'accepted' THEN 'pending_active' ELSE state END "
        "WHERE session_id = %s AND input_id = ANY(%s) AND claim_id = %s AND claim_token = %s",
        (ref.session_id, list(ref.item_ids), ref.claim_id, ref.claim_token),
        last=True,
    )


def defer_unclaimed_active(tx: Tx, session_id: str, gen: int | None) -> None:
    """A commit ended a logical turn: every active input of the session not under a live claim
    (``gen``: the live generation) becomes a next-turn input: the turn's missed ones, and
    orphans of turns that never committed (under the session lease no other turn runs)."""
    tx.send(
        "UPDATE {s}.inputs SET state = 'deferred_next_turn', ingress_json = %(next)s, active_turn_id = NULL, "
        "min_boundary = NULL, claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
        "claim_generation = NULL, claimed_at_ms = NULL "
        f"WHERE session_id = %(sid)s AND state IN ('pending_active', 'accepted') AND {NOT_LIVE_CLAIM}",
        {"next": _NEXT_TURN_JSON, "sid": session_id, "gen": gen},
    )
