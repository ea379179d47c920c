"""The retry ladder every provider runs its HTTP attempts through.

:func:`run_with_retries` calls ``attempt`` until it succeeds, fails with a failure that
is not retryable, or the ladder gives up:

* a retryable failure waits ``min(base · 2^i, max)`` seconds before retry ``i`` (0-based),
  or the failure's ``Retry-After`` capped at ``retry_after_cap_seconds``;
* **throttle deference**: a ``rate_limit`` failure that carries ``Retry-After`` waits
  *without consuming an attempt* while the total of such waits (each charged at least
  one second) fits ``throttle_wait_budget_seconds``; after that it counts as an ordinary
  retryable failure;
* before each wait it reports :class:`~lash_core.model.StreamAttemptReset` (only when
  the failed attempt had already streamed something: consumers drop that attempt's
  text, reasoning, tool-call deltas and usage), then
  :class:`~lash_core.model.StreamRetry`, then sleeps through the injected ``sleep``;
* with a :class:`~lash_core.providers.RateLimiter`, every attempt (retries included) is
  admitted by it first, and the usage the attempt reports (its last ``StreamUsage``, or
  the usage of the :class:`~lash_core.model.LlmResponse` it returns) is charged to it.

When the ladder gives up, the last failure is raised with "gave up after N attempts"
added to its message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import attrs
from attrs import frozen

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmResponse,
    LlmStreamEvent,
    ProviderFailure,
    ProviderFailureKind,
    StreamAttemptReset,
    StreamRetry,
    StreamUsage,
)
from lash_core.providers._contract import Sleep, StreamCallback
from lash_core.providers._rate_limit import Admission, RateLimiter

__all__ = ["RetryPolicy", "run_with_retries"]

T = TypeVar("T")

logger = logging.getLogger("lash_core.providers")

_REASON_LIMIT = 300


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative (got {value})")


def _at_least_one(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1 (got {value})")


@frozen
class RetryPolicy:
    """How a provider retries failed calls (defaults follow the reference runtime)."""

    enabled: bool = True
    max_attempts: int = attrs.field(default=4, validator=_at_least_one)
    base_delay_seconds: float = attrs.field(default=2.0, validator=_positive)
    max_delay_seconds: float = attrs.field(default=10.0, validator=_positive)
    retry_after_cap_seconds: float = attrs.field(default=60.0, validator=_positive)
    throttle_wait_budget_seconds: float = attrs.field(default=90.0, validator=_positive)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(enabled=False, max_attempts=1)

    def backoff(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_index`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_seconds)
        return min(self.base_delay_seconds * (2**retry_index), self.max_delay_seconds)


class _AttemptEvents:
    """Forwards one attempt's events, remembers whether it emitted any and reports its usage
    to its admission (when rate-limited)."""

    def __init__(self, on_event: StreamCallback | None) -> None:
        self.on_event = on_event
        self.emitted = False
        self.admission: Admission | None = None

    async def __call__(self, event: LlmStreamEvent) -> None:
        self.emitted = True
        if self.admission is not None and isinstance(event, StreamUsage):
            self.admission.report(event.usage)
        assert self.on_event is not None
        await self.on_event(event)

    @property
    def callback(self) -> StreamCallback | None:
        return self if self.on_event is not None else None


def _failure(exc: ProviderError) -> ProviderFailure | None:
    return exc.failure if isinstance(exc.failure, ProviderFailure) else None


def _reason(failure: ProviderFailure) -> str:
    head = failure.kind.value + (f" (HTTP {failure.status})" if failure.status else "")
    text = f"{head}: {failure.message}"
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


async def _admitted(
    attempt: Callable[[StreamCallback | None], Awaitable[T]],
    events: _AttemptEvents,
    limiter: RateLimiter,
    number: int,
    max_attempts: int,
) -> T:
    async with limiter.admit(events.on_event, attempt=number, max_attempts=max_attempts) as admission:
        events.admission = admission
        result = await attempt(events.callback)
        if isinstance(result, LlmResponse):
            admission.report(result.usage)
        return result


async def run_with_retries(
    attempt: Callable[[StreamCallback | None], Awaitable[T]],
    *,
    policy: RetryPolicy,
    on_event: StreamCallback | None = None,
    sleep: Sleep = anyio.sleep,
    label: str = "provider",
    limiter: RateLimiter | None = None,
) -> T:
    """Run ``attempt(on_event)`` under the retry ladder (see the module docs).

    ``attempt`` receives the callback to stream through (``None`` when the caller does
    not stream) and raises :class:`~lash_core.errors.ProviderError` on failure.
    ``label`` names the provider in log lines; ``limiter`` admits every attempt.
    Cancellation is never retried.
    """
    counted = 1
    retries = 0
    throttle_spent = 0.0
    while True:
        events = _AttemptEvents(on_event)
        try:
            if limiter is None:
                return await attempt(events.callback)
            return await _admitted(
                attempt, events, limiter, counted, policy.max_attempts if policy.enabled else 1
            )
        except ProviderError as exc:
            failure = _failure(exc)
            if failure is None or not failure.retryable or not policy.enabled:
                raise
            retry_after = failure.retry_after_seconds
            wait = policy.backoff(retries, retry_after)
            throttled = failure.kind is ProviderFailureKind.RATE_LIMIT and retry_after is not None
            if throttled and throttle_spent + max(wait, 1.0) <= policy.throttle_wait_budget_seconds:
                throttle_spent += max(wait, 1.0)
            elif counted >= policy.max_attempts:
                given_up = attrs.evolve(
                    failure, message=f"{failure.message} (gave up after {counted} attempts)"
                )
                raise ProviderError(f"{given_up.kind.value}: {given_up.message}", given_up) from exc
            else:
                counted += 1
            retries += 1
            reason = _reason(failure)
            logger.warning(
                "%s: attempt failed (%s); retry %d in %.1fs (attempt %d of %d)",
                label,
                reason,
                retries,
                wait,
                counted,
                policy.max_attempts,
            )
            if on_event is not None:
                if events.emitted:
                    await on_event(StreamAttemptReset())
                await on_event(StreamRetry(wait, counted, policy.max_attempts, reason))
            await sleep(wait)
