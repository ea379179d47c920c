"""The driver a protocol uses to run one physical turn.

A protocol (execution mode) is deterministic code that asks the driver for effects:
``call_model`` (a model call), ``run_tools`` (a round of tool calls), ``checkpoint``
(where input submitted during the turn and plugin messages are delivered). Each goes
through the effect controller, so a durable host can replay it. The driver keeps the
turn's messages, usage, events and issues; terminal provider conditions (output
limit, context overflow, content filter, provider errors) end the turn before the
protocol sees the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from attrs import frozen

from lash_core.effects import DurabilityTier, Effect, EffectKind
from lash_core.errors import HookError, ProviderError
from lash_core.hooks.context import CheckpointHookContext, TurnHookContext
from lash_core.hooks.directives import (
    AbortTurn,
    EmitEvent,
    EnqueueMessages,
    as_directives,
    stamp_plugin_messages,
)
from lash_core.model import (
    AssistantProseDelta,
    Cancelled,
    ErrorEvent,
    Incomplete,
    LlmReasoningPart,
    LlmRequest,
    LlmResponse,
    LlmStreamEvent,
    LlmTextPart,
    LlmToolCallPart,
    Message,
    ModelAttemptReset,
    ModelRequestStarted,
    OutputSpec,
    Part,
    PartKind,
    PluginAbort,
    PluginRuntime,
    ProviderErrorStop,
    ProviderFailure,
    ProviderFailureKind,
    QueuedInputAccepted,
    QueuedMessagesCommitted,
    QueuedWorkStarted,
    ReasoningDelta,
    RetryStatus,
    Role,
    RuntimeErrorStop,
    Stopped,
    StreamAttemptReset,
    StreamReasoningDelta,
    StreamRetry,
    StreamTextDelta,
    TerminalReason,
    TurnIssue,
    UsageEvent,
)
from lash_core.store.claims import ClaimRef
from lash_core.store.queued_work import AgentFrameTask, ProcessWake, WorkBoundary
from lash_core.turn.claims import work_message
from lash_core.turn.input import normalize_input
from lash_core.turn.state import TurnState, TurnStopped
from lash_core.turn.tool_dispatch import CompletedCall, ToolRound

__all__ = ["CheckpointDelivery", "CheckpointKind", "TurnDriver", "response_message"]

_OVERFLOW_SHARE = 0.95


class CheckpointKind(Enum):
    """Where in the turn a checkpoint is."""

    AFTER_WORK = "after_work"
    BEFORE_COMPLETION = "before_completion"


@frozen
class CheckpointDelivery:
    """What a checkpoint delivered: committed and transient messages, accepted input
    count, and a plugin abort. Journaled as the checkpoint effect's result."""

    messages: tuple[Message, ...] = ()
    transient_messages: tuple[Message, ...] = ()
    accepted_inputs: int = 0
    abort: PluginAbort | None = None
    input_claim: ClaimRef | None = None
    work_claim: ClaimRef | None = None
    work_messages: int = 0

    @property
    def is_empty(self) -> bool:
        """True when nothing was delivered."""
        return not (self.messages or self.transient_messages)


