"""Classifying failed model calls into :class:`~lash_core.model.ProviderFailure` records.

One classifier serves every HTTP provider. The decision, in order:

1. **context overflow** (the error text says the prompt is too long, and does *not*
   talk about rate limits, throttling, tokens per minute or quota) ⇒
   ``context_overflow``, never retried;
2. the **status**: 401/403 ⇒ ``auth``; 429 ⇒ ``rate_limit`` (retried, honouring
   ``Retry-After``) unless the text marks a **hard quota** (``insufficient_quota``,
   "credit balance is too low", ...) ⇒ ``quota``, never retried; 408/504 ⇒ ``timeout``
   and 409/425/5xx ⇒ ``transport`` (retried);
3. for other 4xx: **content filter** markers ⇒ ``content_filter``; an unknown model ⇒
   ``unsupported``; 400/413/422 ⇒ ``validation``; anything else ⇒ ``unknown``.

Mid-stream error objects (an ``error`` chunk, ``response.failed``) have no HTTP status;
:func:`classify_error_object` retries them when their code or status says 429/5xx or
names a transient condition (``server_error``, ``overloaded``, ...).

Every message is redacted and ends with what to do.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from lash_core.model import ProviderFailure, ProviderFailureKind

__all__ = [
    "RETRYABLE_STATUSES",
    "classify_error_object",
    "classify_http_failure",
    "error_details",
    "parse_retry_after",
    "stream_failure",
    "transport_failure",
]

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

Redact = Callable[[str], str]

_RAW_LIMIT = 4000

_OVERFLOW = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "request_too_large",
    "too many tokens",
    "input is too long",
    "reduce the length of the messages",
    "exceeds the context",
    "string_above_max_length",
)
_OVERFLOW_RE = re.compile(r"input token count.{0,80}exceeds the maximum")
_RATE_WORDS = ("rate limit", "rate_limit", "ratelimit", "throttl", "tpm", "tokens per min", "quota")
_HARD_QUOTA = (
    "insufficient_quota",
    "usage_limit_reached",
    "usage_not_included",
    "credit balance is too low",
    "billing_hard_limit",
    "exceeded your current quota",
)
_QUOTA_RETRY_HINTS = ("per minute", "per_minute", "retry in", "retrydelay", "try again in")
_CONTENT_FILTER = (
    "content_filter",
    "content_policy",
    "content policy",
    "prohibited_content",
    "responsibleaipolicyviolation",
    "safety_violation",
)
_UNSUPPORTED = ("model_not_found", "unsupported model", "does not exist", "unknown model", "no such model")
_TRANSIENT_CODES = frozenset(
    {
        "server_error",
        "internal_server_error",
        "internal_error",
        "api_error",
        "service_unavailable",
        "temporarily_unavailable",
        "overloaded",
        "overloaded_error",
        "rate_limit_exceeded",
        "rate_limit_error",
        "timeout",
    }
)


def _identity(text: str) -> str:
    return text


def _clip(text: str) -> str:
    if len(text) <= _RAW_LIMIT:
        return text
    half = _RAW_LIMIT // 2
    return f"{text[:half]} ... [{len(text) - _RAW_LIMIT} characters cut] ... {text[-half:]}"


def error_details(body: Any) -> tuple[str, str | None, str | None]:
    """``(message, code, type)`` from a vendor error body (JSON text or parsed JSON).

    Understands the OpenAI envelope ``{"error": {message, type, code}}``, Anthropic's
    ``{"type": "error", "error": {type, message}}``, Google's ``{"error": {code, message,
    status}}``, ``{"error": "text"}`` and ``{"message": ..., "code": ...}``; other bodies
    give their text as the message.
    """
    data = body
    if isinstance(body, str | bytes):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text)
        except ValueError:
            return text.strip(), None, None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return str(data), None, None
    inner = data.get("error", data)
    if isinstance(inner, str):
        return inner, _str(data.get("code")), _str(data.get("type"))
    if not isinstance(inner, dict):
        return json.dumps(data), None, None
    message = inner.get("message") or inner.get("detail") or data.get("message") or data.get("detail")
    code = _str(inner.get("code")) or _str(inner.get("status"))
    kind = _str(inner.get("type")) or (None if inner is data else _str(data.get("type")))
    if message is None:
        message = json.dumps(inner)
    return str(message), code, kind


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def parse_retry_after(headers: Mapping[str, str] | None, body: str | None = None) -> float | None:
    """Seconds to wait before retrying, from ``retry-after-ms``, ``Retry-After`` (seconds
    or an HTTP date) or a Google ``retryDelay`` ("3.6s") in the body; ``None`` if absent."""
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        millis = lowered.get("retry-after-ms")
        if millis:
            try:
                return max(0.0, float(millis) / 1000.0)
            except ValueError:
                pass
        value = lowered.get("retry-after")
        if value:
            value = value.strip()
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(value)
                except (TypeError, ValueError):
                    when = None
                if when is not None:
                    return max(0.0, when.timestamp() - time.time())
    if body:
        match = re.search(r'"retryDelay"\s*:\s*"([0-9.]+)(ms|s)"', body)
        if match:
            amount = float(match.group(1))
            return amount / 1000.0 if match.group(2) == "ms" else amount
    return None


def _overflow(text: str) -> bool:
    if any(word in text for word in _RATE_WORDS):
        return False
    return any(marker in text for marker in _OVERFLOW) or bool(_OVERFLOW_RE.search(text))


def _hard_quota(text: str) -> bool:
    return any(marker in text for marker in _HARD_QUOTA) and not any(h in text for h in _QUOTA_RETRY_HINTS)


def _decide(status: int | None, text: str, code: str | None) -> tuple[ProviderFailureKind, bool]:
    K = ProviderFailureKind
    if _overflow(text):
        return K.CONTEXT_OVERFLOW, False
    if status in (401, 403):
        return K.AUTH, False
    if status == 429:
        return (K.QUOTA, False) if _hard_quota(text) else (K.RATE_LIMIT, True)
    if status in (408, 504):
        return K.TIMEOUT, True
    if status is not None and (status in RETRYABLE_STATUSES or status >= 500):
        return K.TRANSPORT, True
    if _hard_quota(text):
        return K.QUOTA, False
    if any(marker in text for marker in _CONTENT_FILTER):
        return K.CONTENT_FILTER, False
    if any(marker in text for marker in _UNSUPPORTED):
        return K.UNSUPPORTED, False
    if status in (400, 413, 422):
        return K.VALIDATION, False
    if status is None and code is not None:
        lowered = code.lower()
        if "rate_limit" in lowered:
            return K.RATE_LIMIT, True
        if lowered in _TRANSIENT_CODES:
            return K.STREAM, True
    return K.UNKNOWN, False


_ADVICE: dict[ProviderFailureKind, str] = {
    ProviderFailureKind.AUTH: "check the API key and that it may use this model",
    ProviderFailureKind.RATE_LIMIT: (
        "lash retries with backoff; if this persists lower the request rate or raise the account's limits"
    ),
    ProviderFailureKind.QUOTA: "the account's quota or credit is used up: add credit or raise the plan, then retry",
    ProviderFailureKind.CONTEXT_OVERFLOW: (
        "the prompt does not fit the model's context window: compact or prune the history, or lower "
        "context_window_tokens in the model spec so lash prunes earlier"
    ),
    ProviderFailureKind.CONTENT_FILTER: "the provider's content filter blocked this; rephrase the input",
    ProviderFailureKind.UNSUPPORTED: (
        "check the model id in the model spec and that the account has access to that model"
    ),
    ProviderFailureKind.VALIDATION: (
        "the request was rejected as invalid and is not retried; check the model spec and provider settings"
    ),
    ProviderFailureKind.TRANSPORT: "lash retries; if it persists check the endpoint and the provider's status",
    ProviderFailureKind.TIMEOUT: "lash retries; if it persists raise the provider's timeouts",
    ProviderFailureKind.STREAM: "lash retries the whole call; if it persists check the endpoint",
    ProviderFailureKind.UNKNOWN: "check base_url and the provider settings",
}


def classify_http_failure(
    status: int,
    body: str,
    *,
    headers: Mapping[str, str] | None = None,
    vendor: str = "the provider",
    auth_hint: str = "",
    redact: Redact = _identity,
) -> ProviderFailure:
    """Classify an HTTP error response (status ≥ 400) into a redacted failure record."""
    message, code, kind_name = error_details(body)
    text = " ".join(filter(None, (code, kind_name, message, body))).lower()
    kind, retryable = _decide(status, text, code)
    advice = auth_hint if kind is ProviderFailureKind.AUTH and auth_hint else _ADVICE[kind]
    summary = redact(f"{vendor} answered HTTP {status}: {message.strip() or '(empty body)'}; {advice}")
    retry_after = parse_retry_after(headers, body) if retryable else None
    return ProviderFailure(
        kind=kind,
        message=summary,
        retryable=retryable,
        status=status,
        code=code or kind_name or kind.value,
        retry_after_seconds=retry_after,
        raw=redact(_clip(body)) if body else None,
    )


def classify_error_object(
    error: Any, *, status: int | None = None, vendor: str = "the provider", redact: Redact = _identity
) -> ProviderFailure:
    """Classify an error object a provider sent inside a stream (no HTTP status)."""
    message, code, kind_name = error_details(error)
    if status is None and code is not None and code.isdigit():
        status = int(code)
    raw = json.dumps(error) if not isinstance(error, str) else error
    text = " ".join(filter(None, (code, kind_name, message))).lower()
    kind, retryable = _decide(status, text, code or kind_name)
    if status is None and not retryable and (kind_name or "").lower() in _TRANSIENT_CODES:
        kind, retryable = ProviderFailureKind.STREAM, True
    return ProviderFailure(
        kind=kind,
        message=redact(f"{vendor} reported an error mid-stream: {message}; {_ADVICE[kind]}"),
        retryable=retryable,
        status=status,
        code=code or kind_name or kind.value,
        raw=redact(_clip(raw)),
    )


def transport_failure(
    message: str, *, timeout: bool = False, code: str | None = None, redact: Redact = _identity
) -> ProviderFailure:
    """A retryable failure of the connection itself (or a timeout)."""
    kind = ProviderFailureKind.TIMEOUT if timeout else ProviderFailureKind.TRANSPORT
    return ProviderFailure(
        kind=kind,
        message=redact(f"{message}; {_ADVICE[kind]}"),
        retryable=True,
        code=code or kind.value,
    )


def stream_failure(
    message: str, *, code: str, retryable: bool = True, redact: Redact = _identity
) -> ProviderFailure:
    """A broken stream: ended before its terminal marker, or carried an unreadable event."""
    return ProviderFailure(
        kind=ProviderFailureKind.STREAM,
        message=redact(f"{message}; {_ADVICE[ProviderFailureKind.STREAM]}"),
        retryable=retryable,
        code=code,
    )
