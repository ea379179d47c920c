"""Running a logical turn: its physical turns, their phases and their commits.

Phases of a physical turn, in order (each reported to the runtime's phase probe):
``normalize_input``, ``context_transform``, ``prepare_turn``, ``prompt_build``,
``effect_loop`` (the protocol), ``finalize_turn``, ``commit``, ``turn_persisted``.
An ``AgentFrameSwitch`` outcome is followed by another physical turn
(``<root>:agent-frame:<n>``), at most :data:`MAX_AGENT_FRAME_SWITCHES` times. A
``SwitchAgentFrame`` directive from ``prepare_turn`` instead opens the new frame before the
model is called, within the same physical turn (compaction); it is committed with the turn.
The last three phases finish the physical turn: :class:`~lash_core.turn.finish.TurnFinisher`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from attrs import evolve

from lash_core.errors import HookError, LashError
from lash_core.hooks.context import PromptContext, TurnHookContext
from lash_core.hooks.directives import (
    AbortTurn,
    EnqueueMessages,
    SwitchAgentFrame,
    as_directives,
    stamp_frame_seed,
)
from lash_core.model import (
    AgentFrameSwitch,
    AssembledTurn,
    Cancelled,
    ErrorEvent,
    InvalidInput,
    Message,
    PluginAbort,
    PromptContribution,
    QueuedWorkStarted,
    RuntimeErrorStop,
    Stopped,
    TextItem,
    TurnInput,
    TurnIssue,
    TurnOutcome,
)
from lash_core.store.checkpoint import CheckpointClaims
from lash_core.store.claims import ClaimRef
from lash_core.store.inputs import InputBoundary, InputClaim
from lash_core.store.queued_work import WorkBoundary, WorkClaim
from lash_core.turn.claims import handoff_key, trace_claimed
from lash_core.turn.driver import TurnDriver
from lash_core.turn.finish import FrameOpening, TurnFinisher, trace_failed
from lash_core.turn.hook_directives import apply_directive
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


def _switch_limit_reached(state: TurnState) -> TurnOutcome:
    """The stop of a physical turn that would switch agent frames once too often."""
    state.issue(
        TurnIssue(
            kind="runtime",
            code="agent_frame_switch_limit",
            message=f"the turn switched agent frames more than {MAX_AGENT_FRAME_SWITCHES} times",
        )
    )
    return Stopped(RuntimeErrorStop())


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
        self._pending_claims: list[ClaimRef] = [input_claim.ref] if input_claim else []
        self._pending_work_claims: list[ClaimRef] = [work_claim.ref] if work_claim else []
        # Event messages (from queued work) the first physical turn opens with, before the user message.
        self._causes = causes
        # A turn run for a claim hands its follow-on agent frame over durably (an outbox batch).
        self._claim_originated = input_claim is not None or work_claim is not None
        self._opened_frame: FrameOpening | None = None
        self._opening_count = 0
        self._finisher = TurnFinisher(
            session,
            handle,
            guard=guard,
            release_on_commit=release_on_commit,
            claim_originated=self._claim_originated,
            phase=self._phase,
        )

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
            claim_at_checkpoint=self._checkpoint_claimer(turn_id) if self.guard else None,
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
                    return self._finisher.uncommitted(state, Stopped(InvalidInput()), started_ms, started)
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
            return await self._finisher.finish(
                state, hook_ctx, Stopped(InvalidInput()), started_ms, started, run_hooks=False
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
            elif isinstance(outcome, AgentFrameSwitch) and not allow_switch:
                outcome = _switch_limit_reached(state)
            return await self._finisher.finish(
                state, hook_ctx, outcome, started_ms, started, opened=self._opened_frame, committed=committed
            )
        except anyio.get_cancelled_exc_class():
            # Cancelled from outside before the commit: commit the cancelled turn, shielded and
            # without running hooks again (they could hang), then let the cancellation propagate.
            if not committed:
                driver.close_cancelled()
                with anyio.CancelScope(shield=True):
                    await self._finisher.finish(
                        state,
                        hook_ctx,
                        Stopped(Cancelled()),
                        started_ms,
                        started,
                        opened=self._opened_frame,
                        run_hooks=False,
                    )
            raise
        except HookError as exc:
            trace_failed(state, f"hook_error:{exc.hook}")
            raise

    async def _claim_handoff(self, turn_id: str) -> None:
        """Claim the handoff batch the commit of ``turn_id`` enqueued, for the follow-on frame."""
        guard, batch_id = self.guard, self._finisher.take_handoff_batch()
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

    def _checkpoint_claimer(self, turn_id: str) -> Callable[[str], Awaitable[CheckpointClaims]]:
        """Claims, at a checkpoint of ``turn_id``, its active input and the queued turn work for
        the earliest safe boundary (one store call), tracing what it claimed."""
        guard = self.guard
        assert guard is not None
        store, tracer = self.core.store, self.core.tracer

        async def claim(boundary: str) -> CheckpointClaims:
            found = await store.claim_at_checkpoint(guard.fence, turn_id, InputBoundary(boundary))
            if tracer.enabled:
                for part in (found.inputs, found.work):
                    if part is not None:
                        trace_claimed(tracer, part.session_id, turn_id, part, checkpoint=boundary)
            return found

        return claim

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
                else:
                    transient = isinstance(directive, EnqueueMessages) and directive.transient
                    for message in await apply_directive(state, plugin, "prepare_turn", directive):
                        state.add_message(message, transient=transient)
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
        itself is opened by the commit (:meth:`TurnFinisher.finish`)."""
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
        self._opened_frame = FrameOpening(frame_id, directive.reason, seed)

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
