"""The provider conformance suite: the same scenarios for every model provider plugin.

A provider plugin (first or third party) runs the suite by subclassing
:class:`ProviderConformance` in a test module and giving one fixture, ``provider_target``,
that returns a :class:`ProviderTarget`::

    import pytest

    from lash_core.testing.conformance.provider import ProviderConformance, ProviderTarget
    from lash_core.testing.wire import load_scripts


    class TestMyProvider(ProviderConformance):
        @pytest.fixture
        def provider_target(self) -> ProviderTarget:
            return ProviderTarget(
                name="my-vendor",
                make=lambda setup: MyProvider(
                    MySettings(api_key=setup.api_key, retry=setup.retry), client=setup.client, sleep=setup.sleep
                ),
                scripts=load_scripts("tests/fixtures/conformance"),   # <scenario>.json wire scripts
            )

``make(setup)`` builds the provider on the suite's ``httpx.AsyncClient`` (a
:class:`~lash_core.testing.wire.WireTransport` replaying the scenario's script), API key,
retry policy and fake ``sleep`` (it records waits and returns at once). ``scripts`` maps
each scenario in :data:`PROVIDER_SCENARIOS` to a wire script in the provider's own wire
format, whose ``expect`` block states the outcome in lash's terms:

* ``text``, ``reasoning`` (reasoning text), ``reasoning_replay`` (a reasoning part carries
  replay state), ``tool_calls`` (``[{call_id, name, arguments}]``, arguments as JSON),
  ``terminal_reason``, ``usage`` (the five buckets, by ``TokenUsage`` field name);
* ``streaming`` (default true: the call streams), ``retry_waits`` (the ladder's sleeps);
* ``failure``: ``{kind, retryable?, code?}`` for scenarios that must fail.

What each scenario checks beyond the ``expect`` block: ``text_stream`` (text deltas add up
to the text); ``parallel_tool_calls`` (two or more calls, starts indexed 0..n-1, some
arguments split across deltas, deltas add up to the raw arguments); ``reasoning``
(reasoning deltas add up to the reasoning text); ``cache_usage`` (a cache bucket is
non-zero); ``rate_limit_then_success`` and ``server_error_then_success`` (a
``StreamRetry`` per failure, the waits the script expects, one request per exchange);
``stream_cut`` (with retries off, a retryable ``stream`` failure; with retries on, an
``StreamAttemptReset`` before the retry and no duplicated text); ``malformed_chunk`` (a
``stream`` failure); ``context_overflow`` and ``auth_failure`` (never retried). In every
failure the API key appears nowhere. A provider may skip a scenario by naming it in
``unsupported`` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from attrs import define, field, frozen

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmReasoningPart,
    LlmRequest,
    LlmResponse,
    LlmStreamEvent,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    StreamAttemptReset,
    StreamReasoningDelta,
    StreamRetry,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    TerminalReason,
    TokenUsage,
    ToolSpec,
)
from lash_core.providers import Provider, RetryPolicy
from lash_core.testing.wire import WireScript, WireTransport

__all__ = [
    "PROVIDER_SCENARIOS",
    "ConformanceSetup",
    "ProviderConformance",
    "ProviderTarget",
    "check_provider_scenario",
    "default_request",
]

PROVIDER_SCENARIOS = (
    "text_stream",
    "parallel_tool_calls",
    "reasoning",
    "cache_usage",
    "rate_limit_then_success",
    "server_error_then_success",
    "stream_cut",
    "malformed_chunk",
    "context_overflow",
    "auth_failure",
)

SENTINEL_KEY = "sk-conformance-SENTINEL-0123456789abcdef"


@frozen
class ConformanceSetup:
    """What the suite hands ``make``: build the provider on exactly these."""

    client: httpx.AsyncClient
    api_key: str
    retry: RetryPolicy
    sleep: Callable[[float], Any]


@define
class ProviderTarget:
    """A provider under test: how to build it and its per-scenario wire scripts."""

    name: str
    make: Callable[[ConformanceSetup], Provider]
    scripts: Mapping[str, WireScript]
    model: ModelSpec = field(factory=lambda: ModelSpec("conformance-model"))
    unsupported: Mapping[str, str] = field(factory=dict)
    request: Callable[[str, ModelSpec], LlmRequest] | None = None
    api_key: str = SENTINEL_KEY


_TOOLS = (
    ToolSpec(
        "get_weather",
        "The weather in a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    ToolSpec(
        "get_time",
        "The local time in a timezone.",
        {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    ),
)


def default_request(scenario: str, model: ModelSpec) -> LlmRequest:
    """The request a scenario sends unless the target overrides it (tools for
    ``parallel_tool_calls``, a reasoning effort for ``reasoning``)."""
    message = Message("m1", Role.USER, (Part("m1.p0", PartKind.TEXT, "Conformance question."),))
    return LlmRequest(
        model=model,
        system_prompt="You are answering a provider conformance test.",
        messages=(message,),
        tools=_TOOLS if scenario == "parallel_tool_calls" else (),
        reasoning_effort="low" if scenario == "reasoning" else None,
        session_id="conformance-session",
        request_id="conformance-request",
    )


@define
class _Run:
    response: LlmResponse | None
    error: ProviderError | None
    events: list[LlmStreamEvent]
    waits: list[float]
    requests: int


async def _run(target: ProviderTarget, scenario: str, script: WireScript, retry: RetryPolicy) -> _Run:
    transport = WireTransport(script)
    events: list[LlmStreamEvent] = []
    waits: list[float] = []

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    build = target.request or default_request
    request = build(scenario, target.model)
    streaming = script.expect.get("streaming", True)
    response = error = None
    async with httpx.AsyncClient(transport=transport) as client:
        provider = target.make(ConformanceSetup(client, target.api_key, retry, sleep))
        try:
            response = await provider.complete(request, on_event if streaming else None)
        except ProviderError as exc:
            error = exc
        finally:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
    return _Run(response, error, events, waits, len(transport.requests))


def _ok(run: _Run, scenario: str) -> LlmResponse:
    assert run.error is None, f"{scenario}: the call failed: {run.error}"
    assert run.response is not None
    return run.response


def _failure(run: _Run, scenario: str, key: str) -> ProviderFailure:
    assert run.error is not None, f"{scenario}: expected a ProviderError, got {run.response!r}"
    failure = run.error.failure
    assert isinstance(failure, ProviderFailure), f"{scenario}: the error carries no ProviderFailure"
    for text in (str(run.error), failure.message, failure.raw or ""):
        assert key not in text, f"{scenario}: the API key leaked into the error"
    return failure


def _check_expect(response: LlmResponse, expect: Mapping[str, Any], scenario: str) -> None:
    if "text" in expect:
        assert response.text == expect["text"], f"{scenario}: text"
    if "tool_calls" in expect:
        got = [
            {"call_id": c.call_id, "name": c.name, "arguments": json.loads(c.arguments)}
            for c in response.tool_calls
        ]
        assert got == expect["tool_calls"], f"{scenario}: tool calls"
    if "terminal_reason" in expect:
        assert response.terminal_reason is TerminalReason(expect["terminal_reason"]), f"{scenario}: terminal"
    if "usage" in expect:
        assert response.usage == TokenUsage(**expect["usage"]), f"{scenario}: usage {response.usage}"
    reasoning = [p for p in response.parts if isinstance(p, LlmReasoningPart)]
    if "reasoning" in expect:
        assert "".join(p.text for p in reasoning) == expect["reasoning"], f"{scenario}: reasoning text"
    if expect.get("reasoning_replay"):
        assert any(p.replay is not None for p in reasoning), f"{scenario}: no reasoning replay state"


def _check_stream(response: LlmResponse, events: list[LlmStreamEvent], scenario: str) -> None:
    resets = [i for i, e in enumerate(events) if isinstance(e, StreamAttemptReset)]
    tail = events[resets[-1] + 1 :] if resets else events
    text = "".join(e.text for e in tail if isinstance(e, StreamTextDelta))
    assert text == response.text, f"{scenario}: text deltas {text!r} != response text"
    reasoning = "".join(e.text for e in tail if isinstance(e, StreamReasoningDelta))
    assert reasoning == "".join(p.text for p in response.parts if isinstance(p, LlmReasoningPart))
    starts = [e for e in tail if isinstance(e, StreamToolCallStart)]
    assert [(s.index, s.call_id, s.name) for s in starts] == [
        (i, c.call_id, c.name) for i, c in enumerate(response.tool_calls)
    ], f"{scenario}: tool-call starts"
    for index, call in enumerate(response.tool_calls):
        pieces = "".join(e.arguments for e in tail if isinstance(e, StreamToolCallDelta) and e.index == index)
        assert pieces == call.arguments, f"{scenario}: argument deltas of call {index}"
    usage = [e.usage for e in tail if isinstance(e, StreamUsage)]
    if usage:
        assert usage[-1] == response.usage, f"{scenario}: last usage event != response usage"


async def _success(target: ProviderTarget, scenario: str, script: WireScript) -> _Run:
    run = await _run(target, scenario, script, RetryPolicy())
    response = _ok(run, scenario)
    _check_expect(response, script.expect, scenario)
    if script.expect.get("streaming", True):
        _check_stream(response, run.events, scenario)
    assert run.requests == len(script.exchanges), f"{scenario}: {run.requests} requests sent"
    return run


async def _scenario_success(target: ProviderTarget, scenario: str, script: WireScript) -> None:
    run = await _success(target, scenario, script)
    response = run.response
    assert response is not None
    assert not [e for e in run.events if isinstance(e, StreamRetry)], f"{scenario}: unexpected retry"
    if scenario == "parallel_tool_calls":
        assert len(response.tool_calls) >= 2, f"{scenario}: expected two or more tool calls"
        split = [
            sum(1 for e in run.events if isinstance(e, StreamToolCallDelta) and e.index == i)
            for i in range(len(response.tool_calls))
        ]
        assert max(split) >= 2, f"{scenario}: no call's arguments were split across deltas"
        assert response.terminal_reason is TerminalReason.TOOL_USE
    elif scenario == "reasoning":
        assert any(isinstance(p, LlmReasoningPart) for p in response.parts), f"{scenario}: no reasoning part"
    elif scenario == "cache_usage":
        usage = response.usage
        assert usage.cache_read_input_tokens or usage.cache_write_input_tokens, f"{scenario}: no cache usage"


async def _scenario_retry(target: ProviderTarget, scenario: str, script: WireScript) -> None:
    assert len(script.exchanges) >= 2, f"{scenario}: script a failing exchange, then a successful one"
    run = await _success(target, scenario, script)
    retries = [e for e in run.events if isinstance(e, StreamRetry)]
    assert len(retries) == len(script.exchanges) - 1, f"{scenario}: one StreamRetry per failed attempt"
    assert run.waits == [r.wait_seconds for r in retries]
    if "retry_waits" in script.expect:
        assert run.waits == script.expect["retry_waits"], f"{scenario}: waits {run.waits}"
    assert all(key not in r.reason for r in retries for key in (target.api_key,))


async def _scenario_stream_cut(target: ProviderTarget, scenario: str, script: WireScript) -> None:
    first = WireScript(script.name, script.exchanges[:1], expect=script.expect)
    cut = await _run(target, scenario, first, RetryPolicy.disabled())
    failure = _failure(cut, scenario, target.api_key)
    assert failure.kind is ProviderFailureKind.STREAM, f"{scenario}: kind {failure.kind}"
    assert failure.retryable, f"{scenario}: a cut stream must be retryable"
    run = await _success(target, scenario, script)
    kinds = [type(e) for e in run.events]
    retry_at = kinds.index(StreamRetry)
    streamed_before = any(
        k in (StreamTextDelta, StreamReasoningDelta, StreamToolCallDelta) for k in kinds[:retry_at]
    )
    if streamed_before:
        assert kinds[retry_at - 1] is StreamAttemptReset, (
            f"{scenario}: no StreamAttemptReset before the retry"
        )


async def _scenario_failure(target: ProviderTarget, scenario: str, script: WireScript) -> None:
    expected = script.expect.get("failure") or {}
    policy = RetryPolicy.disabled() if scenario == "malformed_chunk" else RetryPolicy()
    run = await _run(target, scenario, script, policy)
    failure = _failure(run, scenario, target.api_key)
    default_kind = {
        "malformed_chunk": "stream",
        "context_overflow": "context_overflow",
        "auth_failure": "auth",
    }[scenario]
    assert failure.kind is ProviderFailureKind(expected.get("kind", default_kind)), f"{scenario}: {failure}"
    if "retryable" in expected:
        assert failure.retryable is expected["retryable"], f"{scenario}: retryable"
    if "code" in expected:
        assert failure.code == expected["code"], f"{scenario}: code {failure.code}"
    if scenario != "malformed_chunk":
        assert not failure.retryable and run.requests == 1, f"{scenario}: must not be retried"
        assert run.waits == []


_HANDLERS = {
    "text_stream": _scenario_success,
    "parallel_tool_calls": _scenario_success,
    "reasoning": _scenario_success,
    "cache_usage": _scenario_success,
    "rate_limit_then_success": _scenario_retry,
    "server_error_then_success": _scenario_retry,
    "stream_cut": _scenario_stream_cut,
    "malformed_chunk": _scenario_failure,
    "context_overflow": _scenario_failure,
    "auth_failure": _scenario_failure,
}


async def check_provider_scenario(target: ProviderTarget, scenario: str) -> None:
    """Run one scenario against ``target``; skips (pytest) when the target declares it
    unsupported and fails with the scenario's name when the target has no script for it."""
    if scenario in target.unsupported:
        pytest.skip(f"{target.name}: {scenario} unsupported: {target.unsupported[scenario]}")
    script = target.scripts.get(scenario)
    assert script is not None, (
        f"{target.name}: no wire script for scenario {scenario!r}; add one or list it in unsupported with a reason"
    )
    await _HANDLERS[scenario](target, scenario, script)


class ProviderConformance:
    """Subclass in a test module and provide the ``provider_target`` fixture."""

    @pytest.mark.anyio
    @pytest.mark.parametrize("scenario", PROVIDER_SCENARIOS)
    async def test_provider_scenario(self, provider_target: ProviderTarget, scenario: str) -> None:
        """The provider passes the conformance scenario."""
        await check_provider_scenario(provider_target, scenario)
