"""Model providers: the contract and the shared machinery every HTTP provider uses.

The contract: a :class:`Provider` turns an :class:`~lash_core.model.LlmRequest` into an
:class:`~lash_core.model.LlmResponse`, reporting stream events through a
:data:`StreamCallback`; failures are :class:`~lash_core.errors.ProviderError` carrying a
classified :class:`~lash_core.model.ProviderFailure` (:func:`provider_error`).

The shared machinery (so every vendor plugin behaves the same):

* :class:`ProviderHttp` / :class:`HttpReply` / :class:`Timeouts`: the httpx seam, with an
  injectable client, request and stream-idle timeouts, and classified failures;
* :func:`classify_http_failure`, :func:`classify_error_object`,
  :func:`transport_failure`, :func:`stream_failure`, :func:`parse_retry_after`,
  :func:`error_details`: failure classification;
* :class:`RetryPolicy` and :func:`run_with_retries`: the retry ladder;
* :class:`RateLimitPolicy`, :class:`RateLimiter`, :class:`Admission`, :data:`RATE_LIMIT_WAIT`:
  rate-limit admission before every attempt (concurrency, request and token windows);
* :func:`iter_sse`, :func:`parse_sse_text`, :class:`SseEvent`: server-sent events;
* :class:`ResponseAssembler`, :func:`merge_usage`: building the response and its events;
* :class:`StreamParser`: the vendor-independent half of a response parser (JSON events,
  end of stream, vendor error objects, the final response);
* :class:`HttpProvider`: the request and attempt lifecycle of an HTTP provider (credentials,
  headers, the retry ladder, rate limits, stream or buffered parsing, attachment checks);
* :func:`part_body`, :func:`render_text_part`, :data:`TEXT_PART_KINDS`,
  :func:`attachment_refs`, :func:`load_attachments`, :func:`check_output_spec`,
  :func:`invalid_request`: what every provider does to a request before sending it;
* :func:`resolve_api_key`, :class:`Redactor`: credentials that never leak;
* :func:`one_of`, :func:`positive_tokens`, :func:`positive_tokens_or_none`: settings validators.

The HTTP, SSE and :class:`HttpProvider` names load httpx on first use, so importing the
kernel stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lash_core.providers._assemble import ResponseAssembler, merge_usage
from lash_core.providers._classify import (
    RETRYABLE_STATUSES,
    classify_error_object,
    classify_http_failure,
    error_details,
    parse_retry_after,
    stream_failure,
    transport_failure,
)
from lash_core.providers._contract import Provider, Sleep, StreamCallback, failure_error, provider_error
from lash_core.providers._parse import StreamParser
from lash_core.providers._rate_limit import RATE_LIMIT_WAIT, Admission, RateLimiter, RateLimitPolicy
from lash_core.providers._request import (
    CLEARED,
    TEXT_PART_KINDS,
    AttachmentLoader,
    attachment_refs,
    check_output_spec,
    invalid_request,
    load_attachments,
    media_type_allowed,
    part_body,
    render_text_part,
)
from lash_core.providers._retry import RetryPolicy, run_with_retries
from lash_core.providers._secrets import REDACTED, Redactor, resolve_api_key
from lash_core.providers._settings import one_of, positive_tokens, positive_tokens_or_none

if TYPE_CHECKING:
    from lash_core.providers._http import HttpReply, ProviderHttp, Timeouts, join_url
    from lash_core.providers._provider import HttpProvider, HttpProviderSettings
    from lash_core.providers._sse import SseEvent, iter_sse, parse_sse_text

__all__ = [
    "CLEARED",
    "RATE_LIMIT_WAIT",
    "REDACTED",
    "RETRYABLE_STATUSES",
    "TEXT_PART_KINDS",
    "Admission",
    "AttachmentLoader",
    "HttpProvider",
    "HttpProviderSettings",
    "HttpReply",
    "Provider",
    "ProviderHttp",
    "RateLimitPolicy",
    "RateLimiter",
    "Redactor",
    "ResponseAssembler",
    "RetryPolicy",
    "Sleep",
    "SseEvent",
    "StreamCallback",
    "StreamParser",
    "Timeouts",
    "attachment_refs",
    "check_output_spec",
    "classify_error_object",
    "classify_http_failure",
    "error_details",
    "failure_error",
    "invalid_request",
    "iter_sse",
    "join_url",
    "load_attachments",
    "media_type_allowed",
    "merge_usage",
    "one_of",
    "parse_retry_after",
    "parse_sse_text",
    "part_body",
    "positive_tokens",
    "positive_tokens_or_none",
    "provider_error",
    "render_text_part",
    "resolve_api_key",
    "run_with_retries",
    "stream_failure",
    "transport_failure",
]

_LAZY = {
    "HttpProvider": "lash_core.providers._provider",
    "HttpProviderSettings": "lash_core.providers._provider",
    "HttpReply": "lash_core.providers._http",
    "ProviderHttp": "lash_core.providers._http",
    "Timeouts": "lash_core.providers._http",
    "join_url": "lash_core.providers._http",
    "SseEvent": "lash_core.providers._sse",
    "iter_sse": "lash_core.providers._sse",
    "parse_sse_text": "lash_core.providers._sse",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lash_core.providers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
