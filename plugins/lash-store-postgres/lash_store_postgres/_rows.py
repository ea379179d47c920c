"""Rows of the PostgreSQL store to records and back, and the lease reads every facet shares (private).

JSON columns are ``text`` holding :func:`lash_core.store.codec.encode` output (``text``,
not ``jsonb``: ``jsonb`` rejects the ``\\u0000`` escape that model text may contain).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from psycopg.rows import DictRow

from lash_core.errors import LeaseLost
from lash_core.model import TurnInput
from lash_core.store.claims import ClaimInfo
from lash_core.store.codec import decode, encode
from lash_core.store.inputs import InputIngress, PendingInput, PendingInputState
from lash_core.store.leases import LeaseFence, LeaseOwner, LocalProcessLiveness, SessionLease
from lash_core.store.queued_work import (
    DeliveryPolicy,
    QueuedWorkBatch,
    SlotPolicy,
    WorkClass,
    WorkItem,
    WorkState,
)
from lash_store_postgres._db import NOW_MS, Rows, Tx

__all__: list[str] = []

T = TypeVar("T")

_CLAIM_COLUMNS = "claim_id, claim_owner_json, claim_generation, claim_fencing_token, claimed_at_ms"
INPUT_COLUMNS = (
    "session_id, input_id, enqueue_seq, source_key, ingress_json, state, input_json, enqueued_at_ms, "
    + _CLAIM_COLUMNS
)
WORK_COLUMNS = (
    "session_id, batch_id, enqueue_seq, work_class, delivery, slot, merge_key, available_at_ms, "
    "enqueued_at_ms, source_key, state, items_json, " + _CLAIM_COLUMNS
)
LEASE_COLUMNS = "owner_id, owner_incarnation, owner_liveness_json, lease_token, fencing_token, claimed_at_ms, expires_at_ms"

# A row's claim is *not* live (lease-less paths) unless the session's live lease is of its generation;
# %(gen)s is that live generation (NULL when no lease is live).
NOT_LIVE_CLAIM = "(claim_id IS NULL OR %(gen)s::bigint IS NULL OR claim_generation <> %(gen)s)"
# Claim path: a row is claimable unless it is claimed by the caller's own generation %(gen)s.
CLAIMABLE = "(claim_id IS NULL OR claim_generation <> %(gen)s)"


def dump(value: Any) -> str:
    """The JSON text of a store record or model value."""
    return json.dumps(encode(value), separators=(",", ":"), ensure_ascii=False)


def load(text: str, as_type: Any) -> Any:
    """A record read back from :func:`dump` text."""
    return decode(json.loads(text), as_type)


def owner_columns(owner: LeaseOwner) -> tuple[str, str, str | None]:
    """``owner_id``, ``owner_incarnation`` and the liveness JSON of an owner."""
    liveness = dump(owner.liveness) if owner.liveness is not None else None
    return owner.owner_id, owner.incarnation, liveness


def _owner(owner_id: str, incarnation: str, liveness_json: str | None) -> LeaseOwner:
    liveness = load(liveness_json, LocalProcessLiveness) if liveness_json else None
    return LeaseOwner(owner_id, incarnation, liveness)


def claim_info(row: DictRow) -> ClaimInfo | None:
    """The claim columns of an input or work row, or ``None`` when it is unclaimed."""
    if row["claim_id"] is None:
        return None
    return ClaimInfo(
        claim_id=row["claim_id"],
        owner=load(row["claim_owner_json"], LeaseOwner),
        lease_generation=int(row["claim_generation"]),
        claim_fencing_token=int(row["claim_fencing_token"]),
        claimed_at_ms=int(row["claimed_at_ms"]),
    )


def input_record(row: DictRow) -> PendingInput:
    """A pending input from an ``inputs`` row (:data:`INPUT_COLUMNS`)."""
    ingress: InputIngress = load(row["ingress_json"], InputIngress)
    return PendingInput(
        input_id=row["input_id"],
        session_id=row["session_id"],
        enqueue_seq=int(row["enqueue_seq"]),
        ingress=ingress,
        state=PendingInputState(row["state"]),
        enqueued_at_ms=int(row["enqueued_at_ms"]),
        input=load(row["input_json"], TurnInput),
        source_key=row["source_key"],
        claim=claim_info(row),
    )


def work_record(row: DictRow) -> QueuedWorkBatch:
    """A queued work batch from a ``work_batches`` row (:data:`WORK_COLUMNS`)."""
    return QueuedWorkBatch(
        batch_id=row["batch_id"],
        session_id=row["session_id"],
        enqueue_seq=int(row["enqueue_seq"]),
        work_class=WorkClass(row["work_class"]),
        items=load(row["items_json"], tuple[WorkItem, ...]),
        delivery=DeliveryPolicy(row["delivery"]),
        slot=SlotPolicy(row["slot"]),
        available_at_ms=int(row["available_at_ms"]),
        enqueued_at_ms=int(row["enqueued_at_ms"]),
        merge_key=row["merge_key"],
        source_key=row["source_key"],
        state=WorkState(row["state"]),
        claim=claim_info(row),
    )


class LeaseRow:
    """A session's lease row as read in a transaction, with the database clock at the read.

    ``lease`` is the recorded lease (live or expired; ``None`` when released or never
    taken); ``fencing`` the last fencing token handed out (0 when there is no row).
    """

    __slots__ = ("exists", "fencing", "lease", "now")

    def __init__(self, row: DictRow | None) -> None:
        assert row is not None
        self.now = int(row["now_ms"])
        self.exists = row["fencing_token"] is not None
        self.fencing = int(row["fencing_token"] or 0)
        self.lease: SessionLease | None = None
        if row["lease_token"] is not None:
            self.lease = SessionLease(
                session_id=row["session_id"],
                owner=_owner(row["owner_id"], row["owner_incarnation"], row["owner_liveness_json"]),
                lease_token=row["lease_token"],
                fencing_token=int(row["fencing_token"]),
                claimed_at_ms=int(row["claimed_at_ms"]),
                expires_at_ms=int(row["expires_at_ms"]),
            )

    @property
    def live(self) -> SessionLease | None:
        """The lease when it is live at :attr:`now`."""
        lease = self.lease
        return lease if lease is not None and lease.is_live(self.now) else None

    @property
    def live_generation(self) -> int | None:
        """The fencing token of the live lease (claims of that generation are live)."""
        live = self.live
        return live.fencing_token if live is not None else None

    def check(self, fence: LeaseFence) -> SessionLease:
        """The live lease ``fence`` proves, or :class:`LeaseLost` saying why not."""
        lease = self.lease
        if lease is None:
            reason = "it was released"
        elif not lease.matches(fence):
            reason = f"owner {lease.owner.owner_id!r} holds fencing token {lease.fencing_token} now"
        elif not lease.is_live(self.now):
            reason = f"it expired {self.now - lease.expires_at_ms} ms ago by the database clock"
        else:
            return lease
        raise LeaseLost(
            f"the execution lease of session {fence.session_id!r} with fencing token {fence.fencing_token} "
            f"is no longer live ({reason}); stop working on the session and claim the lease again"
        )


def lease_later(tx: Tx, session_id: str) -> Rows:
    """Queue the read of the session's lease row and the database clock (:class:`LeaseRow`
    of its ``one()``); it runs after every statement queued before it, locks included."""
    return tx.later(
        f"SELECT %(sid)s AS session_id, {NOW_MS} AS now_ms, l.* FROM (SELECT 1) AS one "
        f"LEFT JOIN (SELECT {LEASE_COLUMNS} FROM {{s}}.leases WHERE session_id = %(sid)s) AS l ON true",
        {"sid": session_id},
    )


def read_lease(tx: Tx, session_id: str, *, lock: str = "") -> LeaseRow:
    """The session's lease row and the database clock, read after any lock was taken.

    ``lock`` is ``""`` or a row-lock clause (``"FOR SHARE"``) applied to the lease row.
    """
    if lock:
        tx.send(f"SELECT 1 FROM {{s}}.leases WHERE session_id = %s {lock}", (session_id,))
    return LeaseRow(lease_later(tx, session_id).one())
