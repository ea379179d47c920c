"""Pending turn input of the SQLite store (private: use SqliteStore).

Mirrors the in-memory reference (:mod:`lash_core.store._memory_queues`): the same
states, idempotency, cancel outcomes and generation-fenced claims, each call one
transaction.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence

from lash_core.errors import SourceKeyConflict
from lash_core.store.claims import ClaimRef
from lash_core.store.codec import input_content_digest
from lash_core.store.inputs import (
    DEFAULT_CLAIM_LIMIT,
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
from lash_store_sqlite._base import (
    SqliteBase,
    check_fence,
    check_limit,
    claim_live,
    dumps,
    input_from_row,
    live_generation,
    new_claim,
    next_seq,
    owns,
)

__all__: list[str] = []

_PENDING_ACTIVE = PendingInputState.PENDING_ACTIVE.value
_ACCEPTED = PendingInputState.ACCEPTED.value
_DEFERRED = PendingInputState.DEFERRED_NEXT_TURN.value
_COMPLETED = PendingInputState.COMPLETED.value
_CANCELLED = PendingInputState.CANCELLED.value
_TERMINAL = (_COMPLETED, _CANCELLED)


class InputsFacet(SqliteBase):
    """The pending turn input facet."""

    async def enqueue_input(self, draft: PendingInputDraft) -> PendingInput:
        """Record the input, or return the row with the same source key / id and content.

        Active-turn input for a turn the session already committed is recorded as a deferred
        next-turn input (no checkpoint of that turn will claim it); the check and the insert are
        one write transaction, so a racing commit either defers the row or is seen here.
        """
        content = input_content_digest(draft.ingress, draft.input)
        input_json = dumps(draft.input)

        def run(conn: sqlite3.Connection) -> PendingInput:
            existing: sqlite3.Row | None = None
            if draft.source_key is not None:
                existing = conn.execute(
                    "SELECT * FROM inputs WHERE session_id = ? AND source_key = ?",
                    (draft.session_id, draft.source_key),
                ).fetchone()
            by_id = None
            if draft.input_id is not None:
                by_id = conn.execute(
                    "SELECT * FROM inputs WHERE session_id = ? AND input_id = ?",
                    (draft.session_id, draft.input_id),
                ).fetchone()
            if existing is None:
                existing = by_id
            elif by_id is not None and by_id["enqueue_seq"] != existing["enqueue_seq"]:
                raise SourceKeyConflict(draft.session_id, draft.input_id or "", "input id")
            if existing is not None:
                if (
                    existing["content_digest"] != content
                    or (draft.source_key is not None and existing["source_key"] != draft.source_key)
                    or (draft.input_id is not None and existing["input_id"] != draft.input_id)
                ):
                    key, what = (
                        (draft.source_key, "source key")
                        if draft.source_key
                        else (existing["input_id"], "input id")
                    )
                    raise SourceKeyConflict(draft.session_id, key, what)
                return input_from_row(existing)
            ingress: InputIngress = draft.ingress
            active = ingress if isinstance(ingress, ActiveTurn) else None
            if active is not None and _turn_committed(conn, draft.session_id, active.turn_id):
                ingress, active = NextTurn(), None
            state = PendingInputState.PENDING_ACTIVE if active else PendingInputState.DEFERRED_NEXT_TURN
            seq = next_seq(conn)
            conn.execute(
                "INSERT INTO inputs (enqueue_seq, session_id, input_id, source_key, content_digest, state, "
                "active_turn_id, min_boundary, ingress_json, input_json, enqueued_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    draft.session_id,
                    draft.input_id or f"in_{uuid.uuid4().hex}",
                    draft.source_key,
                    content,
                    state.value,
                    active.turn_id if active else None,
                    active.min_boundary.value if active else None,
                    dumps(ingress),
                    input_json,
                    self._now(),
                ),
            )
            return input_from_row(
                conn.execute("SELECT * FROM inputs WHERE enqueue_seq = ?", (seq,)).fetchone()
            )

        return await self._check_open().write(run)

    async def get_input(self, session_id: str, input_id: str) -> PendingInput | None:
        """One input by id, in any state."""

        def run(conn: sqlite3.Connection) -> PendingInput | None:
            row = conn.execute(
                "SELECT * FROM inputs WHERE session_id = ? AND input_id = ?", (session_id, input_id)
            ).fetchone()
            return input_from_row(row) if row is not None else None

        return await self._check_open().read(run)

    async def list_pending_inputs(self, session_id: str) -> Sequence[PendingInput]:
        """Inputs neither terminal nor under a live claim, oldest first."""

        def run(conn: sqlite3.Connection) -> list[PendingInput]:
            generation = live_generation(conn, session_id, self._now())
            rows = conn.execute(
                "SELECT * FROM inputs WHERE session_id = ? AND state NOT IN (?, ?) ORDER BY enqueue_seq",
                (session_id, *_TERMINAL),
            )
            return [input_from_row(row) for row in rows if not claim_live(row, generation)]

        return await self._check_open().read(run)

    async def cancel_inputs(
        self, session_id: str, targets: Sequence[CancelTarget]
    ) -> tuple[CancelResult, ...]:
        """Cancel each pending target that is not under a live claim, atomically."""
        targets = tuple(targets)

        def run(conn: sqlite3.Connection) -> tuple[CancelResult, ...]:
            generation = live_generation(conn, session_id, self._now())
            return tuple(_cancel_one(conn, session_id, target, generation) for target in targets)

        return await self._check_open().write(run)

    async def cancel_input_suffix(
        self, session_id: str, anchor: CancelTarget
    ) -> tuple[CancelResult, ...] | AnchorNotFound:
        """Cancel the anchor and every later input, atomically."""

        def run(conn: sqlite3.Connection) -> tuple[CancelResult, ...] | AnchorNotFound:
            found = _find(conn, session_id, anchor)
            if found is None:
                return AnchorNotFound(anchor)
            generation = live_generation(conn, session_id, self._now())
            suffix = [
                row["input_id"]
                for row in conn.execute(
                    "SELECT input_id FROM inputs WHERE session_id = ? AND enqueue_seq >= ? ORDER BY enqueue_seq",
                    (session_id, found["enqueue_seq"]),
                ).fetchall()
            ]
            return tuple(
                _cancel_one(conn, session_id, ByInputId(input_id), generation) for input_id in suffix
            )

        return await self._check_open().write(run)

    async def claim_next_turn_inputs(
        self, fence: LeaseFence, *, max_inputs: int = DEFAULT_CLAIM_LIMIT
    ) -> InputClaim | None:
        """Claim deferred next-turn inputs, oldest first."""
        check_limit("max_inputs", max_inputs)
        where = "state = ?"
        return await self._run_claim(
            *self._input_claim(fence, where, (_DEFERRED,), max_inputs, None, regroup=True)
        )

    async def claim_active_inputs(
        self,
        fence: LeaseFence,
        turn_id: str,
        checkpoint: InputBoundary,
        *,
        max_inputs: int = DEFAULT_CLAIM_LIMIT,
    ) -> InputClaim | None:
        """Claim the turn's active inputs the checkpoint admits; they become ``accepted``."""
        return await self._run_claim(*self._active_input_claim(fence, turn_id, checkpoint, max_inputs))

    def _active_input_claim(
        self, fence: LeaseFence, turn_id: str, checkpoint: InputBoundary, max_inputs: int
    ) -> tuple[Callable[[sqlite3.Connection], bool], Callable[[sqlite3.Connection], InputClaim | None]]:
        """The probe and the claim of the turn's active inputs the checkpoint admits."""
        check_limit("max_inputs", max_inputs)
        where = "state IN (?, ?) AND active_turn_id = ?"
        params: tuple[object, ...] = (_PENDING_ACTIVE, _ACCEPTED, turn_id)
        if checkpoint is not InputBoundary.BEFORE_COMPLETION:
            where += " AND min_boundary = ?"
            params += (InputBoundary.AFTER_WORK.value,)
        return self._input_claim(fence, where, params, max_inputs, PendingInputState.ACCEPTED)

    def _input_claim(
        self,
        fence: LeaseFence,
        where: str,
        params: tuple[object, ...],
        limit: int,
        state: PendingInputState | None,
        *,
        regroup: bool = False,
    ) -> tuple[Callable[[sqlite3.Connection], bool], Callable[[sqlite3.Connection], InputClaim | None]]:
        """A probe (is anything claimable?) and the claim of the rows ``where`` selects (oldest
        first, at most ``limit``), setting ``state`` when given; with ``regroup``, a head row
        still marked with a dead claim is claimed again only with the other rows of that claim."""
        query = (
            f"SELECT * FROM inputs WHERE session_id = ? AND {where} "
            "AND (claim_id IS NULL OR claim_generation != ?) ORDER BY enqueue_seq LIMIT ?"
        )

        def probe(conn: sqlite3.Connection) -> bool:
            generation = check_fence(conn, fence, self._now()).fencing_token
            return conn.execute(query, (fence.session_id, *params, generation, 1)).fetchone() is not None

        def run(conn: sqlite3.Connection) -> InputClaim | None:
            now = self._now()
            generation = check_fence(conn, fence, now).fencing_token
            rows = conn.execute(query, (fence.session_id, *params, generation, limit)).fetchall()
            if not rows:
                return None
            if regroup and rows[0]["claim_id"] is not None:
                rows = [row for row in rows if row["claim_id"] == rows[0]["claim_id"]]
            claim_id, token = new_claim()
            owner_json = dumps(fence.owner)
            for row in rows:
                conn.execute(
                    "UPDATE inputs SET claim_id = ?, claim_token = ?, claim_owner_json = ?, claim_generation = ?, "
                    "claim_fencing_token = claim_fencing_token + 1, claimed_at_ms = ?, state = ? "
                    "WHERE enqueue_seq = ?",
                    (
                        claim_id,
                        token,
                        owner_json,
                        generation,
                        now,
                        state.value if state is not None else row["state"],
                        row["enqueue_seq"],
                    ),
                )
            claimed = tuple(
                input_from_row(
                    conn.execute("SELECT * FROM inputs WHERE enqueue_seq = ?", (row[0],)).fetchone()
                )
                for row in rows
            )
            return InputClaim(fence.session_id, claim_id, token, generation, claimed)

        return probe, run

    async def abandon_input_claim(self, ref: ClaimRef) -> int:
        """Release the rows that still carry the claim (``accepted`` returns to ``pending_active``)."""

        def run(conn: sqlite3.Connection) -> int:
            released = 0
            for input_id in ref.item_ids:
                row = conn.execute(
                    "SELECT * FROM inputs WHERE session_id = ? AND input_id = ?", (ref.session_id, input_id)
                ).fetchone()
                if row is None or not owns(row, ref):
                    continue
                state = _PENDING_ACTIVE if row["state"] == _ACCEPTED else row["state"]
                conn.execute(
                    "UPDATE inputs SET state = ?, claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
                    "claim_generation = NULL, claimed_at_ms = NULL WHERE enqueue_seq = ?",
                    (state, row["enqueue_seq"]),
                )
                released += 1
            return released

        return await self._check_open().write(run)


