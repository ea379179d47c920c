"""Rate-limit admission control: the client-side limits of one provider.

A :class:`RateLimitPolicy` sets up to three limits (each unset = unlimited). A
:class:`RateLimiter` enforces them for every call of one provider instance (the runtime
builds one provider per ``[providers.<id>]``, so the limits hold per configured provider).
Before **every attempt**, the first and each retry, :meth:`RateLimiter.admit`:

1. takes a concurrency slot (``max_concurrency``), waiting in arrival order for one;
2. waits, one caller at a time in arrival order, until both windows have room: fewer than
   ``requests_per_window`` attempts started in the last ``request_window_seconds``, and
   fewer than ``tokens_per_window`` tokens charged in the last ``token_window_seconds``;
   then it records the attempt's start in the request window;
3. holds the slot while the attempt runs. When the attempt ends (answer, failure or
   cancellation) the usage it reported (the last report wins: every input bucket plus
   output, :attr:`~lash_core.model.TokenUsage.total_tokens`) is charged to the token window
   at that moment, and the slot is released.

Every wait first reports a :class:`~lash_core.model.StreamRetry` (the runtime turns it into a
``RetryStatus`` event) whose ``reason`` starts with :data:`RATE_LIMIT_WAIT`, whose
``attempt`` / ``max_attempts`` are those of the attempt waiting, and whose ``wait_seconds``
is the window wait (``0`` for a concurrency slot: its length is unknown), then sleeps
through the injected ``sleep``, reading time from the injected clock. Cancellation while
waiting leaves nothing behind: no slot held, no request recorded.

An attempt's tokens are known only when it ends, so an attempt is admitted while the
token window has *any* room left: attempts admitted together may overshoot it by their own
size (``max_concurrency`` bounds that).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
from attrs import field, frozen

from lash_core.clock import Clock, SystemClock
from lash_core.model import StreamRetry, TokenUsage
from lash_core.providers._contract import Sleep, StreamCallback

__all__ = ["DEFAULT_WINDOW_SECONDS", "RATE_LIMIT_WAIT", "Admission", "RateLimitPolicy", "RateLimiter"]

logger = logging.getLogger("lash_core.providers")

DEFAULT_WINDOW_SECONDS = 60.0
"""The window of a count set without one (per minute, as vendors state their limits)."""

RATE_LIMIT_WAIT = "rate_limit (local)"
"""How the ``reason`` of a rate-limit wait starts (a UI may show "waiting for the rate limit")."""

_SLACK = 1e-9  # a wait computed as `end - now` may land a hair before `end`


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise ValueError(f"{attribute.name} must be a positive number (got {value!r})")


@frozen
class RateLimitPolicy:
    """Client-side limits on one provider's calls; every limit is unset (unlimited) by default.

    * ``max_concurrency``: attempts in flight at once;
    * ``requests_per_window``: attempts started per request window;
    * ``request_window_seconds``: the request window (60 s when unset; only with a ``requests_per_window``);
    * ``tokens_per_window``: tokens (every input bucket plus output, as the attempts report them)
      per token window;
    * ``token_window_seconds``: the token window (60 s when unset; only with a ``tokens_per_window``).
    """

    max_concurrency: int | None = field(default=None, validator=_positive_or_none)
    requests_per_window: int | None = field(default=None, validator=_positive_or_none)
    request_window_seconds: float | None = field(default=None, validator=_positive_or_none)
    tokens_per_window: int | None = field(default=None, validator=_positive_or_none)
    token_window_seconds: float | None = field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        for count, window in (
            ("requests_per_window", "request_window_seconds"),
            ("tokens_per_window", "token_window_seconds"),
        ):
            if getattr(self, window) is not None and getattr(self, count) is None:
                raise ValueError(f"{window} needs {count}: set both (or only {count}, for a 60 s window)")

    @property
    def unlimited(self) -> bool:
        """True when no limit is set."""
        return (
            self.max_concurrency is None
            and self.requests_per_window is None
            and self.tokens_per_window is None
        )


class Admission:
    """One admitted attempt; :meth:`report` its usage as it learns it (the last report counts)."""

    def __init__(self) -> None:
        self.usage = TokenUsage()

    def report(self, usage: TokenUsage) -> None:
        """The attempt's usage so far (replaces any earlier report)."""
        self.usage = usage


