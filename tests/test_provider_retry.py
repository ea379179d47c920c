"""The provider retry ladder: backoff, Retry-After, throttle deference, reset and retry events."""

from __future__ import annotations

import logging

import pytest

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmStreamEvent,
    ProviderFailure,
    ProviderFailureKind,
    StreamAttemptReset,
    StreamRetry,
    StreamTextDelta,
)
from lash_core.providers import RetryPolicy, StreamCallback, failure_error, run_with_retries

K = ProviderFailureKind


def _error(
    kind: ProviderFailureKind = K.TRANSPORT, *, retryable: bool = True, **fields: object
) -> ProviderError:
    return failure_error(
        ProviderFailure(kind=kind, message=f"{kind.value} trouble", retryable=retryable, **fields)
    )  # type: ignore[arg-type]


class Script:
    """An attempt function failing with the queued errors, then answering ``"ok"``."""

    def __init__(self, *errors: ProviderError, stream_first: bool = False) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.stream_first = stream_first

    async def __call__(self, on_event: StreamCallback | None) -> str:
        self.calls += 1
        if self.stream_first and on_event is not None:
            await on_event(StreamTextDelta(f"attempt {self.calls}"))
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Recorder:
    """Collects stream events and sleeps."""

    def __init__(self) -> None:
        self.events: list[LlmStreamEvent] = []
        self.waits: list[float] = []

    async def on_event(self, event: LlmStreamEvent) -> None:
        self.events.append(event)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    @property
    def retries(self) -> list[StreamRetry]:
        return [e for e in self.events if isinstance(e, StreamRetry)]


async def _run(script: Script, rec: Recorder, policy: RetryPolicy | None = None) -> str:
    return await run_with_retries(
        script, policy=policy or RetryPolicy(), on_event=rec.on_event, sleep=rec.sleep
    )


@pytest.mark.anyio
async def test_a_first_success_emits_nothing() -> None:
    """A call that succeeds at once neither sleeps nor reports retries."""
    rec = Recorder()
    assert await _run(Script(), rec) == "ok"
    assert rec.events == [] and rec.waits == []


@pytest.mark.anyio
async def test_retryable_failures_back_off_exponentially() -> None:
    """Retries wait 2 s, then 4 s (base 2 s doubling), reporting the next attempt number."""
    rec = Recorder()
    script = Script(_error(), _error())
    assert await _run(script, rec) == "ok"
    assert script.calls == 3
    assert rec.waits == [2.0, 4.0]
    assert [(r.wait_seconds, r.attempt, r.max_attempts) for r in rec.retries] == [(2.0, 2, 4), (4.0, 3, 4)]


@pytest.mark.anyio
async def test_the_ladder_gives_up_after_max_attempts() -> None:
    """Four failures: waits 2, 4, 8 (the 10 s cap not yet reached), then the last error is raised."""
    rec = Recorder()
    script = Script(*[_error() for _ in range(5)])
    with pytest.raises(ProviderError) as caught:
        await _run(script, rec)
    assert script.calls == 4
    assert rec.waits == [2.0, 4.0, 8.0]
    assert "gave up after 4 attempts" in str(caught.value)
    assert isinstance(caught.value.failure, ProviderFailure) and caught.value.failure.retryable


