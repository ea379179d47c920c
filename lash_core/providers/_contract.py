"""The model provider contract.

A provider turns an :class:`~lash_core.model.LlmRequest` into an
:class:`~lash_core.model.LlmResponse`. While it works it may report stream events
(text and reasoning deltas, tool-call starts, usage, retries, attempt resets) through
``on_event``; a failure is raised as :class:`~lash_core.errors.ProviderError` whose
``failure`` is a :class:`~lash_core.model.ProviderFailure`. Providers are registered by
plugins (``register_providers``) and configured by the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from lash_core.errors import ProviderError
from lash_core.model import LlmRequest, LlmResponse, LlmStreamEvent, ProviderFailure, ProviderFailureKind

__all__ = ["Provider", "Sleep", "StreamCallback", "failure_error", "provider_error"]

StreamCallback = Callable[[LlmStreamEvent], Awaitable[None]]

Sleep = Callable[[float], Awaitable[None]]
"""An async sleep (``anyio.sleep`` in production); injected so tests never wait."""


@runtime_checkable
class Provider(Protocol):
    """Calls a model."""

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Run one model call; report stream events to ``on_event`` when given."""
        ...


def provider_error(
    kind: ProviderFailureKind, message: str, *, retryable: bool = False, **fields: object
) -> ProviderError:
    """A :class:`ProviderError` carrying a classified :class:`ProviderFailure`."""
    failure = ProviderFailure(kind=kind, message=message, retryable=retryable, **fields)  # type: ignore[arg-type]
    return failure_error(failure)


def failure_error(failure: ProviderFailure) -> ProviderError:
    """The :class:`ProviderError` raised for an already classified ``failure``."""
    return ProviderError(f"{failure.kind.value}: {failure.message}", failure)
