"""The `rate_limit` setting through a real provider: the concurrency cap and the token window."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider

from lash_core.model import LlmRequest, LlmStreamEvent, Message, ModelSpec, Part, PartKind, Role, StreamRetry
from lash_core.providers import RATE_LIMIT_WAIT, RateLimitPolicy
from lash_core.testing.clock import FakeClock

REQUEST = LlmRequest(
    model=ModelSpec("gpt-4o"),
    system_prompt="",
    messages=(Message("u1", Role.USER, (Part("u1.p0", PartKind.TEXT, "hi"),)),),
)


def _answer(prompt_tokens: int = 0, completion_tokens: int = 0) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


class Server:
    """A MockTransport handler that counts requests in flight and holds each until ``gate`` opens."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return _answer()


@pytest.mark.anyio
async def test_max_concurrency_caps_the_requests_in_flight() -> None:
    """Six concurrent calls under `max_concurrency = 2`: two requests in flight, four waiting with a status."""
    server = Server()
    events: list[LlmStreamEvent] = []

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    settings = ChatSettings(api_key="sk-test", rate_limit=RateLimitPolicy(max_concurrency=2))
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        provider = OpenAIChatProvider(settings, client=client)
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(provider.complete, REQUEST, on_event)
            await anyio.wait_all_tasks_blocked()
            assert (server.in_flight, server.requests) == (2, 2)
            waiting = [e for e in events if isinstance(e, StreamRetry)]
            assert len(waiting) == 4 and all(e.reason.startswith(RATE_LIMIT_WAIT) for e in waiting)
            server.gate.set()
    assert server.requests == 6 and server.max_in_flight == 2
    assert provider.rate_limiter.in_flight == 0 and provider.rate_limiter.holding == 0


@pytest.mark.anyio
async def test_the_token_window_is_charged_with_the_usage_the_vendor_reports() -> None:
    """An answer using 110 tokens fills a 100-token window: the next call waits the window out."""
    clock = FakeClock()
    started: list[float] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        started.append(clock.monotonic())
        return _answer(prompt_tokens=80, completion_tokens=30)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        await anyio.lowlevel.checkpoint()

    settings = ChatSettings(
        api_key="sk-test", rate_limit=RateLimitPolicy(tokens_per_window=100, token_window_seconds=30.0)
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = OpenAIChatProvider(settings, client=client, sleep=sleep, clock=clock)
        await provider.complete(REQUEST)
        await provider.complete(REQUEST)
    assert started == [0.0, 30.0] and waits == [30.0]
