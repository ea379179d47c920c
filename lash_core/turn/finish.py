"""Finishing a physical turn: finalize it, commit it and report it.

:class:`TurnFinisher` runs the last phases of every physical turn of a logical turn, in order
(each reported to the runtime's phase probe): ``finalize_turn`` (the hook may append messages
or emit events), ``commit`` (shielded, with the store's deadline when it is durable) and
``turn_persisted``. The commit carries the turn's history delta (the frame a ``prepare_turn``
hook opened, see :class:`FrameOpening`, and the frame an ``AgentFrameSwitch`` outcome opens),
its usage, the plugin state, the claims it completes and, for a claim-originated frame switch,
the handoff batch (see :mod:`lash_core.turn.claims`). A turn that is not committed (invalid
input with no claim to settle) is still reported, by :meth:`TurnFinisher.uncommitted`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import anyio
from attrs import evolve, frozen

from lash_core.effects import DurabilityTier
from lash_core.errors import HookError, LashError, LeaseLost
from lash_core.hooks.context import SessionHookContext, TurnHookContext, TurnSummary
from lash_core.hooks.directives import EnqueueMessages, as_directives
from lash_core.model import (
    AgentFrameRecord,
    AgentFrameSwitch,
    AssembledTurn,
    AssistantMessage,
    Cancelled,
    ExecutionSummary,
    FinalValue,
    FinalValueEvent,
    Finished,
    Message,
    Part,
    PartKind,
    Role,
    Stopped,
    TokenLedgerEntry,
    ToolValueEvent,
    ToolValueFinish,
    TurnOutcome,
    open_frame,
    outcome_status,
)
from lash_core.store.commit_hash import turn_commit_hash
from lash_core.store.contract import CommitResult, HistoryNode, TurnCommit
from lash_core.store.queued_work import QueuedWorkDraft
from lash_core.turn.assemble import assistant_output
from lash_core.turn.claims import handoff_draft, handoff_key, needs_handoff, trace_completed_claims
from lash_core.turn.hook_directives import apply_directive
from lash_core.turn.state import TurnState

if TYPE_CHECKING:
    from lash_core.leasing import LeaseGuard
    from lash_core.session import Session, Turn

__all__ = ["FrameOpening", "TurnFinisher", "trace_failed"]


@frozen
class FrameOpening:
    """A frame a ``prepare_turn`` hook opened for the running physical turn (``SwitchAgentFrame``)."""

    frame_id: str
    reason: str
    seed: tuple[Message, ...]


def trace_failed(state: TurnState, reason: str) -> None:
    """Trace the end of a physical turn that failed before its commit (pairs ``turn_started``)."""
    tracer = state.services.tracer
    if tracer.enabled:
        tracer.emit(state.session_id, state.turn_id, "turn_completed", status="error", done_reason=reason)


def _trace_completed(state: TurnState, outcome: TurnOutcome) -> None:
    tracer = state.services.tracer
    if tracer.enabled:
        status, reason = outcome_status(outcome)
        tracer.emit(
            state.session_id,
            state.turn_id,
            "turn_completed",
            status=status,
            done_reason=reason,
            agent_frame_switch=isinstance(outcome, AgentFrameSwitch),
        )


class TurnFinisher:
    """Finalizes, commits and reports the physical turns of one logical turn.

    ``phase`` wraps each phase for the runtime's phase probe; ``release_on_commit`` lets the
    commit that ends the logical turn release the lease ``guard`` holds.
    """

    def __init__(
        self,
        session: Session,
        handle: Turn,
        *,
        guard: LeaseGuard | None,
        release_on_commit: bool,
        claim_originated: bool,
        phase: Callable[[str], AbstractContextManager[None]],
    ) -> None:
        self.session = session
        self.handle = handle
        self.core = session.core
        self.guard = guard
        self.release_on_commit = release_on_commit
        self.claim_originated = claim_originated
        self._phase = phase
        self._handoff_batch: str | None = None

    def take_handoff_batch(self) -> str | None:
        """The handoff batch the last commit enqueued (``None`` if none, or if it was replayed), once."""
        batch_id, self._handoff_batch = self._handoff_batch, None
        return batch_id

    async def finish(
        self,
        state: TurnState,
        hook_ctx: TurnHookContext,
        outcome: TurnOutcome,
        started_ms: int,
        started: float,
        *,
        opened: FrameOpening | None = None,
        run_hooks: bool = True,
        committed: list[AssembledTurn] | None = None,
    ) -> AssembledTurn:
        """Finalize, commit and report one physical turn. ``opened`` is the frame its
        ``prepare_turn`` opened, if any; ``committed`` receives the result as soon as the commit
        succeeded (so a later cancellation does not commit again)."""
        session = self.session
        caller = state.services.caller
        if isinstance(outcome, Finished):
            self._materialize_finish(state, outcome)
        output = assistant_output(outcome, state.turn_messages, state.issues)
        with self._phase("finalize_turn"):
            if run_hooks and caller.has("finalize_turn"):
                summary = TurnSummary(
                    outcome, output, state.usage, tuple(state.tool_records), tuple(state.issues)
                )
                await self._finalize_hooks(state, hook_ctx, summary)
            plugin_state = session.snapshot_plugin_state()
        deltas: list[TokenLedgerEntry] = []
        if not state.usage.is_zero:
            deltas.append(TokenLedgerEntry("turn", state.model.id, state.usage))
        deltas.extend(state.child_ledger.entries)
        frames, frame_id, nodes = self._history_delta(state, outcome, opened)
        guard = self.guard
        if guard is not None and guard.lost:
            await self._abandon_claims(state)
            raise LeaseLost(
                f"session {session.id!r}: the execution lease was lost during turn {state.turn_id!r}; "
                "nothing was committed and the input will be served again"
            )
        release = guard is not None and self.release_on_commit and not isinstance(outcome, AgentFrameSwitch)
        commit = TurnCommit(
            session_id=session.id,
            turn_id=state.turn_id,
            commit_hash=turn_commit_hash(
                state.turn_id,
                [frame_id],
                [node.message for node in nodes],
                outcome,
                deltas,
                plugin_state,
            ),
            expected_head_revision=session.head_revision,
            nodes=nodes,
            current_frame_id=frame_id,
            frames=frames,
            outcome=outcome,
            usage_deltas=tuple(deltas),
            plugin_state=plugin_state,
            last_prompt_usage=state.last_prompt_usage,
            attachment_ids=tuple(
                part.attachment.attachment_id
                for node in nodes
                for part in node.message.parts
                if part.attachment
            ),
            committed_at_ms=self.core.clock.now_ms(),
            lease=guard.fence if guard is not None else None,
            release_lease=release,
            completed_input_claims=tuple(state.input_claims),
            completed_work_claims=tuple(state.work_claims),
            enqueue_work=self._handoff_outbox(state, outcome) if guard is not None else (),
            # Active input that missed the logical turn's last checkpoint waits for the next turn
            # (after a frame switch the logical turn goes on: nothing is deferred yet).
            defer_active_inputs_of_turn=self.handle.turn_id
            if guard is not None and not isinstance(outcome, AgentFrameSwitch)
            else None,
        )
        await self._emit_outcome(state, outcome)
        result = await self._commit(state, commit)
        if not result.replayed:  # a replayed commit is already in the session (idempotent re-run)
            session.apply_commit(commit, result.head_revision)
        if release and guard is not None:
            guard.lease = None  # released by the commit
        self._handoff_batch = next(
            (b.batch_id for b in result.enqueued_work if b.source_key == handoff_key(state.turn_id)), None
        )
        if state.services.tracer.enabled:
            trace_completed_claims(state.services.tracer, session.id, state.turn_id, state)
        clock = self.core.clock
        assembled = AssembledTurn(
            session_id=session.id,
            turn_id=state.turn_id,
            outcome=outcome,
            assistant_output=output,
            execution=ExecutionSummary(
                had_tool_calls=state.had_tool_calls,
                had_code_execution=False,
                started_at_ms=started_ms,
                duration_ms=int((clock.monotonic() - started) * 1000),
            ),
            token_usage=state.usage,
            head_revision=result.head_revision,
            messages=tuple(node.message for node in nodes),
            tool_calls=tuple(state.tool_records),
            errors=tuple(state.issues),
            usage_by_source=tuple(deltas),
            cancellation_reason=self.handle.cancel_reason
            if isinstance(outcome, Stopped) and isinstance(outcome.stop, Cancelled)
            else None,
        )
        if committed is not None:
            committed.append(assembled)
        with self._phase("turn_persisted"):
            if run_hooks and caller.has("turn_persisted"):
                ctx = SessionHookContext(
                    session.id, session.history, session.policy, state.completions("turn-persisted")
                )
                await caller.observe("turn_persisted", ctx=ctx, turn=assembled)
        _trace_completed(state, outcome)
        return assembled

    def uncommitted(
        self, state: TurnState, outcome: TurnOutcome, started_ms: int, started: float
    ) -> AssembledTurn:
        """Report a physical turn that ends without a commit (it leaves the session as it was)."""
        clock = self.core.clock
        issues = list(state.issues)
        _trace_completed(state, outcome)  # pair the turn_started record, as a committed turn does
        return AssembledTurn(
            session_id=self.session.id,
            turn_id=state.turn_id,
            outcome=outcome,
            assistant_output=assistant_output(outcome, (), issues),
            execution=ExecutionSummary(False, False, started_ms, int((clock.monotonic() - started) * 1000)),
            token_usage=state.usage,
            head_revision=self.session.head_revision,
            errors=tuple(issues),
        )

    async def _finalize_hooks(
        self, state: TurnState, hook_ctx: TurnHookContext, summary: TurnSummary
    ) -> None:
        """Run ``finalize_turn``: enqueued messages join the turn's messages, events are emitted."""
        for plugin, result in await state.services.caller.collect(
            "finalize_turn", ctx=hook_ctx, turn=summary
        ):
            for directive in as_directives(result):
                if isinstance(directive, EnqueueMessages) and directive.transient:
                    raise HookError(
                        plugin,
                        "finalize_turn",
                        ValueError(
                            "transient messages cannot be enqueued at finalize_turn: no model call "
                            "follows; enqueue them without transient=True to commit them"
                        ),
                    )
                state.turn_messages.extend(await apply_directive(state, plugin, "finalize_turn", directive))

    async def _commit(self, state: TurnState, commit: TurnCommit) -> CommitResult:
        """Commit to the store, shielded; a durable store gets the runtime's commit timeout."""
        with self._phase("commit"):
            store = self.core.store
            deadline = (
                anyio.current_time() + self.core.commit_timeout
                if store.durability is DurabilityTier.DURABLE
                else math.inf
            )
            with anyio.CancelScope(shield=True, deadline=deadline) as shield:
                try:
                    result = await store.commit(commit)
                except LeaseLost:
                    await self._abandon_claims(state)
                    raise
            if shield.cancelled_caught:
                raise LashError(
                    f"the commit of turn {state.turn_id!r} did not finish within {self.core.commit_timeout} s; "
                    "the store may be unreachable"
                )
        return result

    def _materialize_finish(self, state: TurnState, outcome: Finished) -> None:
        """Append an assistant-message finish as the turn's last message unless it already is."""
        finish = outcome.finish
        if not isinstance(finish, AssistantMessage) or not finish.text:
            return
        for message in reversed(state.turn_messages):
            if message.id in state.transient_ids:
                continue
            if message.role is Role.ASSISTANT and message.text == finish.text:
                return
            break
        message_id = state.new_message_id()
        state.turn_messages.append(
            Message(message_id, Role.ASSISTANT, (Part(f"{message_id}.p0", PartKind.PROSE, finish.text),))
        )

    async def _emit_outcome(self, state: TurnState, outcome: TurnOutcome) -> None:
        if isinstance(outcome, Finished):
            if isinstance(outcome.finish, FinalValue):
                await state.emit(FinalValueEvent(outcome.finish.value))
            elif isinstance(outcome.finish, ToolValueFinish):
                await state.emit(ToolValueEvent(outcome.finish.tool_name, outcome.finish.value))

    def _history_delta(
        self, state: TurnState, outcome: TurnOutcome, opened: FrameOpening | None
    ) -> tuple[tuple[AgentFrameRecord, ...], str, tuple[HistoryNode, ...]]:
        """The frames, the current frame and the history nodes the turn's commit writes."""
        session = self.session
        frame_id = session.current_frame_id
        frames = session.frames
        nodes: list[HistoryNode] = []
        if opened is not None:  # a prepare_turn frame switch: the seed and the whole turn are in it
            frames = self._open_frame(state, frames, frame_id, opened.frame_id, opened.reason)
            frame_id = opened.frame_id
            nodes.extend(HistoryNode(frame_id, state.turn_id, message) for message in opened.seed)
        nodes.extend(HistoryNode(frame_id, state.turn_id, message) for message in state.turn_messages)
        if isinstance(outcome, AgentFrameSwitch) and outcome.frame_id and outcome.frame_id != frame_id:
            frames = self._open_frame(state, frames, frame_id, outcome.frame_id, "continue_as")
            new_frame = outcome.frame_id
            for index, seed in enumerate(outcome.initial_messages):
                message_id = f"m:{state.turn_id}:seed:{index}"
                parts = tuple(evolve(p, id=f"{message_id}.p{i}") for i, p in enumerate(seed.parts))
                nodes.append(HistoryNode(new_frame, state.turn_id, evolve(seed, id=message_id, parts=parts)))
            frame_id = new_frame
        return frames, frame_id, tuple(nodes)

    def _open_frame(
        self,
        state: TurnState,
        frames: tuple[AgentFrameRecord, ...],
        current: str,
        frame_id: str,
        reason: str,
    ) -> tuple[AgentFrameRecord, ...]:
        """``frames`` with ``current`` superseded and ``frame_id`` opened after it, caused by the turn."""
        return open_frame(
            frames,
            current,
            frame_id,
            session_id=self.session.id,
            reason=reason,
            created_at_ms=self.core.clock.now_ms(),
            caused_by=state.turn_id,
            protocol_turn_options=state.input.protocol_turn_options,
        )

    def _handoff_outbox(self, state: TurnState, outcome: TurnOutcome) -> tuple[QueuedWorkDraft, ...]:
        """The handoff batch a claim-originated turn switching agent frames commits (else none)."""
        if not (self.claim_originated and needs_handoff(outcome)):
            return ()
        assert isinstance(outcome, AgentFrameSwitch)
        return (handoff_draft(self.session.id, state.turn_id, outcome, state.input.protocol_turn_options),)

    async def _abandon_claims(self, state: TurnState) -> None:
        """Give the turn's input and work claims back after a lost lease (best effort;
        generation fencing makes it safe to skip)."""
        store = self.core.store
        with anyio.CancelScope(shield=True):
            for abandon, refs in (
                (store.abandon_input_claim, state.input_claims),
                (store.abandon_work_claim, state.work_claims),
            ):
                for ref in refs:
                    try:
                        await abandon(ref)
                    except Exception:
                        pass
