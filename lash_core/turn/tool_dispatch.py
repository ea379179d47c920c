"""Running the tool calls of one model response.

Per call: resolve the tool in this turn's catalog, parse and validate the arguments
(problems go back to the model as an ``invalid_request`` error result), run
``before_tool_call`` hooks, execute the attempt through the effect controller (an
exception becomes a failure result with its message), run ``after_tool_call`` hooks,
project what the model sees. Calls of one round run concurrently, except tools marked
``sequential``, which run alone; results are reported in the model's order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
from attrs import define

from lash_core.effects import Effect, EffectKind
from lash_core.errors import HookError
from lash_core.hooks.context import ToolHookContext, ToolResultHookContext, TurnHookContext
from lash_core.hooks.directives import (
    AbortTurn,
    EmitEvent,
    EnqueueMessages,
    ReplaceToolArgs,
    ReplaceToolResult,
    ShortCircuitTool,
    as_directives,
    stamp_plugin_messages,
)
from lash_core.model import (
    CancelledOutcome,
    FailureOutcome,
    FailureSource,
    LlmToolCallPart,
    Message,
    Part,
    PartKind,
    PluginRuntime,
    Role,
    SuccessOutcome,
    ToolCallCompleted,
    ToolCallOutput,
    ToolCallRecord,
    ToolCallStarted,
    ToolFailure,
    ToolFailureClass,
)
from lash_core.tools.contract import ToolContext, ToolInvocation
from lash_core.tools.projector import render_output
from lash_core.tools.validation import ArgumentError, parse_arguments
from lash_core.turn.state import TurnState

__all__ = ["CompletedCall", "ToolRound", "failure_output"]

log = logging.getLogger("lash.tools")


def failure_output(
    failure_class: ToolFailureClass, code: str, message: str, source: FailureSource = FailureSource.RUNTIME
) -> ToolCallOutput:
    """A failed tool output."""
    return ToolCallOutput(FailureOutcome(ToolFailure(failure_class, code, message, source)))


@define
class CompletedCall:
    """A finished call: its output, what the model sees and how long it took."""

    call: LlmToolCallPart
    args: Any
    output: ToolCallOutput
    model_text: str
    duration_ms: int


class ToolRound:
    """The tool calls of one model response, run and recorded into the turn state."""

    def __init__(
        self, state: TurnState, hook_context: TurnHookContext, calls: Sequence[LlmToolCallPart]
    ) -> None:
        self.state = state
        self.hook_context = hook_context
        self.calls = tuple(calls)
        self.results: list[CompletedCall | None] = [None] * len(self.calls)
        self.keys = [state.next_effect_key(EffectKind.TOOL_ATTEMPT) for _ in self.calls]

    async def run(self) -> list[CompletedCall]:
        """Run every call; append the tool-result message; return the results in order."""
        state = self.state
        concurrent = state.services.controller.supports_concurrent_effects
        batch: list[int] = []
        for index, call in enumerate(self.calls):
            registration = state.services.tools.get(call.name)
            if registration is not None and registration.manifest.sequential:
                await self._run_batch(batch, concurrent)
                batch = []
                await self._run_call(index)
            else:
                batch.append(index)
        await self._run_batch(batch, concurrent)
        self.append_results()
        return [r for r in self.results if r is not None]

    async def _run_batch(self, indexes: list[int], concurrent: bool) -> None:
        if len(indexes) <= 1 or not concurrent:
            for index in indexes:
                await self._run_call(index)
            return
        # An error escaping a call (tool failures never do: an effect controller's, e.g.
        # ReplayMismatch or LeaseLost) is raised bare, as for a single call, not wrapped in
        # an exception group that the runner would mistake for a protocol bug.
        errors: list[Exception] = []

        async def run_call(index: int) -> None:
            try:
                await self._run_call(index)
            except Exception as exc:
                errors.append(exc)
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for index in indexes:
                group.start_soon(run_call, index)
        if errors:
            raise errors[0]

    def append_results(self) -> None:
        """Append one user message with a result part per call, in the model's order.

        Calls that never finished (the turn was cancelled) get a synthetic cancelled
        result, so each tool call in history has exactly one result.
        """
        state = self.state
        message_id = state.new_message_id()
        parts = []
        for index, call in enumerate(self.calls):
            done = self.results[index]
            if done is None:
                output = ToolCallOutput(CancelledOutcome("the turn was cancelled before this call finished"))
                done = CompletedCall(call, None, output, render_output(output), 0)
                self.results[index] = done
                state.tool_records.append(ToolCallRecord(call.call_id, call.name, None, output, 0))
            parts.append(
                Part(
                    f"{message_id}.p{index}",
                    PartKind.TOOL_RESULT,
                    done.model_text,
                    tool_call_id=call.call_id,
                    tool_name=call.name,
                    tool_output=done.output,
                )
            )
        state.add_message(Message(message_id, Role.USER, tuple(parts)))

    async def _run_call(self, index: int) -> None:
        state = self.state
        call = self.calls[index]
        clock = state.services.clock
        started = clock.monotonic()
        correlation = f"{state.turn_id}:tool:{call.call_id}"
        args: Any = None
        registration = state.services.tools.get(call.name)
        output: ToolCallOutput | None = None
        if registration is None:
            known = ", ".join(sorted(state.services.tools)) or "none"
            output = failure_output(
                ToolFailureClass.INVALID_REQUEST,
                "unknown_tool",
                f"there is no tool named {call.name!r}; available tools: {known}",
            )
        else:
            try:
                args = parse_arguments(call.arguments)
                registration.validator.validate(args)
            except ArgumentError as exc:
                output = failure_output(
                    ToolFailureClass.INVALID_REQUEST, "invalid_arguments", f"{call.name}: {exc.message}"
                )
        await state.emit(ToolCallStarted(call.call_id, call.name, args), correlation)
        if output is None and registration is not None:
            output, args = await self._before_hooks(call, args)
            if output is None:
                invocation = ToolInvocation(call.call_id, call.name, args)
                effect = Effect(
                    EffectKind.TOOL_ATTEMPT,
                    self.keys[index],
                    state.session_id,
                    state.turn_id,
                    ToolCallOutput,
                    lambda: {"name": call.name, "call_id": call.call_id, "args": args},
                )
                provider = registration.provider
                context = ToolContext(
                    state.session_id,
                    state.turn_id,
                    call.call_id,
                    state.completions(f"tool:{call.call_id}"),
                    state.input.context.plugin_inputs if state.input.context else {},
                )

                async def attempt() -> ToolCallOutput:
                    return await _execute(provider, invocation, context)

                output = await state.services.controller.execute(effect, attempt)
            output = await self._after_hooks(call, args, output, clock.monotonic() - started)
        assert output is not None  # every path above produced one
        duration_ms = int((clock.monotonic() - started) * 1000)
        await state.emit(ToolCallCompleted(call.call_id, call.name, args, output, duration_ms), correlation)
        state.services.tracer.emit(
            state.session_id,
            state.turn_id,
            "tool_call",
            name=call.name,
            call_id=call.call_id,
            duration_ms=duration_ms,
            outcome=output.outcome.TAG,
        )
        projector = state.services.projector
        invocation = ToolInvocation(call.call_id, call.name, args if isinstance(args, dict) else {})
        model_text = projector.project(invocation, output) if projector else render_output(output)
        state.tool_records.append(ToolCallRecord(call.call_id, call.name, args, output, duration_ms))
        self.results[index] = CompletedCall(call, args, output, model_text, duration_ms)

    async def _before_hooks(self, call: LlmToolCallPart, args: Any) -> tuple[ToolCallOutput | None, Any]:
        caller = self.state.services.caller
        if not caller.has("before_tool_call"):
            return None, args
        ctx = ToolHookContext(self.hook_context, call.call_id, call.name, args)
        try:
            results = await caller.collect("before_tool_call", ctx=ctx)
        except HookError as exc:
            return _plugin_failure(exc.plugin, f"before_tool_call failed: {exc.error}"), args
        for plugin, result in results:
            for directive in as_directives(result):
                if isinstance(directive, ReplaceToolArgs):
                    args = directive.args
                elif isinstance(directive, ShortCircuitTool):
                    return directive.output, args
                elif isinstance(directive, AbortTurn):
                    return _plugin_failure(plugin, f"{directive.code}: {directive.message}"), args
                elif isinstance(directive, EmitEvent):
                    await self.state.emit(PluginRuntime(plugin, directive.event))
                else:
                    return _plugin_failure(
                        plugin, f"before_tool_call may not return {type(directive).__name__}"
                    ), args
        return None, args

    async def _after_hooks(
        self, call: LlmToolCallPart, args: Any, output: ToolCallOutput, elapsed: float
    ) -> ToolCallOutput:
        caller = self.state.services.caller
        if not caller.has("after_tool_call"):
            return output
        ctx = ToolResultHookContext(
            self.hook_context, call.call_id, call.name, args, output, int(elapsed * 1000)
        )
        try:
            results = await caller.collect("after_tool_call", ctx=ctx)
        except HookError as exc:
            return _plugin_failure(exc.plugin, f"after_tool_call failed: {exc.error}")
        for plugin, result in results:
            for directive in as_directives(result):
                if isinstance(directive, ReplaceToolResult):
                    output = directive.output
                elif isinstance(directive, EnqueueMessages):
                    try:
                        stamped = stamp_plugin_messages(plugin, directive, self.state.new_message_id)
                    except ValueError as exc:
                        return _plugin_failure(plugin, f"after_tool_call: {exc}")
                    self.state.enqueued_for_checkpoint.extend(stamped)
                elif isinstance(directive, EmitEvent):
                    await self.state.emit(PluginRuntime(plugin, directive.event))
                else:
                    return _plugin_failure(
                        plugin, f"after_tool_call may not return {type(directive).__name__}"
                    )
        return output


def _plugin_failure(plugin: str, message: str) -> ToolCallOutput:
    return failure_output(
        ToolFailureClass.INTERNAL, "plugin_error", f"plugin {plugin!r}: {message}", FailureSource.PLUGIN
    )


async def _execute(provider: Any, invocation: ToolInvocation, context: ToolContext) -> ToolCallOutput:
    try:
        result = await provider.execute(invocation, context)
    except Exception as exc:
        log.debug("tool %s raised", invocation.name, exc_info=True)
        return failure_output(
            ToolFailureClass.EXECUTION, "tool_raised", f"{type(exc).__name__}: {exc}", FailureSource.TOOL
        )
    if isinstance(result, ToolCallOutput):
        return result
    return ToolCallOutput(SuccessOutcome(result))
