"""The shared provider HTTP seam: client ownership, timeouts, classified failures, bodies."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from lash_core.errors import ProviderError
from lash_core.model import ProviderFailure, ProviderFailureKind
from lash_core.providers import ProviderHttp, Redactor, SseEvent, Timeouts, join_url

K = ProviderFailureKind
KEY = "sk-test-SENTINEL-abcdefghijklmnop"


def _http(handler: object, **kwargs: object) -> tuple[ProviderHttp, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    http = ProviderHttp(
        base_url="https://api.example.test/v1/",
        headers={"authorization": f"Bearer {KEY}"},
        client=client,
        redactor=Redactor([KEY]),
        vendor="Example",
        **kwargs,  # type: ignore[arg-type]
    )
    return http, client


def _failure(exc: pytest.ExceptionInfo[ProviderError]) -> ProviderFailure:
    failure = exc.value.failure
    assert isinstance(failure, ProviderFailure)
    return failure


def test_join_url() -> None:
    """Base URL and path join with exactly one slash."""
    assert join_url("https://x/v1/", "/chat") == "https://x/v1/chat"
    assert join_url("https://x/v1", "chat") == "https://x/v1/chat"


@pytest.mark.anyio
async def test_posts_json_with_headers_and_reads_json() -> None:
    """The body is compact UTF-8 JSON; the reply parses as JSON."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    http, client = _http(handler)
    async with client, http.post("chat", {"text": "é"}, stream=False) as reply:
        assert await reply.read_json() == {"ok": True}
    request = seen[0]
    assert str(request.url) == "https://api.example.test/v1/chat"
    assert request.content == '{"text":"é"}'.encode()
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.anyio
async def test_an_http_error_is_classified_and_redacted() -> None:
    """A 401 echoing the key becomes an auth failure without the key."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"bad key {KEY}", "code": "invalid_api_key"}})

    http, client = _http(handler, auth_hint="set EXAMPLE_API_KEY")
    async with client:
        with pytest.raises(ProviderError) as caught:
            async with http.post("chat", {}, stream=True):
                pass  # pragma: no cover
    failure = _failure(caught)
    assert failure.kind is K.AUTH and failure.code == "invalid_api_key"
    assert KEY not in str(caught.value) and "set EXAMPLE_API_KEY" in failure.message


@pytest.mark.anyio
async def test_connection_errors_are_retryable_transport_failures() -> None:
    """A refused connection becomes a retryable transport failure naming the URL."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http, client = _http(handler)
    async with client:
        with pytest.raises(ProviderError) as caught:
            async with http.post("chat", {}, stream=False):
                pass  # pragma: no cover
    failure = _failure(caught)
    assert failure.kind is K.TRANSPORT and failure.retryable
    assert "https://api.example.test/v1/chat" in failure.message


@pytest.mark.anyio
async def test_a_response_that_never_starts_times_out() -> None:
    """No headers within min(request, idle) seconds: a retryable timeout."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    http, client = _http(handler, timeouts=Timeouts(request_seconds=5, stream_idle_seconds=0.01))
    async with client:
        with pytest.raises(ProviderError) as caught:
            async with http.post("chat", {}, stream=True):
                pass  # pragma: no cover
    failure = _failure(caught)
    assert failure.kind is K.TIMEOUT and failure.code == "response_start_timeout" and failure.retryable


@pytest.mark.anyio
async def test_a_buffered_sse_body_is_read_as_events() -> None:
    """``read_body`` returns events when a buffered response turns out to be SSE."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/plain"}, content=b"data: 1\n\ndata: 2")

    http, client = _http(handler)
    async with client, http.post("chat", {}, stream=False) as reply:
        assert await reply.read_body() == [SseEvent(data="1"), SseEvent(data="2")]


@pytest.mark.anyio
async def test_a_body_that_is_not_json_is_a_retryable_stream_failure() -> None:
    """Garbage where JSON was expected fails retryably."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>oops</html>")

    http, client = _http(handler)
    async with client:
        with pytest.raises(ProviderError) as caught:
            async with http.post("chat", {}, stream=False) as reply:
                await reply.read_json()
    failure = _failure(caught)
    assert failure.kind is K.STREAM and failure.code == "malformed_response" and failure.retryable


@pytest.mark.anyio
async def test_streamed_events_are_read_from_a_2xx_reply() -> None:
    """``events()`` yields the SSE events of a streaming reply."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = b"".join(f"data: {json.dumps({'n': n})}\n\n".encode() for n in range(3))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http, client = _http(handler)
    async with client, http.post("chat", {}, stream=True) as reply:
        assert reply.is_event_stream and reply.status == 200
        assert [json.loads(e.data)["n"] async for e in reply.events()] == [0, 1, 2]


@pytest.mark.anyio
async def test_an_injected_client_is_never_closed() -> None:
    """``aclose`` leaves an injected client open."""
    http, client = _http(lambda request: httpx.Response(200))
    await http.aclose()
    assert not client.is_closed
    await client.aclose()


@pytest.mark.anyio
async def test_an_owned_client_is_made_lazily_and_closed() -> None:
    """Without an injected client one is made on first use and closed by ``aclose``."""
    http = ProviderHttp(base_url="https://api.example.test", headers={})
    client = http.client
    assert http.client is client
    await http.aclose()
    assert client.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        _ = http.client


@pytest.mark.anyio
async def test_an_invalid_base_url_is_a_validation_error() -> None:
    """A base URL httpx cannot use fails without retries, naming the setting."""
    http = ProviderHttp(base_url="ftp://nowhere", headers={})
    with pytest.raises(ProviderError) as caught:
        async with http.post("x", {}, stream=False):
            pass  # pragma: no cover
    await http.aclose()
    failure = _failure(caught)
    assert failure.kind is K.VALIDATION and "base_url" in failure.message


def test_timeouts_are_validated() -> None:
    """Zero or negative timeouts are rejected."""
    with pytest.raises(ValueError, match="stream_idle_seconds"):
        Timeouts(stream_idle_seconds=0)
    assert Timeouts(request_seconds=60, stream_idle_seconds=120).stream_start_seconds == 60
