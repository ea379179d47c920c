"""Server-sent events for providers: framing, UTF-8 across chunks, EOF, idle timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import anyio
import httpx
import pytest

from lash_core.errors import ProviderError
from lash_core.model import ProviderFailure, ProviderFailureKind
from lash_core.providers import SseEvent, iter_sse, parse_sse_text

BODY = (
    "event: greeting\n"
    'data: {"text": "Pelé says “olá”"}\n'
    "\n"
    ": keep-alive comment\n"
    "data: line one\n"
    "data: line two\n"
    "\n"
    "data: [DONE]\n"
    "\n"
).encode()

EXPECTED = [
    SseEvent(data='{"text": "Pelé says “olá”"}', event="greeting"),
    SseEvent(data="line one\nline two"),
    SseEvent(data="[DONE]"),
]


async def _chunks(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _collect(source: AsyncIterator[bytes], **kwargs: float) -> list[SseEvent]:
    return [event async for event in iter_sse(source, **kwargs)]


def _split(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 10_000])
async def test_events_are_the_same_however_the_body_is_chunked(size: int) -> None:
    """Any chunking (down to single bytes, splitting UTF-8 sequences) yields the same events."""
    assert await _collect(_chunks(_split(BODY, size))) == EXPECTED


@pytest.mark.anyio
async def test_a_code_point_split_across_chunks_arrives_whole() -> None:
    """A multi-byte character split between two chunks is not replaced by U+FFFD."""
    encoded = "data: é\n\n".encode()
    cut = encoded.index(b"\xc3") + 1
    events = await _collect(_chunks([encoded[:cut], encoded[cut:]]))
    assert events == [SseEvent(data="é")]


@pytest.mark.anyio
async def test_the_trailing_event_is_delivered_at_eof() -> None:
    """An event not followed by a blank line is still delivered when the body ends."""
    events = await _collect(_chunks([b"data: first\n\n", b"data: last"]))
    assert events == [SseEvent(data="first"), SseEvent(data="last")]


@pytest.mark.anyio
async def test_crlf_line_endings_are_understood() -> None:
    """CRLF and CR line endings frame events like LF."""
    events = await _collect(_chunks([b"data: a\r\n\r\ndata: b\r", b"\r"]))
    assert events == [SseEvent(data="a"), SseEvent(data="b")]


@pytest.mark.anyio
async def test_a_stalled_stream_raises_a_retryable_timeout_after_the_pending_event() -> None:
    """No chunk within the idle timeout: the pending event is delivered, then a timeout failure."""

    async def stalls() -> AsyncIterator[bytes]:
        yield b"data: pending"
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    seen: list[SseEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in iter_sse(stalls(), idle_timeout=0.01):
            seen.append(event)
    assert seen == [SseEvent(data="pending")]
    failure = caught.value.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind is ProviderFailureKind.TIMEOUT
    assert failure.retryable and failure.code == "stream_idle_timeout"


@pytest.mark.anyio
async def test_a_broken_connection_raises_a_retryable_transport_failure() -> None:
    """A read error mid-stream becomes a retryable transport failure, after the pending event."""

    async def breaks() -> AsyncIterator[bytes]:
        yield b"data: one\n\ndata: two"
        raise httpx.RemoteProtocolError("peer closed connection")

    seen: list[SseEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in iter_sse(breaks()):
            seen.append(event)
    assert seen == [SseEvent(data="one"), SseEvent(data="two")]
    failure = caught.value.failure
    assert isinstance(failure, ProviderFailure)
    assert failure.kind is ProviderFailureKind.TRANSPORT
    assert failure.retryable and failure.code == "stream_disconnected"


def test_a_buffered_body_parses_to_the_same_events() -> None:
    """``parse_sse_text`` reads a complete SSE body (text or bytes), trailing event included."""
    assert parse_sse_text(BODY) == EXPECTED
    assert parse_sse_text("data: x\n\ndata: y") == [SseEvent(data="x"), SseEvent(data="y")]


def test_ids_are_kept() -> None:
    """``id:`` lines are passed through with their event."""
    assert parse_sse_text("id: 7\ndata: x\n\n") == [SseEvent(data="x", id="7")]
