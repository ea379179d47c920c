"""Reading server-sent events from a streaming HTTP response.

Parsing is httpx-sse's (a maintained SSE parser). Around it this module adds what the
provider contract needs and the library leaves out:

* the body is decoded as UTF-8 incrementally, so a code point split across chunks
  arrives whole (SSE is always UTF-8, whatever the response headers say);
* an event still pending when the body ends (the server closed without the final blank
  line) is delivered, as is one pending when a read fails or times out, before the error
  is raised. httpx-sse drops such an event, so the text it reads is followed by an extra
  blank line at EOF and before a raised read error;
* each chunk read is bounded by the idle timeout: a stream that stalls longer raises
  a retryable ``timeout`` :class:`~lash_core.errors.ProviderError`; a connection that
  breaks raises a retryable ``transport`` one.

``event:`` names and ``id:`` lines are passed through; ``data:`` lines are joined with
``\\n``; comment lines (``: keep-alive``) and events without data are skipped.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
import httpx
from attrs import frozen
from httpx_sse import EventSource

from lash_core.providers._classify import Redact, transport_failure
from lash_core.providers._contract import failure_error

__all__ = ["SseEvent", "iter_sse", "parse_sse_text"]

_FLUSH = b"\n\n"
_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


@frozen
class SseEvent:
    """One server-sent event; ``event`` is ``"message"`` (the SSE default) when the
    server named none. Events without data are not delivered."""

    data: str
    event: str = "message"
    id: str = ""


def _read_failure(exc: BaseException, idle: float | None, redact: Redact) -> Exception:
    if isinstance(exc, TimeoutError):
        return failure_error(
            transport_failure(
                f"the stream was idle for more than {idle:g} s", timeout=True, code="stream_idle_timeout"
            )
        )
    if isinstance(exc, httpx.TimeoutException):
        return failure_error(
            transport_failure(
                f"reading the stream timed out ({type(exc).__name__})",
                timeout=True,
                code="stream_idle_timeout",
                redact=redact,
            )
        )
    return failure_error(
        transport_failure(
            f"the connection broke mid-stream ({type(exc).__name__}: {exc})",
            code="stream_disconnected",
            redact=redact,
        )
    )


class _SseSource(httpx.Response):
    """What httpx-sse reads: a response whose text is our guarded, UTF-8-decoded source.

    Every async iterator in the chain is closed explicitly (``shutdown``), so stopping at a
    terminal event leaves no generator for the garbage collector to finalize.
    """

    def __init__(self, chunks: AsyncIterable[bytes] | Any, idle: float | None, redact: Redact) -> None:
        super().__init__(200, headers=_SSE_HEADERS)
        self._sse_source = chunks.__aiter__()
        self._sse_idle = idle
        self._sse_redact = redact
        self._sse_text = self._decode()

    def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        return self._sse_text

    async def _decode(self) -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                with anyio.fail_after(self._sse_idle):
                    chunk = await self._sse_source.__anext__()
            except StopAsyncIteration:
                break
            except (TimeoutError, httpx.TransportError) as exc:
                tail = decoder.decode(b"", final=True)
                yield tail + "\n\n"
                raise _read_failure(exc, self._sse_idle, self._sse_redact) from None
            text = decoder.decode(chunk)
            if text:
                yield text
        yield decoder.decode(b"", final=True) + "\n\n"

    async def shutdown(self) -> None:
        """Close the decoder and the source iterator."""
        await self._sse_text.aclose()  # type: ignore[attr-defined]
        close = getattr(self._sse_source, "aclose", None)
        if close is not None:
            await close()


async def iter_sse(
    chunks: AsyncIterable[bytes] | Any, *, idle_timeout: float | None = None, redact: Redact = str
) -> AsyncIterator[SseEvent]:
    """The events framed by ``chunks`` (raw body bytes, as they arrive).

    Raises a retryable :class:`~lash_core.errors.ProviderError` when no chunk arrives
    within ``idle_timeout`` seconds (``None``: wait forever) or the connection breaks;
    the event pending at that moment is delivered first. Close the iterator (``aclosing``)
    when stopping early.
    """
    source = _SseSource(chunks, idle_timeout, redact)
    try:
        async with aclosing(EventSource(source).aiter_sse()) as events:
            async for sse in events:
                if sse.data:
                    yield SseEvent(data=sse.data, event=sse.event, id=sse.id)
    finally:
        await source.shutdown()


def parse_sse_text(body: bytes | str) -> list[SseEvent]:
    """The events in a complete SSE body (a buffered response that turned out to be SSE)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    response = httpx.Response(200, headers=_SSE_HEADERS, content=raw + _FLUSH)
    return [SseEvent(data=s.data, event=s.event, id=s.id) for s in EventSource(response).iter_sse() if s.data]
