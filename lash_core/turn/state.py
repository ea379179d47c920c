"""Mutable state of one physical turn, shared by the driver, tool dispatch and the runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from attrs import define, field, frozen

from lash_core.clock import Clock
from lash_core.completions import DirectCompletions
from lash_core.effects import Effect, EffectController, EffectKind
from lash_core.model import (
    ChildUsage,
    LlmRequest,
    LlmResponse,
    Message,
    ModelSpec,
    OutputSpec,
    SessionPolicy,
    TokenLedger,
    TokenUsage,
    ToolCallRecord,
    ToolSpec,
    TurnActivity,
    TurnEvent,
    TurnInput,
    TurnIssue,
    TurnOutcome,
)
from lash_core.plugins.caller import HookCaller
from lash_core.providers import Provider
from lash_core.store.checkpoint import CheckpointClaims
from lash_core.store.claims import ClaimRef
from lash_core.tracing import Tracer

if TYPE_CHECKING:
    from lash_core.plugins.registry import ToolRegistration
    from lash_core.tools.contract import ToolResultProjector

__all__ = ["EventSink", "TurnState", "TurnStopped"]

EventSink = Callable[[TurnActivity], Awaitable[None]]


class TurnStopped(Exception):
    """Raised inside a turn to end it with ``outcome`` (provider errors, aborts...)."""

    def __init__(self, outcome: TurnOutcome) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@frozen
class TurnServices:
    """What a turn needs from its runtime, resolved once per turn."""

    provider: Provider
    provider_id: str
    controller: EffectController
    caller: HookCaller
    tracer: Tracer
    clock: Clock
    tools: dict[str, ToolRegistration]
    projector: ToolResultProjector | None
    put_attachment: Callable[[bytes, str, str | None], Awaitable[Any]]
    get_attachment: Callable[[str], Awaitable[bytes]]


@define
class TurnState:
    """Everything one physical turn accumulates before its commit."""

    session_id: str
    turn_id: str
    input: TurnInput
    policy: SessionPolicy
    services: TurnServices
    history: tuple[Message, ...]
    prompt_messages: list[Message] = field(factory=list)
    turn_messages: list[Message] = field(factory=list)
    transient_ids: set[str] = field(factory=set)
    system_prompt: str = ""
    tool_specs: tuple[ToolSpec, ...] = ()
    tool_records: list[ToolCallRecord] = field(factory=list)
    issues: list[TurnIssue] = field(factory=list)
    usage: TokenUsage = field(factory=TokenUsage)
    child_ledger: TokenLedger = field(factory=TokenLedger)
    last_prompt_usage: TokenUsage | None = None
    sinks: tuple[EventSink, ...] = ()
    effect_count: int = 0
    activity_count: int = 0
    model_calls: int = 0
    message_count: int = 0
    had_tool_calls: bool = False
    enqueued_for_checkpoint: list[Message] = field(factory=list)
    take_active_inputs: Callable[[], list[TurnInput]] = field(default=lambda: [])
    has_active_inputs: Callable[[], bool] = field(default=lambda: False)
    max_attachment_bytes: int = 20 * 1024 * 1024
    # With a durable store: claims, at a checkpoint (named by its kind), the turn's active
    # input and the queued turn work for the earliest safe boundary, in one store call.
    claim_at_checkpoint: Callable[[str], Awaitable[CheckpointClaims]] | None = None
    input_claims: list[ClaimRef] = field(factory=list)
    work_claims: list[ClaimRef] = field(factory=list)
    attachment_cache: dict[str, bytes] = field(factory=dict)
    history_attachment_ids: tuple[str, ...] = ()

    @property
    def model(self) -> ModelSpec:
        """The session's model."""
        return self.policy.model

    def new_message_id(self) -> str:
        """A message id unique within the session: ``m<turn>.<n>`` style, cheap and readable."""
        self.message_count += 1
        return f"m:{self.turn_id}:{self.message_count}"

    def next_effect_key(self, kind: EffectKind) -> str:
        """The replay key of the turn's next effect (deterministic order)."""
        self.effect_count += 1
        return f"{self.session_id}:{self.turn_id}:{kind.value}:{self.effect_count}"

    def add_message(self, message: Message, *, transient: bool = False) -> None:
        """Append a message the model will see; non-transient ones are committed."""
        self.prompt_messages.append(message)
        if transient:
            self.transient_ids.add(message.id)
        else:
            self.turn_messages.append(message)

    async def emit(self, event: TurnEvent, correlation_id: str | None = None) -> None:
        """Send one activity to every sink; a failing sink is logged and ignored."""
        if not self.sinks:
            return
        self.activity_count += 1
        activity_id = f"{self.turn_id}:{self.activity_count}"
        activity = TurnActivity(activity_id, correlation_id or activity_id, event)
        for sink in self.sinks:
            try:
                await sink(activity)
            except Exception:  # a sink never breaks the turn
                import logging

                logging.getLogger("lash.turn").exception("event sink failed; the turn goes on")

    def issue(self, issue: TurnIssue) -> None:
        """Record a problem the turn reports."""
        self.issues.append(issue)

    def completions(self, phase: str) -> DirectCompletions:
        """A direct-completion client for hooks of ``phase``, journaled through the effect seam."""
        return DirectCompletions(phase, self._direct_complete)

    async def _direct_complete(
        self,
        phase: str,
        messages: tuple[Message, ...],
        source: str,
        system_prompt: str,
        max_tokens: int | None,
        output_spec: OutputSpec | None,
    ) -> LlmResponse:
        self.effect_count += 1
        key = f"{self.turn_id}:{phase}:direct:{self.effect_count}"
        request = LlmRequest(
            model=self.model,
            system_prompt=system_prompt,
            messages=messages,
            max_output_tokens=max_tokens,
            output_spec=output_spec,
            session_id=self.session_id,
            request_id=key,
        )
        services = self.services
        effect = Effect(EffectKind.DIRECT, key, self.session_id, self.turn_id, LlmResponse, lambda: key)
        response: LlmResponse = await services.controller.execute(
            effect, lambda: services.provider.complete(request, None)
        )
        self.child_ledger = self.child_ledger.add(source, self.model.id, response.usage)
        await self.emit(
            ChildUsage(
                session_id=self.session_id,
                source=source,
                model=self.model.id,
                protocol_iteration=self.model_calls,
                usage=response.usage,
                cumulative=self.child_ledger.usage_for(source, self.model.id),
            )
        )
        return response
