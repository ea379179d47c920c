"""The request and attempt lifecycle every HTTP provider shares.

A vendor plugin subclasses :class:`HttpProvider` and says only what is its own: the
settings class, the endpoint ``path``, the key variable and authentication headers
(:meth:`~HttpProvider.key_env`, :meth:`~HttpProvider.auth_headers`), how it names itself
in messages (:meth:`~HttpProvider.vendor_label`), the request body
(:meth:`~HttpProvider.build_body`) and its :class:`~lash_core.providers.StreamParser`.
The base owns the rest, the same for every vendor:

* credentials: the key (settings, ``$env:NAME`` or the vendor's variable) and the values
  of credential-like extra headers are redacted from every text that leaves the provider;
  a vendor endpoint that needs a key fails before anything is sent when there is none;
* one :class:`~lash_core.providers.ProviderHttp` (timeouts, classified failures), the
  retry ladder around each call and one :class:`~lash_core.providers.RateLimiter` (the
  ``rate_limit`` setting) admitting every attempt of every call of this provider;
* an attempt: post, then parse the event stream, or the buffered body (a JSON answer, or
  a stream sent to a caller that did not stream), with the same parser either way;
* attachments and the structured-output spec checked against the model spec and the API
  (``api_media_types``, ``api_output_specs``), and the output-token cap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import anyio
import httpx

from lash_core.clock import Clock
from lash_core.errors import ProviderError
from lash_core.model import LlmRequest, LlmResponse, ProviderFailureKind
from lash_core.providers._contract import Sleep, StreamCallback, provider_error
from lash_core.providers._http import ProviderHttp, Timeouts
from lash_core.providers._parse import StreamParser
from lash_core.providers._rate_limit import RateLimiter, RateLimitPolicy
from lash_core.providers._request import AttachmentLoader, check_output_spec, load_attachments
from lash_core.providers._retry import RetryPolicy, run_with_retries
from lash_core.providers._secrets import Redactor, resolve_api_key
from lash_core.providers._sse import SseEvent

__all__ = ["HttpProvider", "HttpProviderSettings"]

_SECRET_HEADER = re.compile(r"(?i)auth|key|token|secret|cookie|session|password")


class HttpProviderSettings(Protocol):
    """What :class:`HttpProvider` reads from a vendor's settings."""

    @property
    def api_key(self) -> str | None: ...

    @property
    def headers(self) -> dict[str, str]: ...

    @property
    def timeouts(self) -> Timeouts: ...

    @property
    def retry(self) -> RetryPolicy: ...

    @property
    def rate_limit(self) -> RateLimitPolicy: ...

    @property
    def max_output_tokens(self) -> int | None: ...

    @property
    def expose_reasoning(self) -> bool: ...

    @property
    def resolved_base_url(self) -> str: ...

    @property
    def key_required(self) -> bool: ...


