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
* :func:`iter_sse`, :func:`parse_sse_text`, :class:`SseEvent`: server-sent events;
* :class:`ResponseAssembler`, :func:`merge_usage`: building the response and its events;
* :func:`resolve_api_key`, :class:`Redactor`: credentials that never leak.

The HTTP and SSE names load httpx on first use, so importing the kernel stays cheap.
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
from lash_core.providers._retry import RetryPolicy, run_with_retries
from lash_core.providers._secrets import REDACTED, Redactor, resolve_api_key

if TYPE_CHECKING:
    from lash_core.providers._http import HttpReply, ProviderHttp, Timeouts, join_url
    from lash_core.providers._sse import SseEvent, iter_sse, parse_sse_text

__all__ = [
    "REDACTED",
    "RETRYABLE_STATUSES",
    "HttpReply",
    "Provider",
    "ProviderHttp",
    "Redactor",
    "ResponseAssembler",
    "RetryPolicy",
    "Sleep",
    "SseEvent",
    "StreamCallback",
    "Timeouts",
    "classify_error_object",
    "classify_http_failure",
    "error_details",
    "failure_error",
    "iter_sse",
    "join_url",
    "merge_usage",
    "parse_retry_after",
    "parse_sse_text",
    "provider_error",
    "resolve_api_key",
    "run_with_retries",
    "stream_failure",
    "transport_failure",
]

_LAZY = {
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
