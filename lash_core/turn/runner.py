"""Running a logical turn: its physical turns, their phases and their commits.

Phases of a physical turn, in order (each reported to the runtime's phase probe):
``normalize_input``, ``context_transform``, ``prepare_turn``, ``prompt_build``,
``effect_loop`` (the protocol), ``finalize_turn``, ``commit``, ``turn_persisted``.
An ``AgentFrameSwitch`` outcome is followed by another physical turn
(``<root>:agent-frame:<n>``), at most :data:`MAX_AGENT_FRAME_SWITCHES` times. A
``SwitchAgentFrame`` directive from ``prepare_turn`` instead opens the new frame before the
model is called, within the same physical turn (compaction); it is committed with the turn.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from attrs import evolve, frozen

from lash_core.effects import DurabilityTier
from lash_core.errors import HookError, LashError, LeaseLost
from lash_core.hooks.context import PromptContext, SessionHookContext, TurnHookContext, TurnSummary
from lash_core.hooks.directives import (
    AbortTurn,
    EmitEvent,
    EnqueueMessages,
    SwitchAgentFrame,
    as_directives,
    stamp_frame_seed,
    stamp_plugin_messages,
)
from lash_core.model import (
    AgentFrameRecord,
    AgentFrameSwitch,
    AssembledTurn,
    AssistantMessage,
    Cancelled,
    ErrorEvent,
    ExecutionSummary,
    FinalValue,
    FinalValueEvent,
    Finished,
    InvalidInput,
    Message,
    Part,
    PartKind,
    PluginAbort,
    PluginRuntime,
    PromptContribution,
    QueuedWorkStarted,
    Role,
    RuntimeErrorStop,
    Stopped,
    TextItem,
    TokenLedgerEntry,
    ToolValueEvent,
    ToolValueFinish,
    TurnInput,
    TurnIssue,
    TurnOutcome,
    open_frame,
    outcome_status,
)
from lash_core.store.claims import ClaimRef
from lash_core.store.commit_hash import turn_commit_hash
from lash_core.store.contract import HistoryNode, TurnCommit
from lash_core.store.inputs import InputBoundary, InputClaim
from lash_core.store.queued_work import QueuedWorkDraft, WorkBoundary, WorkClaim
from lash_core.turn.assemble import assistant_output
from lash_core.turn.claims import (
    handoff_draft,
    handoff_key,
    needs_handoff,
    trace_claimed,
    trace_completed_claims,
)
from lash_core.turn.driver import TurnDriver
from lash_core.turn.input import InvalidTurnInput, normalize_input
from lash_core.turn.prompt import build_system_prompt, prompt_hash
from lash_core.turn.state import TurnServices, TurnState, TurnStopped

if TYPE_CHECKING:
    from lash_core.leasing import LeaseGuard
    from lash_core.session import Session, Turn

__all__ = ["MAX_AGENT_FRAME_SWITCHES", "TurnRunner"]

MAX_AGENT_FRAME_SWITCHES = 16
_NO_PROBE = nullcontext()


@contextmanager
def _probed(probe: Callable[[str, float, float], None], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        probe(name, started, time.perf_counter())


@frozen
class _FrameOpening:
    """A frame a ``prepare_turn`` hook opened for the running physical turn (``SwitchAgentFrame``)."""

    frame_id: str
    reason: str
    seed: tuple[Message, ...]


class TurnRunner:
    """Runs one logical turn of a session."""

    def __init__(
        self,
        session: Session,
        handle: Turn,
        *,
        guard: LeaseGuard | None = None,
        input_claim: InputClaim | None = None,
        work_claim: WorkClaim | None = None,
        causes: tuple[Message, ...] = (),
        release_on_commit: bool = True,
    ) -> None:
        self.session = session
        self.handle = handle
        self.core = session.core
        self.guard = guard
        self.release_on_commit = release_on_commit
        self._pending_claims: list[ClaimRef] = [input_claim.ref] if input_claim else []
        self._pending_work_claims: list[ClaimRef] = [work_claim.ref] if work_claim else []
        # Event messages (from queued work) the first physical turn opens with, before the user message.
        self._causes = causes
        # A turn run for a claim hands its follow-on agent frame over durably (an outbox batch).
        self._claim_originated = input_claim is not None or work_claim is not None
        self._handoff_batch: str | None = None
        self._opened_frame: _FrameOpening | None = None
        self._opening_count = 0

    def _phase(self, name: str) -> AbstractContextManager[None]:
        probe = self.core.phase_probe
        return _NO_PROBE if probe is None else _probed(probe, name)

    async def run(self) -> AssembledTurn:
        """Run the logical turn; with a lease guard, keep the lease renewed meanwhile."""
        guard = self.guard
        if guard is None:
            return await self._frames()
        errors: list[Exception] = []
        result: AssembledTurn | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(guard.keep_renewed)
            try:
                result = await self._frames()
            except Exception as exc:  # re-raised bare below, not as an exception group
                errors.append(exc)
            finally:
                group.cancel_scope.cancel()
        if errors:
            raise errors[0]
        assert result is not None
        return result

    async def _frames(self) -> AssembledTurn:
        """Run physical turns until one does not switch agent frames."""
        turn_input = self.handle.input
        switches = 0
        while True:
            turn_id = (
                self.handle.turn_id if switches == 0 else f"{self.handle.turn_id}:agent-frame:{switches}"
            )
            assembled = await self._physical(turn_id, turn_input, switches < MAX_AGENT_FRAME_SWITCHES)
            outcome = assembled.outcome
            if not isinstance(outcome, AgentFrameSwitch):
                return assembled
            switches += 1
            await self._claim_handoff(turn_id)
            turn_input = TurnInput(
                items=(TextItem(outcome.task or "Continue."),),
                protocol_turn_options=turn_input.protocol_turn_options,
                context=turn_input.context,
                protocol_extension=turn_input.protocol_extension,
            )

    def _services(self, turn_id: str, turn_input: TurnInput) -> TurnServices:
        core = self.core
        context = turn_input.context
        provider_id = (context.provider_override if context else None) or self.session.policy.provider_id
        store = core.store
        session_id = self.session.id

        async def put_attachment(data: bytes, media_type: str, name: str | None) -> Any:
            return await store.put_attachment(session_id, data, media_type, name)

        async def get_attachment(attachment_id: str) -> bytes:
            return await store.get_attachment(session_id, attachment_id)

        return TurnServices(
            provider=core.provider(provider_id),
            provider_id=provider_id,
            controller=core.effect_host.scoped(session_id, turn_id),
            caller=core.caller,
            tracer=core.tracer,
            clock=core.clock,
            tools=core.tools,
            projector=core.projector,
            put_attachment=put_attachment,
            get_attachment=get_attachment,
        )

    async def _physical(self, turn_id: str, turn_input: TurnInput, allow_switch: bool) -> AssembledTurn:
        session = self.session
        self.handle.current_turn_id = turn_id
        clock = self.core.clock
        started_ms = clock.now_ms()
        started = clock.monotonic()
        self._opened_frame = None
        state = TurnState(
            session_id=session.id,
            turn_id=turn_id,
            input=turn_input,
            policy=session.policy,
            services=self._services(turn_id, turn_input),
            history=session.history,
            sinks=self.handle.sinks,
            take_active_inputs=self.handle.take_active_inputs,
            has_active_inputs=self.handle.has_active_inputs,
            last_prompt_usage=session.last_prompt_usage,
            max_attachment_bytes=self.core.max_attachment_bytes,
            history_attachment_ids=session.attachment_ids,
            # Active input names the physical turn that ran when it was submitted; what a frame
            # did not claim is deferred when the logical turn ends (the store defers every
            # unclaimed active input of the session then).
            claim_active_inputs=self._active_input_claimer(turn_id) if self.guard else None,
            input_claims=self._pending_claims,
            work_claims=self._pending_work_claims,
        )
        self._pending_claims, self._pending_work_claims = [], []
        causes, self._causes = self._causes, ()
        tracer = state.services.tracer
        if tracer.enabled:
            tracer.emit(session.id, turn_id, "turn_started", input_item_count=len(turn_input.items))
        if state.work_claims:
            batch_ids = tuple(batch_id for ref in state.work_claims for batch_id in ref.item_ids)
            await state.emit(
                QueuedWorkStarted(WorkBoundary.IDLE.value, batch_ids, tuple(cause.text for cause in causes))
            )
        invalid = False
        opening: list[Message] = list(causes)
        with self._phase("normalize_input"):
            try:
                if turn_input.items or not causes:  # queued work alone opens with its event messages
                    opening.append(
                        await normalize_input(
                            turn_input,
                            state.new_message_id(),
                            state.services.put_attachment,
                            max_attachment_bytes=self.core.max_attachment_bytes,
                        )
                    )
            except InvalidTurnInput as exc:
                state.issue(
                    TurnIssue(
                        kind="input_validation", code="invalid_turn_input", message=str(exc), retryable=False
                    )
                )
                await state.emit(ErrorEvent(str(exc), code="invalid_turn_input"))
                if not (state.input_claims or state.work_claims):
                    return self._uncommitted(state, Stopped(InvalidInput()), started_ms, started)
                invalid = True
        hook_ctx = TurnHookContext(
            session.id,
            turn_id,
            turn_input,
            state.history,
            session.policy,
            state.completions("prepare-turn"),
            session.last_prompt_usage,
        )
        if invalid:
            # Claimed input that cannot run still settles its claim: commit the stop, no messages.
            return await self._finish(
                state, hook_ctx, Stopped(InvalidInput()), started_ms, started, allow_switch, run_hooks=False
            )
        driver = TurnDriver(state, hook_ctx)
        outcome: TurnOutcome | None = None
        committed: list[AssembledTurn] = []
        try:
            try:
                with anyio.CancelScope() as scope:
                    self.handle.attach_scope(scope)
                    try:
                        # A cancel that came before the scope existed: deliver it now (no-op otherwise).
                        await anyio.lowlevel.checkpoint_if_cancelled()
                        outcome = await self._drive(state, driver, hook_ctx, opening)
                    except TurnStopped as stop:
                        outcome = stop.outcome
            finally:
                self.handle.attach_scope(None)
            if scope.cancelled_caught or outcome is None:
                driver.close_cancelled()
                outcome = Stopped(Cancelled())
            return await self._finish(
                state, hook_ctx, outcome, started_ms, started, allow_switch, committed=committed
            )
        except anyio.get_cancelled_exc_class():
            # Cancelled from outside before the commit: commit the cancelled turn, shielded and
            # without running hooks again (they could hang), then let the cancellation propagate.
            if not committed:
                driver.close_cancelled()
                with anyio.CancelScope(shield=True):
                    await self._finish(
                        state,
                        hook_ctx,
                        Stopped(Cancelled()),
                        started_ms,
                        started,
                        allow_switch,
                        run_hooks=False,
                    )
            raise
        except HookError as exc:
            self._trace_failed(state, f"hook_error:{exc.hook}")
            raise

    def _handoff_outbox(self, state: TurnState, outcome: TurnOutcome) -> tuple[QueuedWorkDraft, ...]:
        """The handoff batch a claim-originated turn switching agent frames commits (else none)."""
        if not (self._claim_originated and needs_handoff(outcome)):
            return ()
        assert isinstance(outcome, AgentFrameSwitch)
        return (handoff_draft(self.session.id, state.turn_id, outcome, state.input.protocol_turn_options),)

    async def _claim_handoff(self, turn_id: str) -> None:
        """Claim the handoff batch the commit of ``turn_id`` enqueued, for the follow-on frame."""
        guard, batch_id = self.guard, self._handoff_batch
        self._handoff_batch = None
        if guard is None or not self._claim_originated:
            return
        store = self.core.store
        if batch_id is None:  # the commit was a replay: find the batch it enqueued the first time
            key = handoff_key(turn_id)
            listed = await store.list_work(self.session.id, include_claimed=True)
            batch_id = next((b.batch_id for b in listed if b.source_key == key), None)
            if batch_id is None:
                return
        claim = await store.claim_work_batches(guard.fence, [batch_id])
        if claim is not None:
            if self.core.tracer.enabled:
                trace_claimed(self.core.tracer, self.session.id, turn_id, claim, handoff=True)
            self._pending_work_claims.append(claim.ref)

    def _active_input_claimer(
        self, turn_id: str
    ) -> Callable[[str], Awaitable[tuple[list[TurnInput], ClaimRef | None]]]:
        guard = self.guard
        assert guard is not None
        store = self.core.store
        tracer = self.core.tracer

        async def claim(boundary: str) -> tuple[list[TurnInput], ClaimRef | None]:
            found = await store.claim_active_inputs(guard.fence, turn_id, InputBoundary(boundary))
            if found is None:
                return [], None
            if tracer.enabled:
                trace_claimed(tracer, found.session_id, turn_id, found, checkpoint=boundary)
            return [i.input for i in found.inputs], found.ref

        return claim

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

    def _trace_failed(self, state: TurnState, reason: str) -> None:
        tracer = state.services.tracer
        if tracer.enabled:
            tracer.emit(state.session_id, state.turn_id, "turn_completed", status="error", done_reason=reason)

    async def _drive(
        self, state: TurnState, driver: TurnDriver, hook_ctx: TurnHookContext, opening: list[Message]
    ) -> TurnOutcome:
        caller = state.services.caller
        prompt = PromptContext(messages=(*state.history, *opening))
        with self._phase("context_transform"):
            if caller.has("transform_context"):
                prompt = await caller.pipeline("transform_context", "context", prompt, ctx=hook_ctx)
        state.prompt_messages = list(prompt.messages)
        state.turn_messages = list(opening)
        self._opening_count = len(opening)
        with self._phase("prepare_turn"):
            if caller.has("prepare_turn"):
                abort = await self._prepare_turn(state, hook_ctx)
                if abort is not None:
                    return abort
        with self._phase("prompt_build"):
            await self._build_prompt(state, hook_ctx, prompt.contributions)
        with self._phase("effect_loop"):
            try:
                return await self.core.protocol.run(driver)
            except (TurnStopped, HookError, LashError):
                raise
            except Exception as exc:
                state.issue(
                    TurnIssue(kind="runtime", code="protocol_error", message=f"{type(exc).__name__}: {exc}")
                )
                await state.emit(ErrorEvent(f"protocol failed: {exc}", code="protocol_error"))
                return Stopped(RuntimeErrorStop())

    async def _prepare_turn(self, state: TurnState, hook_ctx: TurnHookContext) -> TurnOutcome | None:
        abort: tuple[str, AbortTurn] | None = None
        switch: tuple[str, SwitchAgentFrame] | None = None
        added_from = len(state.prompt_messages)
        for plugin, result in await state.services.caller.collect("prepare_turn", ctx=hook_ctx):
            for directive in as_directives(result):
                if isinstance(directive, AbortTurn):
                    abort = (plugin, directive)
                elif isinstance(directive, SwitchAgentFrame):
                    switch = (plugin, directive)
                elif isinstance(directive, EnqueueMessages):
                    try:
                        messages = stamp_plugin_messages(plugin, directive, state.new_message_id)
                    except ValueError as exc:
                        raise HookError(plugin, "prepare_turn", exc) from None
                    for message in messages:
                        state.add_message(message, transient=directive.transient)
                elif isinstance(directive, EmitEvent):
                    await state.emit(PluginRuntime(plugin, directive.event))
                else:
                    raise HookError(
                        plugin,
                        "prepare_turn",
                        TypeError(f"prepare_turn may not return {type(directive).__name__}"),
                    )
        if abort is None:
            if switch is not None:
                self._open_frame_now(state, hook_ctx, *switch, added_from)
            return None
        plugin, directive = abort
        state.issue(
            TurnIssue(kind="plugin", code=directive.code, message=f"plugin {plugin!r}: {directive.message}")
        )
        await state.emit(ErrorEvent(directive.message, code=directive.code))
        return Stopped(PluginAbort(plugin, directive.code, directive.message))

    def _open_frame_now(
        self,
        state: TurnState,
        hook_ctx: TurnHookContext,
        plugin: str,
        directive: SwitchAgentFrame,
        added_from: int,
    ) -> None:
        """Run the rest of the turn in the frame ``directive`` opens: the model sees the seed,
        the user message and what ``prepare_turn`` added (from ``added_from``); the frame
        itself is opened by the commit (:meth:`_history_delta`)."""
        session = self.session
        frame_id = directive.frame_id
        if not frame_id or frame_id == session.current_frame_id:
            return
        if any(frame.frame_id == frame_id for frame in session.frames):
            raise HookError(
                plugin,
                "prepare_turn",
                ValueError(
                    f"agent frame {frame_id!r} already exists in session {session.id!r}; "
                    "a frame is opened once: use a fresh frame id"
                ),
            )
        seed = tuple(stamp_frame_seed(plugin, directive, state.new_message_id))
        opening = state.turn_messages[: self._opening_count]
        state.prompt_messages = [*seed, *opening, *state.prompt_messages[added_from:]]
        # The old frame is out of view: later hooks see the seed as the frame's history, and
        # the last prompt usage (measured on the old frame) no longer describes the prompt.
        state.history = hook_ctx.history = seed
        state.last_prompt_usage = hook_ctx.last_prompt_usage = None
        self._opened_frame = _FrameOpening(frame_id, directive.reason, seed)

    async def _build_prompt(
        self, state: TurnState, hook_ctx: TurnHookContext, extra: tuple[PromptContribution, ...]
    ) -> None:
        core = self.core
        caller = state.services.caller
        specs = core.tool_specs
        if caller.has("filter_tool_catalog"):
            removed: set[str] = set()
            for _, names in await caller.collect("filter_tool_catalog", ctx=hook_ctx, tools=specs):
                removed.update((names,) if isinstance(names, str) else names)
            if removed:
                specs = tuple(spec for spec in specs if spec.name not in removed)
                tools = {name: reg for name, reg in core.tools.items() if name not in removed}
                state.services = evolve(state.services, tools=tools)
        state.tool_specs = specs
        contributions = list(extra)
        if caller.has("prompt_contributions"):
            for _, result in await caller.collect("prompt_contributions", ctx=hook_ctx):
                contributions.extend(result if isinstance(result, list | tuple) else (result,))
        policy = state.policy
        context = state.input.context
        layers = (policy.prompt, context.prompt if context else None)
        if not contributions and layers == (None, None):
            state.system_prompt = policy.system_prompt
        else:
            catalog = frozenset(spec.name for spec in specs)
            state.system_prompt = build_system_prompt(policy.system_prompt, contributions, layers, catalog)
        tracer = state.services.tracer
        if tracer.enabled:
            tracer.emit(
                state.session_id,
                state.turn_id,
                "prompt_built",
                prompt_hash=prompt_hash(state.system_prompt),
                prompt_chars=len(state.system_prompt),
                tool_count=len(specs),
                message_count=len(state.prompt_messages),
            )

    async def _finish(
        self,
        state: TurnState,
        hook_ctx: TurnHookContext,
        outcome: TurnOutcome,
        started_ms: int,
        started: float,
        allow_switch: bool,
        *,
        run_hooks: bool = True,
        committed: list[AssembledTurn] | None = None,
    ) -> AssembledTurn:
        """Finalize, commit and report one physical turn. ``committed`` receives the result
        as soon as the commit succeeded (so a later cancellation does not commit again)."""
        session = self.session
        caller = state.services.caller
        if isinstance(outcome, AgentFrameSwitch) and not allow_switch:
            state.issue(
                TurnIssue(
                    kind="runtime",
                    code="agent_frame_switch_limit",
                    message=f"the turn switched agent frames more than {MAX_AGENT_FRAME_SWITCHES} times",
                )
            )
            outcome = Stopped(RuntimeErrorStop())
        if isinstance(outcome, Finished):
            await self._materialize_finish(state, outcome)
        output = assistant_output(outcome, state.turn_messages, state.issues)
        with self._phase("finalize_turn"):
            if run_hooks and caller.has("finalize_turn"):
                summary = TurnSummary(
                    outcome, output, state.usage, tuple(state.tool_records), tuple(state.issues)
                )
                for plugin, result in await caller.collect("finalize_turn", ctx=hook_ctx, turn=summary):
                    for directive in as_directives(result):
                        if isinstance(directive, EnqueueMessages):
                            if directive.transient:
                                raise HookError(
                                    plugin,
                                    "finalize_turn",
                                    ValueError(
                                        "transient messages cannot be enqueued at finalize_turn: no model call "
                                        "follows; enqueue them without transient=True to commit them"
                                    ),
                                )
                            try:
                                messages = stamp_plugin_messages(plugin, directive, state.new_message_id)
                            except ValueError as exc:
                                raise HookError(plugin, "finalize_turn", exc) from None
                            state.turn_messages.extend(messages)
                        elif isinstance(directive, EmitEvent):
                            await state.emit(PluginRuntime(plugin, directive.event))
                        else:
                            raise HookError(
                                plugin,
                                "finalize_turn",
                                TypeError(f"finalize_turn may not return {type(directive).__name__}"),
                            )
            plugin_state = session.snapshot_plugin_state()
        deltas: list[TokenLedgerEntry] = []
        if not state.usage.is_zero:
            deltas.append(TokenLedgerEntry("turn", state.model.id, state.usage))
        deltas.extend(state.child_ledger.entries)
        frames, frame_id, nodes = self._history_delta(state, outcome)
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
        tracer = state.services.tracer
        if tracer.enabled:
            status, reason = outcome_status(outcome)
            tracer.emit(
                session.id,
                state.turn_id,
                "turn_completed",
                status=status,
                done_reason=reason,
                agent_frame_switch=isinstance(outcome, AgentFrameSwitch),
            )
        return assembled

    async def _materialize_finish(self, state: TurnState, outcome: Finished) -> None:
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
        self, state: TurnState, outcome: TurnOutcome
    ) -> tuple[tuple[AgentFrameRecord, ...], str, tuple[HistoryNode, ...]]:
        session = self.session
        frame_id = session.current_frame_id
        frames = session.frames
        nodes: list[HistoryNode] = []
        opened = self._opened_frame
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

    def _uncommitted(
        self, state: TurnState, outcome: TurnOutcome, started_ms: int, started: float
    ) -> AssembledTurn:
        clock = self.core.clock
        issues = list(state.issues)
        tracer = state.services.tracer
        if tracer.enabled:  # pair the turn_started record, as a committed turn does
            status, reason = outcome_status(outcome)
            tracer.emit(
                self.session.id,
                state.turn_id,
                "turn_completed",
                status=status,
                done_reason=reason,
                agent_frame_switch=False,
            )
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
