"""The HTTP seam of every provider: one httpx client, timeouts, classified failures.

:class:`ProviderHttp` posts a JSON body and hands back an :class:`HttpReply` whose body
is read as JSON, as text or as server-sent events. It owns:

* **the client**: an injected ``httpx.AsyncClient`` is used as it is and never closed
  here; otherwise one is made and :meth:`ProviderHttp.aclose` closes it;
* **timeouts** (:class:`Timeouts`): a buffered call must finish within
  ``request_seconds``; a streamed call must *start* (headers received) within
  ``min(request_seconds, stream_idle_seconds)`` and then receive a chunk at least every
  ``stream_idle_seconds`` (so long generations are not cut, stalled ones are);
* **failures**: HTTP errors are classified by
  :func:`~lash_core.providers.classify_http_failure`; connection errors and timeouts
  become retryable ``transport`` / ``timeout`` failures; every text is redacted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import httpx
from attrs import frozen

from lash_core.model import ProviderFailure, ProviderFailureKind
from lash_core.providers._classify import classify_http_failure, stream_failure, transport_failure
from lash_core.providers._contract import failure_error
from lash_core.providers._secrets import Redactor
from lash_core.providers._sse import SseEvent, iter_sse, parse_sse_text

__all__ = ["HttpReply", "ProviderHttp", "Timeouts", "join_url"]


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive (got {value})")


@frozen
class Timeouts:
    """Provider timeouts in seconds (see the module docs)."""

    request_seconds: float = attrs.field(default=300.0, validator=_positive)
    stream_idle_seconds: float = attrs.field(default=120.0, validator=_positive)

    @property
    def stream_start_seconds(self) -> float:
        """How long a streamed call may take to start answering."""
        return min(self.request_seconds, self.stream_idle_seconds)


def join_url(base_url: str, path: str) -> str:
    """``base_url`` and ``path`` joined with exactly one slash."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _is_event_stream(content_type: str) -> bool:
    return "text/event-stream" in content_type.lower()


def _looks_like_sse(text: str) -> bool:
    head = text.lstrip()[:16]
    return head.startswith(("data:", "event:", ":"))


class HttpReply:
    """A successful (2xx) response whose body has not been read yet."""

    def __init__(
        self,
        response: httpx.Response,
        *,
        streaming: bool,
        deadline: float,
        timeouts: Timeouts,
        redact: Redactor,
    ) -> None:
        self.response = response
        self.streaming = streaming
        self._deadline = deadline
        self._timeouts = timeouts
        self._redact = redact

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.response.headers

    @property
    def is_event_stream(self) -> bool:
        """True when the body is declared as server-sent events."""
        return _is_event_stream(self.response.headers.get("content-type", ""))

    def events(self) -> AsyncIterator[SseEvent]:
        """The body's server-sent events, each chunk read within the idle timeout (close the
        iterator when stopping early)."""
        stream = self.response.stream
        encoding = self.response.headers.get("content-encoding", "identity").lower()
        raw = encoding in ("", "identity") and isinstance(stream, httpx.AsyncByteStream)
        # Reading the transport stream directly (no content decoding to do) leaves no httpx
        # generator behind when the caller stops at a terminal event.
        source = stream if raw else self.response.aiter_bytes()
        return iter_sse(source, idle_timeout=self._timeouts.stream_idle_seconds, redact=self._redact)

    async def read_text(self) -> str:
        """The whole body as text (UTF-8)."""
        chunks: list[bytes] = []
        try:
            if self.streaming:
                iterator = self.response.aiter_bytes()
                while True:
                    with anyio.fail_after(self._timeouts.stream_idle_seconds):
                        try:
                            chunks.append(await iterator.__anext__())
                        except StopAsyncIteration:
                            break
            else:
                with anyio.fail_after(max(0.0, self._deadline - anyio.current_time())):
                    chunks.append(await self.response.aread())
        except TimeoutError:
            raise failure_error(
                transport_failure(
                    f"reading the response body took longer than the timeout "
                    f"({self._timeouts.request_seconds:g} s for the call)",
                    timeout=True,
                    code="request_timeout",
                )
            ) from None
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self._redact, "reading the response body failed") from exc
        return b"".join(chunks).decode("utf-8", "replace")

    async def read_json(self) -> Any:
        """The body parsed as JSON; a body that is not JSON is a retryable ``stream`` failure."""
        text = await self.read_text()
        try:
            return json.loads(text)
        except ValueError:
            snippet = text[:200]
            raise failure_error(
                stream_failure(
                    f"the response body is not valid JSON: {snippet!r}",
                    code="malformed_response",
                    redact=self._redact,
                )
            ) from None

    async def read_body(self) -> Any | list[SseEvent]:
        """A buffered body: parsed JSON, or the list of events when it is SSE text."""
        text = await self.read_text()
        if self.is_event_stream or _looks_like_sse(text):
            return parse_sse_text(text)
        try:
            return json.loads(text)
        except ValueError:
            raise failure_error(
                stream_failure(
                    f"the response body is not valid JSON: {text[:200]!r}",
                    code="malformed_response",
                    redact=self._redact,
                )
            ) from None