def _turn_committed(conn: sqlite3.Connection, session_id: str, turn_id: str) -> bool:
    """True when the session holds the commit stamp of ``turn_id``."""
    return (
        conn.execute(
            "SELECT 1 FROM turn_commits WHERE session_id = ? AND turn_id = ?", (session_id, turn_id)
        ).fetchone()
        is not None
    )


def _find(conn: sqlite3.Connection, session_id: str, target: CancelTarget) -> sqlite3.Row | None:
    if isinstance(target, ByInputId):
        query, key = "SELECT * FROM inputs WHERE session_id = ? AND input_id = ?", target.input_id
    else:
        query, key = "SELECT * FROM inputs WHERE session_id = ? AND source_key = ?", target.source_key
    row: sqlite3.Row | None = conn.execute(query, (session_id, key)).fetchone()
    return row


def _cancel_one(
    conn: sqlite3.Connection, session_id: str, target: CancelTarget, generation: int | None
) -> CancelResult:
    row = _find(conn, session_id, target)
    if row is None:
        return CancelResult(target, CancelStatus.NOT_FOUND)
    if row["state"] == _COMPLETED:
        return CancelResult(target, CancelStatus.ALREADY_COMPLETED, input_from_row(row))
    if row["state"] == _CANCELLED:
        return CancelResult(target, CancelStatus.ALREADY_CANCELLED, input_from_row(row))
    if claim_live(row, generation):
        return CancelResult(target, CancelStatus.ALREADY_CLAIMED, input_from_row(row))
    conn.execute(
        "UPDATE inputs SET state = ?, claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
        "claim_generation = NULL, claimed_at_ms = NULL WHERE enqueue_seq = ?",
        (_CANCELLED, row["enqueue_seq"]),
    )
    updated = conn.execute("SELECT * FROM inputs WHERE enqueue_seq = ?", (row["enqueue_seq"],)).fetchone()
    return CancelResult(target, CancelStatus.CANCELLED, input_from_row(updated))
