"""The turn commit in SQL: one transaction, in the contract's order (private).

The session's advisory lock serializes commits, lease changes and active-turn input
enqueues of one session; the head row is compared and set under it. Anything that fails
raises and rolls the whole transaction back, so a failed commit leaves no node, head,
usage, claim, outbox or attachment change behind.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg.rows import DictRow

from lash_core.errors import ClaimSuperseded, HeadConflict, TurnCommitConflict
from lash_core.model import initial_frame_id
from lash_core.store.claims import ClaimRef
from lash_core.store.contract import CommitResult, SessionHead, TurnCommit
from lash_core.store.queued_work import QueuedWorkBatch, work_class
from lash_store_postgres import _inputs, _work
from lash_store_postgres._db import Tx
from lash_store_postgres._leases import release_locked
from lash_store_postgres._rows import LeaseRow, dump, lease_later, load

__all__: list[str] = []


def _lock_claims(
    tx: Tx, kind: str, table: str, key: str, session_id: str, refs: tuple[ClaimRef, ...]
) -> Callable[[], None]:
    """Queue the locks of the rows each claim names; the returned check raises
    :class:`ClaimSuperseded` unless each claim owns all its rows."""
    sent = [
        tx.later(
            f"SELECT {key}, claim_id, claim_token FROM {{s}}.{table} WHERE session_id = %s "
            f"AND {key} = ANY(%s) ORDER BY enqueue_seq FOR UPDATE",
            (session_id, list(ref.item_ids)),
        )
        for ref in refs
    ]

    def check() -> None:
        for ref, found in zip(refs, sent, strict=True):
            rows: dict[str, DictRow] = {r[key]: r for r in found.all()}
            for item_id in ref.item_ids:
                row = rows.get(item_id)
                if row is None:
                    raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} no longer exists")
                if row["claim_id"] != ref.claim_id or row["claim_token"] != ref.claim_token:
                    raise ClaimSuperseded(kind, ref.claim_id, f"{item_id!r} is no longer held by it")

    return check


def _complete(tx: Tx, table: str, key: str, state: str, session_id: str, refs: tuple[ClaimRef, ...]) -> None:
    ids = [item for ref in refs for item in ref.item_ids]
    if ids:
        tx.send(
            f"UPDATE {{s}}.{table} SET state = %s, claim_id = NULL, claim_token = NULL, claim_owner_json = NULL, "
            f"claim_generation = NULL, claimed_at_ms = NULL WHERE session_id = %s AND {key} = ANY(%s)",
            (state, session_id, ids),
        )


def commit(tx: Tx, commit: TurnCommit) -> CommitResult:
    """Apply one turn (the order is in :mod:`lash_core.store.contract`).

    Idempotent by turn id and hash, so the runner may run it again when the connection breaks
    with the outcome unknown. The reads of steps 1-3 go out together, after the session lock
    (one round trip); the head row is locked even when the turn turns out recorded.
    """
    tx.idempotent = True
    sid = commit.session_id
    tx.lock_session(sid)
    recorded_rows = tx.later(
        "SELECT commit_hash, result_json FROM {s}.turn_commits WHERE session_id = %s AND turn_id = %s",
        (sid, commit.turn_id),
    )
    lease_rows = lease_later(tx, sid)
    head_rows = tx.later("SELECT head_json FROM {s}.sessions WHERE session_id = %s FOR UPDATE", (sid,))
    recorded = recorded_rows.one()
    if recorded is not None:
        if recorded["commit_hash"] != commit.commit_hash:
            raise TurnCommitConflict(
                f"turn {commit.turn_id!r} of session {sid!r} was already committed with different content; "
                "use a new turn id for a new turn"
            )
        if commit.release_lease and commit.lease is not None:
            release_locked(tx, commit.lease)
        result: CommitResult = load(recorded["result_json"], CommitResult)
        return result
    lease_row = LeaseRow(lease_rows.one())
    if commit.lease is not None:
        lease_row.check(commit.lease)
    head_row = head_rows.one()
    head: SessionHead | None = load(head_row["head_json"], SessionHead) if head_row is not None else None
    current = head.head_revision if head is not None else 0
    if commit.expected_head_revision != current:
        raise HeadConflict(
            f"session {sid!r} is at revision {current}, but this turn was built on revision "
            f"{commit.expected_head_revision}; another writer committed first: reopen the session and retry"
        )
    check_inputs = _lock_claims(tx, "input", "inputs", "input_id", sid, commit.completed_input_claims)
    check_work = _lock_claims(tx, "work", "work_batches", "batch_id", sid, commit.completed_work_claims)
    check_inputs()
    check_work()
    for draft in commit.enqueue_work:
        work_class(draft.payloads)  # refuse a bad batch before anything changes
    if head is None:
        head = SessionHead(
            session_id=sid,
            head_revision=0,
            current_frame_id=initial_frame_id(sid),
            created_at_ms=commit.committed_at_ms,
        )
    node_count = head.node_count + len(commit.nodes)
    new_head = SessionHead(
        session_id=sid,
        head_revision=current + 1,
        current_frame_id=commit.current_frame_id,
        frames=commit.frames,
        ledger=head.ledger.merge(commit.usage_deltas),
        plugin_state=commit.plugin_state,
        turn_count=head.turn_count + commit.counts_as_turn,
        node_count=node_count,
        last_prompt_usage=commit.last_prompt_usage,
        created_at_ms=head.created_at_ms,
        updated_at_ms=commit.committed_at_ms,
    )
    tx.many(
        "INSERT INTO {s}.nodes (session_id, seq, turn_id, frame_id, node_json) VALUES (%s, %s, %s, %s, %s)",
        [
            (sid, head.node_count + i, node.turn_id, node.frame_id, dump(node))
            for i, node in enumerate(commit.nodes)
        ],
    )
    tx.send(
        "INSERT INTO {s}.sessions (session_id, head_revision, turn_count, node_count, created_at_ms, "
        "updated_at_ms, head_json) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET "
        "head_revision = EXCLUDED.head_revision, turn_count = EXCLUDED.turn_count, "
        "node_count = EXCLUDED.node_count, updated_at_ms = EXCLUDED.updated_at_ms, head_json = EXCLUDED.head_json",
        (
            sid,
            new_head.head_revision,
            new_head.turn_count,
            node_count,
            new_head.created_at_ms,
            new_head.updated_at_ms,
            dump(new_head),
        ),
    )
    tx.many(
        "INSERT INTO {s}.usage_deltas (session_id, turn_id, idx, source, model, input_tokens, output_tokens, "
        "cache_read_input_tokens, cache_write_input_tokens, reasoning_output_tokens, committed_at_ms) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                sid,
                commit.turn_id,
                i,
                e.source,
                e.model,
                e.usage.input_tokens,
                e.usage.output_tokens,
                e.usage.cache_read_input_tokens,
                e.usage.cache_write_input_tokens,
                e.usage.reasoning_output_tokens,
                commit.committed_at_ms,
            )
            for i, e in enumerate(commit.usage_deltas)
        ],
    )
    _complete(tx, "inputs", "input_id", "completed", sid, commit.completed_input_claims)
    _complete(tx, "work_batches", "batch_id", "completed", sid, commit.completed_work_claims)
    if commit.defer_active_inputs_of_turn is not None:
        _inputs.defer_unclaimed_active(tx, sid, lease_row.live_generation)
    enqueued: tuple[QueuedWorkBatch, ...] = tuple(_work.insert(tx, draft) for draft in commit.enqueue_work)
    if commit.attachment_ids:
        tx.send(
            "UPDATE {s}.attachments SET committed = true WHERE session_id = %s AND attachment_id = ANY(%s)",
            (sid, list(commit.attachment_ids)),
        )
    tx.send(
        "INSERT INTO {s}.turn_commits (session_id, turn_id, commit_hash, result_json) VALUES (%s, %s, %s, %s)",
        (sid, commit.turn_id, commit.commit_hash, dump(CommitResult(current + 1, True, enqueued))),
    )
    if commit.release_lease and commit.lease is not None:
        release_locked(tx, commit.lease)
    return CommitResult(current + 1, enqueued_work=enqueued)