class _Window:
    """A sliding window: amounts charged at instants, summed over the last ``seconds``."""

    def __init__(self, limit: int, seconds: float, unit: str) -> None:
        self.limit = limit
        self.seconds = seconds
        self.unit = unit
        self.total = 0
        self._charges: deque[tuple[float, int]] = deque()

    def charge(self, now: float, amount: int) -> None:
        if amount > 0:
            self._charges.append((now, amount))
            self.total += amount

    def wait(self, now: float) -> float:
        """Seconds until the window holds less than its limit (0 when it does now)."""
        while self._charges and self._charges[0][0] + self.seconds <= now + _SLACK:
            self.total -= self._charges.popleft()[1]
        if self.total < self.limit:
            return 0.0
        excess, freed = self.total - self.limit, 0
        for at, amount in self._charges:  # the oldest charges leave first
            freed += amount
            if freed > excess:
                return at + self.seconds - now
        return 0.0

    def describe(self) -> str:
        return f"{self.unit}_per_window = {self.limit} reached: {self.total} in the last {self.seconds:g} s"


class RateLimiter:
    """Admission control shared by every call of one provider (see the module docs).

    ``clock`` (its ``monotonic()``; the system clock by default) and ``sleep``
    (``anyio.sleep``) are injected so tests never wait; ``label`` names the provider in
    log lines.
    """

    def __init__(
        self,
        policy: RateLimitPolicy,
        *,
        clock: Clock | None = None,
        sleep: Sleep = anyio.sleep,
        label: str = "provider",
    ) -> None:
        self.policy = policy
        self._clock = clock if clock is not None else SystemClock()
        self._sleep = sleep
        self._label = label
        limit = policy.max_concurrency
        self._slots = anyio.CapacityLimiter(limit) if limit is not None else None
        self._turn = anyio.Lock()
        self._requests = self._window(policy.requests_per_window, policy.request_window_seconds, "requests")
        self._tokens = self._window(policy.tokens_per_window, policy.token_window_seconds, "tokens")
        self._in_flight = 0

    @staticmethod
    def _window(count: int | None, seconds: float | None, unit: str) -> _Window | None:
        if count is None:
            return None
        return _Window(count, seconds or DEFAULT_WINDOW_SECONDS, unit)

    @property
    def in_flight(self) -> int:
        """Admitted attempts that have not ended."""
        return self._in_flight

    @property
    def holding(self) -> int:
        """Concurrency slots held (by attempts in flight or waiting for a window)."""
        return 0 if self._slots is None else self._slots.borrowed_tokens

    @asynccontextmanager
    async def admit(
        self, on_event: StreamCallback | None = None, *, attempt: int = 1, max_attempts: int = 1
    ) -> AsyncIterator[Admission]:
        """Wait until an attempt fits the limits, hold its place while the body runs, then
        charge the usage reported to the :class:`Admission` (see the module docs)."""
        admission = Admission()
        if self._slots is not None:
            try:
                self._slots.acquire_on_behalf_of_nowait(admission)
            except anyio.WouldBlock:
                why = f"no free concurrency slot (max_concurrency = {self.policy.max_concurrency})"
                await self._report(on_event, 0.0, attempt, max_attempts, why)
                await self._slots.acquire_on_behalf_of(admission)
        try:
            await self._wait_for_windows(on_event, attempt, max_attempts)
            self._in_flight += 1
            try:
                yield admission
            finally:
                self._in_flight -= 1
                if self._tokens is not None:
                    self._tokens.charge(self._clock.monotonic(), admission.usage.total_tokens)
        finally:
            if self._slots is not None:
                self._slots.release_on_behalf_of(admission)

    async def _wait_for_windows(
        self, on_event: StreamCallback | None, attempt: int, max_attempts: int
    ) -> None:
        windows = [w for w in (self._requests, self._tokens) if w is not None]
        if not windows:
            return
        async with self._turn:
            while True:
                now = self._clock.monotonic()
                wait, window = max(((w.wait(now), w) for w in windows), key=lambda pair: pair[0])
                if wait <= 0:
                    break
                await self._report(on_event, wait, attempt, max_attempts, window.describe())
                await self._sleep(wait)
            if self._requests is not None:
                self._requests.charge(now, 1)

    async def _report(
        self, on_event: StreamCallback | None, wait: float, attempt: int, max_attempts: int, why: str
    ) -> None:
        reason = f"{RATE_LIMIT_WAIT}: {why}"
        logger.info("%s: attempt %d waits %.1fs for the rate limit: %s", self._label, attempt, wait, why)
        if on_event is not None:
            await on_event(StreamRetry(wait, attempt, max_attempts, reason))