class TurnDriver:
    """The protocol's handle on the running turn."""

    def __init__(self, state: TurnState, hook_context: TurnHookContext) -> None:
        self._state = state
        self._hooks = hook_context
        self._round: ToolRound | None = None

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self._state.session_id

    @property
    def turn_id(self) -> str:
        """This physical turn's id."""
        return self._state.turn_id

    @property
    def max_turns(self) -> int | None:
        """The session's limit of model iterations per turn (``None``: unlimited)."""
        return self._state.policy.max_turns

    @property
    def messages(self) -> tuple[Message, ...]:
        """What the model sees: the prompt view of the history plus this turn's messages."""
        return tuple(self._state.prompt_messages)

    @property
    def protocol_turn_options(self) -> dict[str, object]:
        """The turn's protocol options (from the input), empty when none."""
        return self._state.input.protocol_turn_options or {}

    @property
    def output_spec(self) -> OutputSpec | None:
        """The structured output the turn asks every model call for (its context's), if any."""
        context = self._state.input.context
        return context.output_spec if context is not None else None

    @property
    def protocol_extension(self) -> object:
        """The live protocol extension the host passed with the input, if any."""
        return self._state.input.protocol_extension

    def append(self, message: Message, *, transient: bool = False) -> None:
        """Add a message to the turn (transient messages reach the model, are not committed)."""
        self._state.add_message(message, transient=transient)

    def system_message(self, text: str) -> Message:
        """A new system message holding ``text`` (not yet appended)."""
        message_id = self._state.new_message_id()
        return Message(message_id, Role.SYSTEM, (Part(f"{message_id}.p0", PartKind.TEXT, text),))

    def issue(
        self, kind: str, message: str, *, code: str | None = None, retryable: bool | None = None
    ) -> None:
        """Record a turn issue."""
        self._state.issue(TurnIssue(kind=kind, message=message, code=code, retryable=retryable))

    async def call_model(self, *, use_tools: bool = True) -> LlmResponse:
        """One model call with the turn's messages and (optionally) its tools.

        Streams prose and reasoning deltas as activities, records usage, and ends the
        turn (raises :class:`TurnStopped`) on a provider error or a terminal reason other
        than ``stop`` / ``tool_use`` / ``unknown``.
        """
        state = self._state
        services = state.services
        iteration = state.model_calls
        state.model_calls += 1
        key = state.next_effect_key(EffectKind.LLM_CALL)
        request = LlmRequest(
            model=state.model,
            system_prompt=state.system_prompt,
            messages=tuple(state.prompt_messages),
            tools=state.tool_specs if use_tools else (),
            max_output_tokens=state.model.output_token_capacity,
            reasoning_effort=state.model.reasoning_effort,
            output_spec=self.output_spec,
            session_id=state.session_id,
            request_id=key,
            attachment_data=await self._attachment_data(),
        )
        if state.sinks:
            await state.emit(ModelRequestStarted(iteration))
        stream = _StreamRelay(state, key)
        effect = Effect(
            EffectKind.LLM_CALL, key, state.session_id, state.turn_id, LlmResponse, lambda: _describe(request)
        )
        started = services.clock.monotonic()
        try:
            response: LlmResponse = await services.controller.execute(
                effect, lambda: services.provider.complete(request, stream.on_event if state.sinks else None)
            )
        except ProviderError as exc:
            await self._provider_failed(exc)
            raise AssertionError("unreachable") from exc
        duration_ms = int((services.clock.monotonic() - started) * 1000)
        state.usage = state.usage + response.usage
        state.last_prompt_usage = response.usage
        if services.tracer.enabled:
            services.tracer.emit(
                state.session_id,
                state.turn_id,
                "llm_call",
                model=response.model or state.model.id,
                provider=services.provider_id,
                duration_ms=duration_ms,
                usage={
                    "input_tokens": response.usage.input_tokens,
                    "output_tokens": response.usage.output_tokens,
                    "cache_read_input_tokens": response.usage.cache_read_input_tokens,
                    "cache_write_input_tokens": response.usage.cache_write_input_tokens,
                    "reasoning_output_tokens": response.usage.reasoning_output_tokens,
                },
                terminal_reason=response.terminal_reason.value,
            )
        if state.sinks:
            if not stream.streamed:
                await stream.replay_parts(response)
            await state.emit(UsageEvent(iteration, response.usage, state.usage))
        self._apply_terminal_reason(response)
        return response

    async def _attachment_data(self) -> dict[str, bytes]:
        """The bytes of every attachment the model may see, loaded once per turn. The ids come
        from the session's history (tracked as turns commit) and this turn's messages, so no
        per-call scan of the whole history is needed."""
        state = self._state
        data = state.attachment_cache
        wanted = [*state.history_attachment_ids]
        for message in state.turn_messages:
            wanted.extend(p.attachment.attachment_id for p in message.parts if p.attachment is not None)
        for attachment_id in wanted:
            if attachment_id not in data:
                data[attachment_id] = await state.services.get_attachment(attachment_id)
        return data

    async def _provider_failed(self, exc: ProviderError) -> None:
        failure = exc.failure if isinstance(exc.failure, ProviderFailure) else None
        kind = failure.kind if failure else ProviderFailureKind.UNKNOWN
        message = failure.message if failure else str(exc)
        state = self._state
        state.issue(
            TurnIssue(
                kind="provider",
                message=message,
                code=failure.code if failure else None,
                retryable=failure.retryable if failure else None,
                provider_failure_kind=kind.value,
            )
        )
        await state.emit(ErrorEvent(message, code=kind.value))
        raise TurnStopped(Stopped(ProviderErrorStop()))

    def _apply_terminal_reason(self, response: LlmResponse) -> None:
        reason = response.terminal_reason
        if reason in (TerminalReason.STOP, TerminalReason.TOOL_USE, TerminalReason.UNKNOWN):
            return
        if reason is TerminalReason.CANCELLED:
            raise TurnStopped(Stopped(Cancelled()))
        window = self._state.model.context_window_tokens
        prompt = response.usage.input_tokens + response.usage.cache_read_input_tokens
        prompt += response.usage.cache_write_input_tokens
        if (
            reason is TerminalReason.OUTPUT_LIMIT
            and response.usage.output_tokens == 0
            and prompt >= window * _OVERFLOW_SHARE
        ):
            reason = TerminalReason.CONTEXT_OVERFLOW
        detail = response.terminal_diagnostic or ""
        if reason is TerminalReason.OUTPUT_LIMIT:
            self._state.issue(
                TurnIssue(
                    kind="provider",
                    code="output_limit",
                    terminal_reason=reason.value,
                    message="the model reached its output token limit before finishing"
                    + (f": {detail}" if detail else ""),
                    retryable=False,
                )
            )
            raise TurnStopped(Stopped(Incomplete()))
        self._state.issue(
            TurnIssue(
                kind="provider",
                code=reason.value,
                terminal_reason=reason.value,
                message=f"the model stopped: {reason.value}" + (f": {detail}" if detail else ""),
                retryable=False,
                provider_failure_kind=reason.value,
            )
        )
        raise TurnStopped(Stopped(ProviderErrorStop()))

    def append_response(self, response: LlmResponse) -> Message:
        """Append the model's answer as one assistant message, parts in the provider's order."""
        message = response_message(response, self._state.new_message_id())
        self._state.add_message(message)
        return message

    async def run_tools(self, calls: Sequence[LlmToolCallPart]) -> list[CompletedCall]:
        """Run one round of tool calls and append their results (see ``tool_dispatch``)."""
        self._state.had_tool_calls = True
        self._round = ToolRound(self._state, self._hooks, calls)
        results = await self._round.run()
        self._round = None
        return results

    def close_cancelled(self) -> None:
        """After cancellation: give every call of an unfinished tool round a result."""
        if self._round is not None:
            self._round.append_results()
            self._round = None

    @property
    def last_message_is_tool_results(self) -> bool:
        """True when the last message holds tool results (the model acted, then said nothing)."""
        messages = self._state.prompt_messages
        return bool(messages) and any(p.kind is PartKind.TOOL_RESULT for p in messages[-1].parts)

    async def checkpoint(self, kind: CheckpointKind) -> CheckpointDelivery:
        """Deliver what arrived during the turn: input submitted to it, messages enqueued
        by ``after_tool_call`` hooks, and what ``checkpoint`` hooks return. Appends the
        delivered messages and returns the delivery (empty when nothing arrived)."""
        state = self._state
        key = state.next_effect_key(EffectKind.CHECKPOINT)
        effect = Effect(
            EffectKind.CHECKPOINT,
            key,
            state.session_id,
            state.turn_id,
            CheckpointDelivery,
            lambda: kind.value,
        )

        async def gather() -> CheckpointDelivery:
            return await self._gather_checkpoint(kind)

        needs_effect = (
            bool(state.enqueued_for_checkpoint)
            or state.services.caller.has("checkpoint")
            or state.has_active_inputs()
            or state.claim_at_checkpoint is not None
        )
        if not needs_effect and state.services.controller.durability is DurabilityTier.INLINE:
            return CheckpointDelivery()
        delivery: CheckpointDelivery = await state.services.controller.execute(effect, gather)
        if delivery.input_claim is not None:
            state.input_claims.append(delivery.input_claim)
        if delivery.work_claim is not None:
            state.work_claims.append(delivery.work_claim)
            work = delivery.messages[
                delivery.accepted_inputs : delivery.accepted_inputs + delivery.work_messages
            ]
            await state.emit(
                QueuedWorkStarted(
                    WorkBoundary.ACTIVE_TURN_CHECKPOINT.value,
                    delivery.work_claim.item_ids,
                    tuple(message.text for message in work),
                )
            )
        for message in delivery.messages:
            state.add_message(message)
        for message in delivery.transient_messages:
            state.add_message(message, transient=True)
        if delivery.accepted_inputs:
            await state.emit(
                QueuedInputAccepted(
                    kind.value, tuple(m.id for m in delivery.messages[: delivery.accepted_inputs])
                )
            )
        if delivery.messages or delivery.transient_messages:
            await state.emit(
                QueuedMessagesCommitted(kind.value, delivery.messages + delivery.transient_messages)
            )
        if delivery.abort is not None:
            state.issue(
                TurnIssue(kind="plugin", code=delivery.abort.code, message=delivery.abort.message or "")
            )
            raise TurnStopped(Stopped(delivery.abort))
        return delivery

    async def _gather_checkpoint(self, kind: CheckpointKind) -> CheckpointDelivery:
        state = self._state
        committed: list[Message] = []
        accepted = 0
        submitted = state.take_active_inputs()
        claim: ClaimRef | None = None
        claims = await state.claim_at_checkpoint(kind.value) if state.claim_at_checkpoint else None
        if claims is not None and claims.inputs is not None:
            claim = claims.inputs.ref
            submitted = [*(pending.input for pending in claims.inputs.inputs), *submitted]
        for turn_input in submitted:
            # Validated when submitted (Turn.submit), so only storing attachments can fail here.
            message = await normalize_input(
                turn_input,
                state.new_message_id(),
                state.services.put_attachment,
                max_attachment_bytes=state.max_attachment_bytes,
            )
            committed.append(message)
            accepted += 1
        work_claim: ClaimRef | None = None
        work_messages = 0
        if claims is not None and claims.work is not None:
            work_claim = claims.work.ref
            for batch in claims.work.batches:
                for item in batch.items:
                    payload = item.payload
                    if isinstance(payload, AgentFrameTask | ProcessWake):
                        committed.append(work_message(payload, state.new_message_id()))
                        work_messages += 1
        committed.extend(state.enqueued_for_checkpoint)
        state.enqueued_for_checkpoint = []
        transient: list[Message] = []
        abort: PluginAbort | None = None
        if state.services.caller.has("checkpoint"):
            ctx = CheckpointHookContext(
                self._hooks, kind.value, tuple(state.prompt_messages) + tuple(committed)
            )
            try:
                results = await state.services.caller.collect("checkpoint", ctx=ctx)
            except HookError as exc:
                state.issue(TurnIssue(kind="plugin", code="plugin_checkpoint", message=str(exc)))
                raise TurnStopped(Stopped(RuntimeErrorStop())) from exc
            for plugin, result in results:
                for directive in as_directives(result):
                    if isinstance(directive, EnqueueMessages):
                        try:
                            stamped = stamp_plugin_messages(plugin, directive, state.new_message_id)
                        except ValueError as exc:
                            state.issue(
                                TurnIssue(
                                    kind="plugin",
                                    code="plugin_checkpoint",
                                    message=f"plugin {plugin!r}: {exc}",
                                )
                            )
                            raise TurnStopped(Stopped(RuntimeErrorStop())) from exc
                        (transient if directive.transient else committed).extend(stamped)
                    elif isinstance(directive, AbortTurn):
                        abort = PluginAbort(plugin, directive.code, directive.message)
                    elif isinstance(directive, EmitEvent):
                        await state.emit(PluginRuntime(plugin, directive.event))
                    else:
                        state.issue(
                            TurnIssue(
                                kind="plugin",
                                code="plugin_checkpoint",
                                message=f"plugin {plugin!r}: checkpoint may not return {type(directive).__name__}",
                            )
                        )
                        raise TurnStopped(Stopped(RuntimeErrorStop()))
        return CheckpointDelivery(
            tuple(committed), tuple(transient), accepted, abort, claim, work_claim, work_messages
        )


