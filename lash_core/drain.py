"""Draining a session: run what is pending for it, under its execution lease.

In order, each step repeated until nothing is left (or ``max_turns`` turns ran):

1. **session commands** at the head of the queued work (:class:`RefreshToolCatalog`,
   :class:`ResetSession`) are applied one batch at a time, each settled by its own fenced
   commit (which records no turn); ``session_command`` observers hear of each;
2. **pending next-turn input** is claimed (up to 64 inputs, merged in submission order)
   and run as one turn;
3. otherwise ready **turn work** is claimed (up to 64 batches) and run as one turn:
   an :class:`AgentFrameTask` gives its task as the input, a :class:`ProcessWake` an event
   message the model sees before it.

A drained turn's id derives from exactly what it claimed (``input-<id>`` for one input), so
a turn re-run after a crash, which claims the same group again, keeps its id: the store
then answers a repeated commit, and a journaling effect host replays the effects it
recorded. Claims are traced (``turn_input.claimed``, ``queued_work.claimed``) and completed
in the turn's commit (``turn_input.completed``, ``queued_work.completed``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from attrs import frozen

from lash_core.errors import DurableStoreRequired, SessionBusy
from lash_core.hooks.context import SessionHookContext
from lash_core.model import (
    AssembledTurn,
    FinalValue,
    Finished,
    Message,
    TextItem,
    TurnInput,
    open_frame,
)
from lash_core.store.commit_hash import turn_commit_hash
from lash_core.store.contract import SessionStore, TurnCommit
from lash_core.store.inputs import InputClaim
from lash_core.store.queued_work import (
    AgentFrameTask,
    ProcessWake,
    ResetSession,
    WorkBoundary,
    WorkClaim,
)
from lash_core.turn.claims import trace_claimed, work_message
from lash_core.turn.runner import TurnRunner

if TYPE_CHECKING:
    from lash_core.leasing import LeaseGuard
    from lash_core.session import EventSink, Session, Turn

__all__ = ["MAX_CLAIMED_INPUTS", "claimed_turn_id", "drain_session", "materialize_work", "merge_inputs"]

MAX_CLAIMED_INPUTS = 64
"""Pending inputs (or queued work batches) one drained turn takes at most."""


def claimed_turn_id(item_ids: Sequence[str], prefix: str = "input") -> str:
    """The id of the turn run for the claimed ``item_ids`` (input or batch ids, in order):
    ``<prefix>-<id>`` for one, with a digest of all of them appended for several."""
    first = item_ids[0]
    if len(item_ids) == 1:
        return f"{prefix}-{first}"
    digest = hashlib.sha256("\n".join(item_ids).encode()).hexdigest()[:16]
    return f"{prefix}-{first}-and-{len(item_ids) - 1}-{digest}"


def merge_inputs(inputs: list[TurnInput]) -> TurnInput:
    """One turn input from several pending ones: their items in order, the first non-empty
    protocol options, trace turn id and turn context (model override, output spec, ...)."""
    items = tuple(item for turn_input in inputs for item in turn_input.items)
    options = next((i.protocol_turn_options for i in inputs if i.protocol_turn_options), None)
    trace_id = next((i.trace_turn_id for i in inputs if i.trace_turn_id), None)
    context = next((i.context for i in inputs if i.context is not None), None)
    return TurnInput(items=items, protocol_turn_options=options, trace_turn_id=trace_id, context=context)


def materialize_work(claim: WorkClaim, turn_id: str) -> tuple[TurnInput, tuple[Message, ...]]:
    """The turn input and the event messages ("causes") of claimed turn work: tasks become
    text items (the first task's protocol options apply), wakes event messages."""
    items: list[TextItem] = []
    options = None
    causes: list[Message] = []
    for batch in claim.batches:
        for item in batch.items:
            payload = item.payload
            if isinstance(payload, AgentFrameTask):
                items.append(TextItem(payload.task))
                options = options or payload.protocol_turn_options
            elif isinstance(payload, ProcessWake):
                causes.append(work_message(payload, f"m:{turn_id}:cause:{len(causes)}"))
    return TurnInput(items=tuple(items), protocol_turn_options=options), tuple(causes)


@frozen
class _ClaimedTurn:
    """A turn to run for a claim: its input, id and event messages, and what it claimed."""

    input: TurnInput
    turn_id: str
    claim: InputClaim | WorkClaim
    causes: tuple[Message, ...] = ()


async def _claim_next_turn(store: SessionStore, guard: LeaseGuard) -> _ClaimedTurn | None:
    """Claim what the next drained turn runs: pending input first, else ready turn work."""
    inputs = await store.claim_next_turn_inputs(guard.fence, max_inputs=MAX_CLAIMED_INPUTS)
    if inputs is not None:
        merged = merge_inputs([pending.input for pending in inputs.inputs])
        turn_id = merged.trace_turn_id or claimed_turn_id([i.input_id for i in inputs.inputs])
        return _ClaimedTurn(merged, turn_id, inputs)
    work = await store.claim_ready_work(guard.fence, WorkBoundary.IDLE, max_batches=MAX_CLAIMED_INPUTS)
    if work is None:
        return None
    turn_id = claimed_turn_id([b.batch_id for b in work.batches], prefix="work")
    turn_input, causes = materialize_work(work, turn_id)
    return _ClaimedTurn(turn_input, turn_id, work, causes)


async def drain_session(
    session: Session, *, max_turns: int | None = None, sink: EventSink | None = None
) -> list[AssembledTurn]:
    """Run what is pending for ``session`` (see the module docs); returns the turns run, an
    empty list when nothing was pending or another worker holds the session."""
    if session.is_running:
        raise SessionBusy(session.id, "")
    results: list[AssembledTurn] = []
    holder: list[Turn] = []
    guard = session.lease_guard(
        on_lost=lambda: holder[0].cancel("the session execution lease was lost") if holder else None
    )
    if guard is None:
        raise DurableStoreRequired("session store with pending input", type(session.core.store).__name__)
    if not await guard.try_acquire():
        return results
    store, tracer = session.core.store, session.core.tracer
    try:
        await session.refresh(guard.head_revision)
        while max_turns is None or len(results) < max_turns:
            command = await store.claim_leading_command(guard.fence)
            if command is not None:
                await _apply_commands(session, guard, command)
                continue
            claimed = await _claim_next_turn(store, guard)
            if claimed is None:
                break
            if tracer.enabled:
                trace_claimed(tracer, session.id, claimed.turn_id, claimed.claim)
            last = max_turns is not None and len(results) + 1 >= max_turns
            results.append(await _run(session, guard, holder, claimed, sink, last))
    finally:
        await guard.release()
    return results


async def _run(
    session: Session,
    guard: LeaseGuard,
    holder: list[Turn],
    claimed: _ClaimedTurn,
    sink: EventSink | None,
    last: bool,
) -> AssembledTurn:
    """Run one claimed turn on ``session`` under ``guard``; the lease stays held after it
    unless this is the ``last`` turn of the drain (then its commit releases it)."""
    from lash_core.session import Turn  # the session module imports this one

    turn = Turn(session, claimed.input, claimed.turn_id, (sink,) if sink else ())
    holder[:] = [turn]
    turn.mark_started()
    session.begin(turn)
    claim = claimed.claim
    try:
        runner = TurnRunner(
            session,
            turn,
            guard=guard,
            input_claim=claim if isinstance(claim, InputClaim) else None,
            work_claim=claim if isinstance(claim, WorkClaim) else None,
            causes=claimed.causes,
            release_on_commit=last,
        )
        return await runner.run()
    finally:
        session.end(turn)


async def _apply_commands(session: Session, guard: LeaseGuard, claim: WorkClaim) -> None:
    """Apply a claimed batch of session commands and settle it in one fenced commit.

    ``session_command`` observers hear of each command first (a refresh of the tool catalog
    is theirs to do: the kernel builds the catalog afresh every turn); a
    :class:`ResetSession` then opens a fresh, empty agent frame (the old one stays stored).
    """
    core = session.core
    turn_id = claimed_turn_id([b.batch_id for b in claim.batches], prefix="command")
    if core.tracer.enabled:
        trace_claimed(core.tracer, session.id, turn_id, claim)
    commands = [item.payload for batch in claim.batches for item in batch.items]
    if core.caller.has("session_command"):
        ctx = SessionHookContext(session.id, session.history, session.policy)
        for command in commands:
            await core.caller.observe("session_command", ctx=ctx, command=command)
    frames, frame_id = session.frames, session.current_frame_id
    if any(isinstance(command, ResetSession) for command in commands):
        new_frame = f"{session.id}:frame:{turn_id}"
        frames = open_frame(
            frames,
            frame_id,
            new_frame,
            session_id=session.id,
            reason="reset_session",
            created_at_ms=core.clock.now_ms(),
            caused_by=turn_id,
        )
        frame_id = new_frame
    outcome = Finished(FinalValue({"session_commands": [command.TAG for command in commands]}))
    plugin_state = session.plugin_state
    commit = TurnCommit(
        session_id=session.id,
        turn_id=turn_id,
        commit_hash=turn_commit_hash(turn_id, [frame_id], [], outcome, [], plugin_state),
        expected_head_revision=session.head_revision,
        nodes=(),
        current_frame_id=frame_id,
        frames=frames,
        outcome=outcome,
        plugin_state=plugin_state,
        last_prompt_usage=session.last_prompt_usage if frame_id == session.current_frame_id else None,
        committed_at_ms=core.clock.now_ms(),
        lease=guard.fence,
        completed_work_claims=(claim.ref,),
        counts_as_turn=False,
    )
    result = await core.store.commit(commit)
    if not result.replayed:
        session.apply_commit(commit, result.head_revision)
    if core.tracer.enabled:
        core.tracer.emit(
            session.id,
            turn_id,
            "custom",
            name="queued_work.completed",
            claim_ids=[claim.claim_id],
            batch_ids=[b.batch_id for b in claim.batches],
            commands=[command.TAG for command in commands],
        )