def _transport_error(exc: httpx.HTTPError, redact: Redactor, what: str) -> Exception:
    timeout = isinstance(exc, httpx.TimeoutException)
    return failure_error(
        transport_failure(
            f"{what}: {type(exc).__name__}: {exc}",
            timeout=timeout,
            code="timeout" if timeout else "connection_error",
            redact=redact,
        )
    )


class ProviderHttp:
    """Posts JSON to one vendor endpoint (see the module docs).

    ``headers`` are sent with every request (authorization included: they are never
    logged or put in errors). ``vendor`` and ``auth_hint`` shape error messages.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeouts: Timeouts | None = None,
        client: httpx.AsyncClient | None = None,
        redactor: Redactor | None = None,
        vendor: str = "the provider",
        auth_hint: str = "",
    ) -> None:
        self.base_url = base_url
        self.timeouts = timeouts or Timeouts()
        self.redact = redactor or Redactor()
        self.vendor = vendor
        self.auth_hint = auth_hint
        self._headers = dict(headers)
        self._owns_client = client is None
        self._client = client
        self._closed = False

    @property
    def client(self) -> httpx.AsyncClient:
        """The client in use (made on first use when none was injected)."""
        if self._client is None:
            if self._closed:
                raise RuntimeError("this provider was closed (aclose()); make a new one")
            t = self.timeouts
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=min(30.0, t.request_seconds),
                    read=t.stream_idle_seconds,
                    write=t.request_seconds,
                    pool=t.request_seconds,
                )
            )
        return self._client

    async def aclose(self) -> None:
        """Close the client if this object made it; an injected client is left open."""
        self._closed = True
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def error(self, failure: ProviderFailure) -> Exception:
        """The exception for ``failure`` (its texts already redacted)."""
        return failure_error(failure)

    @asynccontextmanager
    async def post(self, path: str, body: Mapping[str, Any], *, stream: bool) -> AsyncIterator[HttpReply]:
        """POST ``body`` as JSON to ``base_url``/``path``; yields the reply when it is 2xx.

        Raises a classified :class:`~lash_core.errors.ProviderError` for HTTP errors,
        timeouts and connection failures. The response is closed on exit.
        """
        url = join_url(self.base_url, path)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **({"accept-encoding": "identity"} if stream else {}),
            **self._headers,
        }
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            request = self.client.build_request("POST", url, content=content, headers=headers)
            if request.url.scheme not in ("http", "https") or not request.url.host:
                raise httpx.UnsupportedProtocol(f"{request.url.scheme!r} is not http or https")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise failure_error(
                ProviderFailure(
                    kind=ProviderFailureKind.VALIDATION,
                    message=self.redact(
                        f"invalid endpoint URL {url!r} ({exc}); check base_url in the settings"
                    ),
                    code="invalid_url",
                )
            ) from None
        start = anyio.current_time()
        limit = self.timeouts.stream_start_seconds if stream else self.timeouts.request_seconds
        try:
            with anyio.fail_after(limit):
                response = await self.client.send(request, stream=True)
        except TimeoutError:
            raise failure_error(
                transport_failure(
                    f"{self.vendor} did not start answering within {limit:g} s",
                    timeout=True,
                    code="response_start_timeout",
                )
            ) from None
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.redact, f"could not reach {url}") from exc
        try:
            if response.status_code >= 400:
                await self._raise_for_status(response)
            yield HttpReply(
                response,
                streaming=stream,
                deadline=start + self.timeouts.request_seconds,
                timeouts=self.timeouts,
                redact=self.redact,
            )
        finally:
            await response.aclose()

    async def _raise_for_status(self, response: httpx.Response) -> None:
        try:
            with anyio.fail_after(self.timeouts.stream_start_seconds):
                raw = await response.aread()
            text = raw.decode("utf-8", "replace")
        except (TimeoutError, httpx.HTTPError):
            text = ""
        failure = classify_http_failure(
            response.status_code,
            text,
            headers=dict(response.headers),
            vendor=self.vendor,
            auth_hint=self.auth_hint,
            redact=self.redact,
        )
        raise failure_error(failure)