def response_message(response: LlmResponse, message_id: str) -> Message:
    """The assistant message a model response becomes in history: prose, reasoning (with its
    replay state) and tool calls (raw argument JSON), in the provider's order."""
    parts = []
    for index, part in enumerate(response.parts):
        part_id = f"{message_id}.p{index}"
        if isinstance(part, LlmTextPart):
            parts.append(
                Part(
                    part_id, PartKind.PROSE, part.text, response_meta=part.response_meta, visible=part.visible
                )
            )
        elif isinstance(part, LlmReasoningPart):
            parts.append(Part(part_id, PartKind.REASONING, part.text, reasoning_meta=part.replay))
        else:
            parts.append(
                Part(
                    part_id,
                    PartKind.TOOL_CALL,
                    part.arguments,
                    tool_call_id=part.call_id,
                    tool_name=part.name,
                    tool_replay=part.replay,
                )
            )
    return Message(message_id, Role.ASSISTANT, tuple(parts))


def _describe(request: LlmRequest) -> object:
    from lash_core.converter import unstructure

    return unstructure(request)


class _StreamRelay:
    """Turns provider stream events into activities, tracking rows for retraction."""

    def __init__(self, state: TurnState, key: str) -> None:
        self.state = state
        self.key = key
        self.attempt = 0
        self.streamed = False
        self.prose_ids: list[str] = []
        self.reasoning_ids: list[str] = []

    def _prose_id(self) -> str:
        return f"{self.key}:prose:{self.attempt}"

    def _reasoning_id(self) -> str:
        return f"{self.key}:reasoning:{self.attempt}"

    async def on_event(self, event: LlmStreamEvent) -> None:
        state = self.state
        if isinstance(event, StreamTextDelta):
            if not event.text:
                return
            self.streamed = True
            correlation = self._prose_id()
            if correlation not in self.prose_ids:
                self.prose_ids.append(correlation)
            await state.emit(AssistantProseDelta(event.text), correlation)
        elif isinstance(event, StreamReasoningDelta):
            if not event.text:
                return
            correlation = self._reasoning_id()
            if correlation not in self.reasoning_ids:
                self.reasoning_ids.append(correlation)
            await state.emit(ReasoningDelta(event.text), correlation)
        elif isinstance(event, StreamRetry):
            await state.emit(RetryStatus(event.wait_seconds, event.attempt, event.max_attempts, event.reason))
        elif isinstance(event, StreamAttemptReset):
            if self.prose_ids or self.reasoning_ids:
                await state.emit(ModelAttemptReset(tuple(self.prose_ids), tuple(self.reasoning_ids)))
            self.prose_ids, self.reasoning_ids = [], []
            self.attempt += 1
            self.streamed = False

    async def replay_parts(self, response: LlmResponse) -> None:
        """Emit the response's visible text and reasoning when the provider did not stream them."""
        for part in response.parts:
            if isinstance(part, LlmTextPart) and part.text and part.visible:
                await self.state.emit(AssistantProseDelta(part.text), self._prose_id())
            elif isinstance(part, LlmReasoningPart) and part.text:
                await self.state.emit(ReasoningDelta(part.text), self._reasoning_id())
