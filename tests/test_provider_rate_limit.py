"""Rate-limit admission: the policy, the windows, status while waiting, retries, cancellation, config."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from anyio import wait_all_tasks_blocked

from lash_core.config import structure_settings
from lash_core.config_file import check_config
from lash_core.errors import ProviderError
from lash_core.model import (
    LlmResponse,
    LlmStreamEvent,
    ProviderFailure,
    ProviderFailureKind,
    StreamRetry,
    StreamUsage,
    TokenUsage,
)
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import build_registry
from lash_core.providers import (
    RATE_LIMIT_WAIT,
    RateLimiter,
    RateLimitPolicy,
    RetryPolicy,
    StreamCallback,
    failure_error,
    run_with_retries,
)
from lash_core.testing.clock import FakeClock


class Waits:
    """A fake sleep that records each wait and moves the fake clock by it; keeps stream events."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.waits: list[float] = []
        self.events: list[LlmStreamEvent] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    async def on_event(self, event: LlmStreamEvent) -> None:
        self.events.append(event)

    def limiter(self, **policy: float) -> RateLimiter:
        return RateLimiter(RateLimitPolicy(**policy), clock=self.clock, sleep=self.sleep)  # type: ignore[arg-type]

    @property
    def statuses(self) -> list[StreamRetry]:
        return [e for e in self.events if isinstance(e, StreamRetry)]


class Calls:
    """An attempt function: records the clock at each attempt, reports ``usage`` and answers."""

    def __init__(self, clock: FakeClock, usage: TokenUsage | None = None, *failures: ProviderError) -> None:
        self.clock = clock
        self.usage = usage or TokenUsage()
        self.failures = list(failures)
        self.started: list[float] = []

    async def __call__(self, on_event: StreamCallback | None) -> LlmResponse:
        self.started.append(self.clock.monotonic())
        if self.failures:
            if on_event is not None:
                await on_event(StreamUsage(self.usage))
            raise self.failures.pop(0)
        return LlmResponse(usage=self.usage)


async def _call(waits: Waits, limiter: RateLimiter, calls: Calls) -> LlmResponse:
    return await run_with_retries(
        calls, policy=RetryPolicy(), on_event=waits.on_event, sleep=waits.sleep, limiter=limiter
    )


def test_the_default_policy_is_unlimited() -> None:
    """No limit is set by default."""
    assert RateLimitPolicy().unlimited
    assert not RateLimitPolicy(max_concurrency=2).unlimited


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency must be a positive number"),
        ({"requests_per_window": -1}, "requests_per_window must be a positive number"),
        ({"tokens_per_window": 10, "token_window_seconds": 0.0}, "token_window_seconds must be a positive"),
        ({"request_window_seconds": 10.0}, "request_window_seconds needs requests_per_window"),
        ({"token_window_seconds": 10.0}, "token_window_seconds needs tokens_per_window"),
    ],
)
def test_invalid_policies_are_refused_by_name(fields: dict[str, float], message: str) -> None:
    """Non-positive values and a window without its count are refused, naming the field."""
    with pytest.raises(ValueError, match=message):
        RateLimitPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider_type", ["openai", "openai-responses", "anthropic"])
def test_every_http_provider_takes_a_rate_limit_table(provider_type: str) -> None:
    """`rate_limit` structures into a RateLimitPolicy; a bad value names its key path."""
    settings_class = (
        build_registry(create_plugin_manager(environ={})).component("providers", provider_type).settings
    )
    prefix = "providers.default.settings"
    settings, problems = structure_settings({"rate_limit": {"max_concurrency": 3}}, settings_class, prefix)
    assert problems == [] and settings.rate_limit == RateLimitPolicy(max_concurrency=3)
    _, problems = structure_settings({"rate_limit": {"token_window_seconds": 5}}, settings_class, prefix)
    assert len(problems) == 1
    assert (
        problems[0].startswith(f"{prefix}.rate_limit: ")
        and "token_window_seconds needs tokens_per_window" in problems[0]
    )