class HttpProvider:
    """Base of the HTTP providers (see the module docs). Construct with the vendor's settings
    (default: ``settings_class()``) and, optionally, an ``httpx.AsyncClient`` (used as is,
    never closed here), an ``attachment_loader``, a ``sleep`` and a ``clock`` for the retry
    ladder and the rate limiter, and an ``environ`` to read the key variable from
    (``os.environ`` by default). Settings without ``rate_limit`` mean no limits."""

    settings_class: ClassVar[type[Any]]
    parser_class: ClassVar[type[StreamParser]]
    path: ClassVar[str] = ""
    api_name: ClassVar[str] = ""
    """The API as attachment errors name it."""
    api_media_types: ClassVar[tuple[str, ...]] = ()
    """What the API carries (``fnmatch`` patterns)."""
    attachment_advice: ClassVar[str] = "use a provider that accepts it"
    """What to do about an attachment the API does not carry."""
    api_output_specs: ClassVar[tuple[str, ...]] = ()
    """The structured-output specs (tags) the body builder maps; any other is refused."""

    settings: HttpProviderSettings

    def __init__(
        self,
        settings: HttpProviderSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        attachment_loader: AttachmentLoader | None = None,
        sleep: Sleep = anyio.sleep,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else self.settings_class()
        self._env_var = self.key_env()
        self._api_key = resolve_api_key(self.settings.api_key, self._env_var, environ=environ)
        secret_headers = [v for k, v in self.settings.headers.items() if _SECRET_HEADER.search(k)]
        self._redactor = Redactor([self._api_key, *secret_headers])
        self.attachment_loader = attachment_loader
        self._sleep = sleep
        headers = self.auth_headers(self._api_key)
        headers.update(self.settings.headers)
        self.http = ProviderHttp(
            base_url=self.settings.resolved_base_url,
            headers=headers,
            timeouts=self.settings.timeouts,
            client=client,
            redactor=self._redactor,
            vendor=self.vendor_label(),
            auth_hint=self.key_advice(),
        )
        policy = getattr(self.settings, "rate_limit", None) or RateLimitPolicy()
        self.rate_limiter = RateLimiter(policy, clock=clock, sleep=sleep, label=self.http.vendor)

    # --- what a vendor provider says ----------------------------------------------------

    def key_env(self) -> str | None:
        """The environment variable read when the settings give no ``api_key``."""
        raise NotImplementedError

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """The vendor's own headers (authentication, API version...), before the extra headers."""
        raise NotImplementedError

    def vendor_label(self) -> str:
        """How errors and log lines name this provider."""
        raise NotImplementedError

    async def build_body(self, request: LlmRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body for ``request`` (raises a validation error before anything is sent);
        its output spec, if any, is one of ``api_output_specs``."""
        raise NotImplementedError

    def parser_options(self) -> dict[str, Any]:
        """Extra keyword arguments of the parser (none by default)."""
        return {}

    def refine_error(self, exc: ProviderError) -> ProviderError:
        """A vendor's better classification of an HTTP failure (``exc`` itself by default)."""
        return exc

    # --- the shared lifecycle -------------------------------------------------------------

    def key_advice(self) -> str:
        """What to check when the key is missing or refused."""
        return (
            f'check the API key: set {self._env_var} or api_key = "$env:NAME" in the provider\'s settings, '
            "and check that the key may use this model"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.resolved_base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it (an injected one stays open)."""
        await self.http.aclose()

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Run one model call (streamed when ``on_event`` is given) under the retry ladder,
        each attempt admitted by the rate limiter."""
        if self._api_key is None and self.settings.key_required:
            raise provider_error(
                ProviderFailureKind.AUTH,
                f"no API key for {self.http.vendor}: {self.key_advice()}",
                code="missing_api_key",
            )
        streaming = on_event is not None
        check_output_spec(request, api_output_specs=self.api_output_specs, api_name=self.api_name)
        body = await self.build_body(request, stream=streaming)

        async def attempt(callback: StreamCallback | None) -> LlmResponse:
            return await self.attempt(body, callback, streaming=streaming)

        return await run_with_retries(
            attempt,
            policy=self.settings.retry,
            on_event=on_event,
            sleep=self._sleep,
            label=self.http.vendor,
            limiter=None if self.rate_limiter.policy.unlimited else self.rate_limiter,
        )

    def parser(self, on_event: StreamCallback | None) -> StreamParser:
        """A fresh parser for one attempt."""
        return self.parser_class(
            on_event,
            redact=self.http.redact,
            vendor=self.http.vendor,
            expose_reasoning=self.settings.expose_reasoning,
            **self.parser_options(),
        )

    async def attempt(
        self, body: dict[str, Any], on_event: StreamCallback | None, *, streaming: bool
    ) -> LlmResponse:
        """One HTTP attempt: post, parse the stream or the buffered body."""
        try:
            async with self.http.post(self.path, body, stream=streaming) as reply:
                if streaming and reply.is_event_stream:
                    parser = self.parser(on_event)
                    await parser.feed_events(reply.events())
                    parser.check_termination()
                    return await parser.response()
                payload = await reply.read_body()
        except ProviderError as exc:
            refined = self.refine_error(exc)
            if refined is exc:
                raise
            raise refined from exc
        parser = self.parser(None)
        if isinstance(payload, list) and all(isinstance(e, SseEvent) for e in payload):
            await parser.feed_events(payload)
            parser.check_termination()
        else:
            await parser.feed_body(payload)
        return await parser.response()

    async def load_attachments(self, request: LlmRequest) -> dict[str, bytes]:
        """The bytes of the request's attachments by id, after checking every media type
        against the model spec and the API (a clear error before any request is sent)."""
        return await load_attachments(
            request,
            api_media_types=self.api_media_types,
            api_name=self.api_name,
            advice=self.attachment_advice,
            loader=self.attachment_loader,
        )

    def output_cap(self, request: LlmRequest) -> int | None:
        """The request's output cap (the model spec's), lowered by the ``max_output_tokens``
        setting; ``None`` when neither sets one."""
        caps = [c for c in (request.max_output_tokens, self.settings.max_output_tokens) if c]
        return min(caps) if caps else None