@pytest.mark.anyio
async def test_backoff_is_capped() -> None:
    """With more attempts the wait stops growing at the 10 s cap."""
    rec = Recorder()
    script = Script(*[_error() for _ in range(5)])
    await _run(script, rec, RetryPolicy(max_attempts=6))
    assert rec.waits == [2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.anyio
async def test_a_non_retryable_failure_is_raised_at_once() -> None:
    """A non-retryable failure is raised after one attempt without sleeping."""
    rec = Recorder()
    script = Script(_error(K.AUTH, retryable=False))
    with pytest.raises(ProviderError):
        await _run(script, rec)
    assert script.calls == 1 and rec.waits == [] and rec.events == []


@pytest.mark.anyio
async def test_retry_after_is_honoured_and_capped() -> None:
    """A failure's Retry-After replaces the backoff, capped at 60 s."""
    rec = Recorder()
    script = Script(_error(retry_after_seconds=7.0), _error(retry_after_seconds=600.0))
    await _run(script, rec)
    assert rec.waits == [7.0, 60.0]


@pytest.mark.anyio
async def test_throttling_with_retry_after_does_not_consume_attempts() -> None:
    """Rate limits with Retry-After wait without consuming attempts while the 90 s budget lasts."""
    rec = Recorder()
    throttles = [_error(K.RATE_LIMIT, retry_after_seconds=30.0) for _ in range(5)]
    script = Script(*throttles)
    with pytest.raises(ProviderError):
        await _run(script, rec, RetryPolicy(max_attempts=2))
    # three deferrals (90 s of budget), then one counted retry (still waiting Retry-After), then give up
    assert script.calls == 5
    assert rec.waits == [30.0, 30.0, 30.0, 30.0]
    assert [r.attempt for r in rec.retries] == [1, 1, 1, 2]


@pytest.mark.anyio
async def test_each_deference_charges_at_least_one_second() -> None:
    """A zero Retry-After still spends a second of the throttle budget."""
    rec = Recorder()
    script = Script(*[_error(K.RATE_LIMIT, retry_after_seconds=0.0) for _ in range(4)])
    policy = RetryPolicy(max_attempts=1, throttle_wait_budget_seconds=3.0)
    with pytest.raises(ProviderError):
        await _run(script, rec, policy)
    assert script.calls == 4
    assert rec.waits == [0.0, 0.0, 0.0]


@pytest.mark.anyio
async def test_rate_limit_without_retry_after_is_an_ordinary_retry() -> None:
    """A rate limit without Retry-After uses the exponential backoff and consumes an attempt."""
    rec = Recorder()
    script = Script(_error(K.RATE_LIMIT))
    await _run(script, rec)
    assert rec.waits == [2.0]
    assert rec.retries[0].attempt == 2


@pytest.mark.anyio
async def test_an_attempt_that_streamed_is_reset_before_the_retry() -> None:
    """When the failed attempt streamed, StreamAttemptReset comes right before StreamRetry."""
    rec = Recorder()
    script = Script(_error(), stream_first=True)
    await _run(script, rec)
    kinds = [type(e) for e in rec.events]
    assert kinds == [StreamTextDelta, StreamAttemptReset, StreamRetry, StreamTextDelta]


@pytest.mark.anyio
async def test_no_reset_when_the_failed_attempt_streamed_nothing() -> None:
    """A failure before any output reports only the retry."""
    rec = Recorder()
    await _run(Script(_error()), rec)
    assert [type(e) for e in rec.events] == [StreamRetry]


@pytest.mark.anyio
async def test_retries_happen_without_a_stream_callback() -> None:
    """A non-streaming call is retried the same way, with no events."""
    rec = Recorder()
    script = Script(_error())
    result = await run_with_retries(script, policy=RetryPolicy(), on_event=None, sleep=rec.sleep)
    assert result == "ok" and script.calls == 2 and rec.waits == [2.0]


@pytest.mark.anyio
async def test_a_disabled_policy_makes_one_attempt() -> None:
    """``RetryPolicy.disabled()`` raises the first retryable failure."""
    rec = Recorder()
    script = Script(_error())
    with pytest.raises(ProviderError):
        await _run(script, rec, RetryPolicy.disabled())
    assert script.calls == 1 and rec.waits == []


@pytest.mark.anyio
async def test_the_policy_is_configurable() -> None:
    """Base delay and cap come from the policy."""
    rec = Recorder()
    script = Script(_error(), _error(), _error())
    await _run(script, rec, RetryPolicy(max_attempts=5, base_delay_seconds=0.5, max_delay_seconds=1.0))
    assert rec.waits == [0.5, 1.0, 1.0]


@pytest.mark.anyio
async def test_retry_reason_names_kind_and_status_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The retry reason carries the failure kind and HTTP status; each retry is logged."""
    rec = Recorder()
    caplog.set_level(logging.WARNING, logger="lash_core.providers")
    await _run(Script(_error(K.TRANSPORT, status=503)), rec)
    assert rec.retries[0].reason.startswith("transport (HTTP 503): ")
    assert "retry 1 in 2.0s" in caplog.text


def test_policy_values_are_validated() -> None:
    """Nonsense policies fail when built, naming the field."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_delay_seconds"):
        RetryPolicy(base_delay_seconds=-1)