def test_a_bad_rate_limit_in_lash_toml_is_a_config_problem(tmp_path: Path) -> None:
    """`lash config check` reports a bad `[providers.<id>.settings.rate_limit]` by its key path."""
    path = tmp_path / "lash.toml"
    path.write_text(
        '[model]\nid = "gpt-4o"\n[providers.default]\ntype = "openai"\n'
        '[providers.default.settings]\napi_key = "sk-test"\n'
        "[providers.default.settings.rate_limit]\nmax_concurrency = 0\n",
        encoding="utf-8",
    )
    _, problems = check_config(path, environ={"LASH_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    assert any(
        "providers.default.settings.rate_limit" in p and "max_concurrency must be a positive number" in p
        for p in problems
    ), problems


@pytest.mark.anyio
async def test_the_request_window_slides() -> None:
    """With 2 requests per 10 s, the third waits for the first to leave the window, the fourth for the second."""
    waits = Waits()
    limiter = waits.limiter(requests_per_window=2, request_window_seconds=10.0)
    calls = Calls(waits.clock)
    await _call(waits, limiter, calls)
    waits.clock.advance(4.0)
    for _ in range(3):
        await _call(waits, limiter, calls)
    assert calls.started == [0.0, 4.0, 10.0, 14.0]
    assert waits.waits == [6.0, 4.0]


@pytest.mark.anyio
async def test_a_count_without_a_window_is_per_minute() -> None:
    """`requests_per_window` alone uses a 60 s window."""
    waits = Waits()
    limiter = waits.limiter(requests_per_window=1)
    calls = Calls(waits.clock)
    await _call(waits, limiter, calls)
    await _call(waits, limiter, calls)
    assert calls.started == [0.0, 60.0]


@pytest.mark.anyio
async def test_the_token_window_is_charged_with_the_reported_usage() -> None:
    """An answer reporting 110 tokens (input buckets plus output) fills a 100-token window for 60 s."""
    waits = Waits()
    limiter = waits.limiter(tokens_per_window=100)
    usage = TokenUsage(
        input_tokens=40, output_tokens=40, cache_read_input_tokens=20, cache_write_input_tokens=10
    )
    calls = Calls(waits.clock, usage)
    await _call(waits, limiter, calls)
    await _call(waits, limiter, calls)
    assert calls.started == [0.0, 60.0]
    assert [s.reason for s in waits.statuses] == [
        f"{RATE_LIMIT_WAIT}: tokens_per_window = 100 reached: 110 in the last 60 s"
    ]


@pytest.mark.anyio
async def test_calls_reporting_no_usage_are_not_held_by_the_token_window() -> None:
    """Attempts that report no usage charge nothing."""
    waits = Waits()
    limiter = waits.limiter(tokens_per_window=1)
    calls = Calls(waits.clock)
    for _ in range(3):
        await _call(waits, limiter, calls)
    assert waits.waits == [] and calls.started == [0.0, 0.0, 0.0]


@pytest.mark.anyio
async def test_retries_are_admitted_and_a_failed_attempt_charges_its_streamed_usage() -> None:
    """A failed attempt's streamed usage is charged, and its retry waits for the token window."""
    waits = Waits()
    limiter = waits.limiter(tokens_per_window=50, token_window_seconds=30.0)
    error = failure_error(
        ProviderFailure(kind=ProviderFailureKind.TRANSPORT, message="reset", retryable=True)
    )
    calls = Calls(waits.clock, TokenUsage(input_tokens=60), error)
    await _call(waits, limiter, calls)
    # the ladder's 2 s backoff, then the rest of the token window (30 - 2 s)
    assert waits.waits == [2.0, 28.0]
    assert calls.started == [0.0, 30.0]
    admission = waits.statuses[-1]
    assert (admission.attempt, admission.max_attempts) == (2, 4)
    assert admission.reason.startswith(RATE_LIMIT_WAIT)


@pytest.mark.anyio
async def test_a_status_is_reported_before_the_wait() -> None:
    """The waiting attempt reports a StreamRetry (reason `rate_limit (local): ...`) before it sleeps."""
    clock = FakeClock()
    events: list[LlmStreamEvent] = []
    seen_when_sleeping: list[list[LlmStreamEvent]] = []

    async def sleep(seconds: float) -> None:
        seen_when_sleeping.append(list(events))
        clock.advance(seconds)

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    limiter = RateLimiter(
        RateLimitPolicy(requests_per_window=1, request_window_seconds=5.0), clock=clock, sleep=sleep
    )
    for _ in range(2):
        async with limiter.admit(on_event, attempt=1, max_attempts=4):
            pass
    expected = StreamRetry(
        5.0, 1, 4, f"{RATE_LIMIT_WAIT}: requests_per_window = 1 reached: 1 in the last 5 s"
    )
    assert seen_when_sleeping == [[expected]]
    assert events == [expected]


@pytest.mark.anyio
async def test_the_concurrency_cap_reports_a_wait_and_cancellation_frees_the_slot() -> None:
    """A caller waiting for the only slot reports it; cancelled, it holds nothing and the next is admitted."""
    waits = Waits()
    limiter = waits.limiter(max_concurrency=1)
    release = anyio.Event()

    async def hold() -> None:
        async with limiter.admit():
            await release.wait()

    async def wait_then_be_cancelled(scope: anyio.CancelScope) -> None:
        with scope:
            async with limiter.admit(waits.on_event, attempt=1, max_attempts=4):
                raise AssertionError("admitted while the slot was held")

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await wait_all_tasks_blocked()
        scope = anyio.CancelScope()
        tg.start_soon(wait_then_be_cancelled, scope)
        await wait_all_tasks_blocked()
        assert limiter.in_flight == 1 and limiter.holding == 1
        assert waits.statuses == [
            StreamRetry(0.0, 1, 4, f"{RATE_LIMIT_WAIT}: no free concurrency slot (max_concurrency = 1)")
        ]
        scope.cancel()
        await wait_all_tasks_blocked()
        assert limiter.holding == 1
        release.set()
    assert limiter.in_flight == 0 and limiter.holding == 0
    async with limiter.admit(waits.on_event):
        assert limiter.holding == 1
    assert len(waits.statuses) == 1


@pytest.mark.anyio
async def test_cancellation_while_waiting_for_a_window_releases_the_slot() -> None:
    """A caller cancelled in its window wait gives its concurrency slot back and records no request."""
    clock = FakeClock()
    sleeping = anyio.Event()

    async def sleep_forever(seconds: float) -> None:
        sleeping.set()
        await anyio.sleep_forever()

    policy = RateLimitPolicy(max_concurrency=2, requests_per_window=1, request_window_seconds=10.0)
    limiter = RateLimiter(policy, clock=clock, sleep=sleep_forever)

    async def admit() -> None:
        async with limiter.admit():
            raise AssertionError("admitted inside a full window")

    async with limiter.admit():
        pass
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(admit)
            await sleeping.wait()
            assert limiter.holding == 1 and limiter.in_flight == 0
            scope.cancel()
    assert limiter.holding == 0 and limiter.in_flight == 0
    clock.advance(10.0)
    async with limiter.admit():  # the window holds only the first request: no wait
        assert limiter.in_flight == 1


@pytest.mark.anyio
async def test_an_unlimited_limiter_never_waits() -> None:
    """Without limits admission is immediate for any number of calls."""
    waits = Waits()
    limiter = waits.limiter()
    async with limiter.admit(waits.on_event), limiter.admit(waits.on_event):
        assert limiter.in_flight == 2
    assert waits.waits == [] and waits.events == []
