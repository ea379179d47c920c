"""What a turn does with the claims it serves: admission traces and the agent-frame handoff.

A drained turn holds claims on pending input (``turn_input.*`` traces) and queued work
(``queued_work.*``); they are completed in its commit. A turn run for a claim that switches
agent frames hands the follow-on frame over durably: the switching commit enqueues an
:class:`~lash_core.store.queued_work.AgentFrameTask` batch (the outbox), which the runtime
claims at once to run the follow-on frame, or, after a crash, the next drain runs as turn
work.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lash_core.model import AgentFrameSwitch, Message, Part, PartKind, Role, TurnOutcome
from lash_core.store.queued_work import (
    AgentFrameTask,
    DeliveryPolicy,
    ProcessWake,
    QueuedWorkDraft,
    SlotPolicy,
    WorkClaim,
)

if TYPE_CHECKING:
    from lash_core.store.inputs import InputClaim
    from lash_core.tracing import Tracer
    from lash_core.turn.state import TurnState

__all__ = [
    "handoff_draft",
    "handoff_key",
    "needs_handoff",
    "trace_claimed",
    "trace_completed_claims",
    "work_message",
]


def handoff_key(turn_id: str) -> str:
    """The source key of the handoff batch the commit of ``turn_id`` enqueues."""
    return f"agent-frame-handoff:{turn_id}"


def handoff_draft(
    session_id: str, turn_id: str, outcome: AgentFrameSwitch, options: dict[str, Any] | None
) -> QueuedWorkDraft:
    """The outbox batch handing the frame ``outcome`` opened over to the next physical turn."""
    return QueuedWorkDraft(
        session_id,
        (AgentFrameTask(outcome.frame_id, outcome.task or "Continue.", options),),
        source_key=handoff_key(turn_id),
        delivery=DeliveryPolicy.AFTER_CURRENT_TURN_COMMIT,
        slot=SlotPolicy.EXCLUSIVE,
    )


def work_message(payload: AgentFrameTask | ProcessWake, message_id: str) -> Message:
    """The message a turn-work payload becomes in a turn: a task is a user message with its
    text; a process wake an event message saying which process woke the session, with what."""
    if isinstance(payload, AgentFrameTask):
        role, text = Role.USER, payload.task
    else:
        body = json.dumps(payload.body, sort_keys=True, ensure_ascii=False)
        role, text = Role.EVENT, f"process {payload.process_id} woke the session ({payload.wake_id}): {body}"
    return Message(message_id, role, (Part(f"{message_id}.p0", PartKind.TEXT, text),))


def needs_handoff(outcome: TurnOutcome) -> bool:
    """True when ``outcome`` opens a follow-on agent frame."""
    return isinstance(outcome, AgentFrameSwitch) and bool(outcome.frame_id)


def trace_claimed(
    tracer: Tracer, session_id: str, turn_id: str | None, claim: InputClaim | WorkClaim, **extra: Any
) -> None:
    """Trace ``turn_input.claimed`` or ``queued_work.claimed`` for ``claim``."""
    if isinstance(claim, WorkClaim):
        name, items = "queued_work.claimed", {"batch_ids": [b.batch_id for b in claim.batches]}
    else:
        name, items = "turn_input.claimed", {"input_ids": [i.input_id for i in claim.inputs]}
    tracer.emit(session_id, turn_id, "custom", name=name, claim_id=claim.claim_id, **items, **extra)


def trace_completed_claims(tracer: Tracer, session_id: str, turn_id: str, state: TurnState) -> None:
    """Trace ``turn_input.completed`` / ``queued_work.completed`` for the claims a commit completed."""
    for name, refs, items in (
        ("turn_input.completed", state.input_claims, "input_ids"),
        ("queued_work.completed", state.work_claims, "batch_ids"),
    ):
        if refs:
            completed = {items: [item for ref in refs for item in ref.item_ids]}
            claim_ids = [ref.claim_id for ref in refs]
            tracer.emit(session_id, turn_id, "custom", name=name, claim_ids=claim_ids, **completed)
