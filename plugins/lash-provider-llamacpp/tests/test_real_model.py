"""The llamacpp provider with the real SmolLM2-135M model: no mocks.

Turns run through a real lash ``Runtime`` that finds the provider by its entry point.
Answers are kept to a few tokens so the whole module takes seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from lash_provider_llamacpp import LlamaCppProvider, LlamaCppSettings, to_chat_messages

from lash_core import Runtime
from lash_core.errors import ProviderError
from lash_core.model import (
    AssistantProseDelta,
    Cancelled,
    Finished,
    Incomplete,
    LlmRequest,
    LlmStreamEvent,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    Role,
    Stopped,
    StreamTextDelta,
    StreamUsage,
    TerminalReason,
    TurnActivity,
    UsageEvent,
)
from lash_core.session import collect_into

GUARD_SECONDS = 60
COUNTING = "Count from 1 to 300, one number per line."


def runtime_config(model_path: Path, **settings: Any) -> dict[str, Any]:
    """A runtime configuration with the llamacpp provider as ``default``; text only unless
    ``tools`` is given (offering the installed tools lengthens every prompt; test_real_tools.py
    covers them)."""
    base = {"model_path": str(model_path), "n_ctx": 1024, "seed": 42, "temperature": 0.2, "tools": "off"}
    return {
        "model": {"id": "smollm2-135m", "context_window_tokens": 1024},
        "providers": {"default": {"type": "llamacpp", "settings": {**base, **settings}}},
    }


def user_request(text: str, *, system: str = "", max_output_tokens: int | None = None) -> LlmRequest:
    """A request with one user message."""
    message = Message("m1", Role.USER, (Part("m1.p0", PartKind.TEXT, text),))
    return LlmRequest(ModelSpec("smollm2-135m"), system, (message,), max_output_tokens=max_output_tokens)


def prose_deltas(activities: list[TurnActivity]) -> list[str]:
    """The streamed prose pieces of a turn."""
    return [a.event.text for a in activities if isinstance(a.event, AssistantProseDelta)]


def failure_of(error: ProviderError) -> ProviderFailure:
    """The classified failure a provider error carries."""
    assert isinstance(error.failure, ProviderFailure)
    return error.failure


@pytest.mark.anyio
async def test_a_streamed_turn_through_the_runtime(model_path: Path) -> None:
    """A real turn, the installed tools offered: streamed text, real token counts; closing frees the model."""
    activities: list[TurnActivity] = []
    async with Runtime(runtime_config(model_path, max_output_tokens=24, tools="auto")) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
        session = await runtime.session("llama-text")
        turn = session.turn("What is the capital of France?", sink=collect_into(activities))
        result = await turn.run()
        provider = runtime.provider("default")
        assert isinstance(provider, LlamaCppProvider)
        assert provider.loaded
    assert report["llamacpp"]["distribution"] == "lash-provider-llamacpp"
    assert report["llamacpp"]["registered"] == {"providers": ["llamacpp"]}
    text = result.assistant_output.raw_text
    deltas = prose_deltas(activities)
    assert text.strip()
    assert len(deltas) >= 3
    assert "".join(deltas) == text
    usage = result.token_usage
    assert usage.input_tokens > 10  # the chat template alone is more than that
    assert 0 < usage.output_tokens <= 24
    assert [a.event.usage for a in activities if isinstance(a.event, UsageEvent)] == [usage]
    assert isinstance(result.outcome, Finished)  # seeded: the short answer ends by itself
    assert not provider.loaded


@pytest.mark.anyio
async def test_a_small_output_cap_stops_the_turn_incomplete(model_path: Path) -> None:
    """max_output_tokens reached => terminal reason output_limit => Stopped(Incomplete)."""
    async with Runtime(runtime_config(model_path, max_output_tokens=3)) as runtime:
        session = await runtime.session("llama-limit")
        result = await session.turn("Write a long story about a dragon.").run()
    assert result.outcome == Stopped(Incomplete())
    assert result.token_usage.output_tokens == 3
    assert [issue.code for issue in result.errors] == ["output_limit"]


@pytest.mark.anyio
async def test_cancelling_mid_generation_stops_promptly_and_commits_cancelled(model_path: Path) -> None:
    """turn.cancel() while tokens stream stops the model within a token or so; the turn commits Cancelled."""
    deltas: list[str] = []
    streaming = anyio.Event()

    async def sink(activity: TurnActivity) -> None:
        if isinstance(activity.event, AssistantProseDelta):
            deltas.append(activity.event.text)
            if len(deltas) == 5:
                streaming.set()

    results: list[Any] = []
    async with Runtime(runtime_config(model_path, max_output_tokens=400)) as runtime:
        session = await runtime.session("llama-cancel")
        turn = session.turn(COUNTING, sink=sink)
        provider = runtime.provider("default")
        assert isinstance(provider, LlamaCppProvider)

        async def run() -> None:
            results.append(await turn.run())

        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                await streaming.wait()
                cancelled_at = time.monotonic()
                turn.cancel("stop pressed")
        stopped_after = time.monotonic() - cancelled_at
        result = results[0]
        assert result.outcome == Stopped(Cancelled())
        assert result.cancellation_reason == "stop pressed"
        assert stopped_after < 1.0  # about 10 ms here: generation stops at the next token
        assert not provider.busy  # the worker thread has returned
        assert 5 <= len(deltas) <= 8
        count = len(deltas)
        await anyio.sleep(0.2)
        assert len(deltas) == count  # nothing arrives after the cancellation
        assert [m.role for m in session.history] == [Role.USER]
        again = await provider.complete(user_request("Say hi.", max_output_tokens=4))
        assert again.usage.output_tokens > 0  # the provider is usable again


@pytest.mark.anyio
async def test_the_provider_streams_deltas_then_usage(shared_provider: LlamaCppProvider) -> None:
    """Deltas join to the response text; usage comes last with the exact prompt token count."""
    events: list[LlmStreamEvent] = []

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    request = user_request("Name three colors.", system="You are brief.")
    response = await shared_provider.complete(request, on_event)
    deltas = [e.text for e in events if isinstance(e, StreamTextDelta)]
    assert isinstance(events[-1], StreamUsage)
    assert events[-1].usage == response.usage
    assert "".join(deltas) == response.text
    assert response.text.strip()
    model = await shared_provider.load()
    assert response.usage.input_tokens == len(model.prompt_tokens(to_chat_messages(request)))
    assert 0 < response.usage.output_tokens <= 16
    assert response.terminal_reason in (TerminalReason.STOP, TerminalReason.OUTPUT_LIMIT)
    assert response.model == "SmolLM2-135M-Instruct.Q4_1"
    assert response.tool_calls == ()


@pytest.mark.anyio
async def test_seeded_answers_repeat_without_a_callback(shared_provider: LlamaCppProvider) -> None:
    """With a seed the same request gives the same answer; on_event is optional."""
    request = user_request("Say hello.")
    first = await shared_provider.complete(request)
    second = await shared_provider.complete(request)
    assert first.text == second.text
    assert first.usage == second.usage


@pytest.mark.anyio
async def test_the_request_cap_applies(shared_provider: LlamaCppProvider) -> None:
    """A request max_output_tokens below the setting wins and is reported as output_limit."""
    response = await shared_provider.complete(user_request(COUNTING, max_output_tokens=2))
    assert response.usage.output_tokens == 2
    assert response.terminal_reason is TerminalReason.OUTPUT_LIMIT
    assert response.provider_finish_reason == "length"


@pytest.mark.anyio
async def test_an_outer_cancel_scope_stops_generation(shared_provider: LlamaCppProvider) -> None:
    """Cancelling the scope around complete() stops the stream; the provider is idle and usable after."""
    deltas: list[str] = []
    with anyio.fail_after(GUARD_SECONDS), anyio.CancelScope() as scope:

        async def on_event(event: LlmStreamEvent) -> None:
            if isinstance(event, StreamTextDelta):
                deltas.append(event.text)
                if len(deltas) == 2:
                    scope.cancel()

        await shared_provider.complete(user_request(COUNTING), on_event)
    assert scope.cancelled_caught
    assert 2 <= len(deltas) <= 3
    assert not shared_provider.busy
    assert (await shared_provider.complete(user_request("Say hi."))).usage.output_tokens > 0


@pytest.mark.anyio
async def test_a_failing_callback_stops_generation_and_propagates(shared_provider: LlamaCppProvider) -> None:
    """An exception from on_event ends the call with that exception, unwrapped."""

    async def on_event(event: LlmStreamEvent) -> None:
        raise KeyError("sink broke")

    with pytest.raises(KeyError, match="sink broke"):
        await shared_provider.complete(user_request(COUNTING), on_event)
    assert not shared_provider.busy


@pytest.mark.anyio
async def test_a_prompt_longer_than_the_context_is_a_context_overflow(
    shared_provider: LlamaCppProvider,
) -> None:
    """A prompt that fills n_ctx is a classified context_overflow provider error."""
    with pytest.raises(ProviderError) as info:
        await shared_provider.complete(user_request("word " * 1500))
    assert failure_of(info.value).kind.value == "context_overflow"
    assert "n_ctx" in failure_of(info.value).message


@pytest.mark.anyio
async def test_aclose_during_generation_ends_the_call_cancelled(model_path: Path) -> None:
    """aclose() stops a running generation (terminal reason cancelled) and frees the model; it reloads on use."""
    provider = LlamaCppProvider(
        LlamaCppSettings(
            model_path=str(model_path), n_ctx=512, seed=1, temperature=0.2, max_output_tokens=300
        )
    )
    streaming = anyio.Event()
    responses: list[Any] = []

    async def on_event(event: LlmStreamEvent) -> None:
        if isinstance(event, StreamTextDelta):
            streaming.set()

    async def call() -> None:
        responses.append(await provider.complete(user_request(COUNTING), on_event))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await streaming.wait()
            await provider.aclose()
    assert responses[0].terminal_reason is TerminalReason.CANCELLED
    assert responses[0].usage.output_tokens < 300
    assert not provider.loaded
    again = await provider.complete(user_request("Say hi.", max_output_tokens=4))
    assert provider.loaded
    assert again.usage.output_tokens > 0
    await provider.aclose()


@pytest.mark.anyio
async def test_concurrent_calls_are_serialised(shared_provider: LlamaCppProvider) -> None:
    """Two calls at once on one provider both complete (they take turns on the model)."""
    responses: list[Any] = []

    async def call(text: str) -> None:
        responses.append(await shared_provider.complete(user_request(text, max_output_tokens=6)))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as group:
            group.start_soon(call, "Say hi.")
            group.start_soon(call, "Name a fruit.")
    assert len(responses) == 2
    assert all(0 < r.usage.output_tokens <= 6 for r in responses)
    assert not shared_provider.busy


@pytest.mark.anyio
async def test_a_full_context_window_ends_the_answer_as_output_limit(model_path: Path) -> None:
    """When n_ctx leaves less room than max_output_tokens, the answer stops where the window ends."""
    provider = LlamaCppProvider(
        LlamaCppSettings(
            model_path=str(model_path), n_ctx=200, seed=3, temperature=0.2, max_output_tokens=500
        )
    )
    try:
        numbers = ", ".join(str(i) for i in range(1, 31))
        response = await provider.complete(user_request(f"Continue this list up to 500: {numbers}"))
        n_ctx = (await provider.load()).n_ctx
    finally:
        await provider.aclose()
    assert n_ctx == 256  # llama.cpp rounds the context up to a multiple of 256
    assert response.terminal_reason is TerminalReason.OUTPUT_LIMIT
    assert response.usage.input_tokens + response.usage.output_tokens == n_ctx
    assert response.terminal_diagnostic is not None and "n_ctx=256" in response.terminal_diagnostic
