"""Classifying provider failures: status, context overflow, quotas, filters, Retry-After, redaction."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from lash_core.model import ProviderFailureKind
from lash_core.providers import (
    REDACTED,
    Redactor,
    classify_error_object,
    classify_http_failure,
    error_details,
    parse_retry_after,
    resolve_api_key,
    stream_failure,
    transport_failure,
)

K = ProviderFailureKind


def _body(message: str, code: str | None = None, kind: str = "invalid_request_error") -> str:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (401, K.AUTH, False),
        (403, K.AUTH, False),
        (400, K.VALIDATION, False),
        (413, K.VALIDATION, False),
        (422, K.VALIDATION, False),
        (429, K.RATE_LIMIT, True),
        (408, K.TIMEOUT, True),
        (504, K.TIMEOUT, True),
        (409, K.TRANSPORT, True),
        (425, K.TRANSPORT, True),
        (500, K.TRANSPORT, True),
        (502, K.TRANSPORT, True),
        (503, K.TRANSPORT, True),
        (529, K.TRANSPORT, True),
        (405, K.UNKNOWN, False),
    ],
)
def test_status_decides_kind_and_retryability(
    status: int, kind: ProviderFailureKind, retryable: bool
) -> None:
    """Each HTTP status maps to its kind; 408/409/425/429/5xx are retried."""
    failure = classify_http_failure(status, _body("something went wrong"))
    assert (failure.kind, failure.retryable, failure.status) == (kind, retryable, status)


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "Your input exceeds the context window of this model.",
    ],
)
def test_context_overflow_is_never_retried(message: str) -> None:
    """Context-overflow wording is a non-retryable context_overflow whatever the 4xx status."""
    for status in (400, 413):
        failure = classify_http_failure(status, _body(message))
        assert failure.kind is K.CONTEXT_OVERFLOW and not failure.retryable


def test_overflow_code_alone_is_enough() -> None:
    """The ``context_length_exceeded`` code marks an overflow and is kept as the failure code."""
    failure = classify_http_failure(400, _body("too big", "context_length_exceeded"))
    assert failure.kind is K.CONTEXT_OVERFLOW and failure.code == "context_length_exceeded"


def test_a_tokens_per_minute_limit_is_a_rate_limit_not_an_overflow() -> None:
    """Rate-limit wording about tokens keeps a 429 a retryable rate limit."""
    message = "Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 45000."
    failure = classify_http_failure(429, _body(message, "rate_limit_exceeded", "tokens"))
    assert failure.kind is K.RATE_LIMIT and failure.retryable


@pytest.mark.parametrize(
    "body",
    [
        _body(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
        ),
        _body("Your credit balance is too low to access the API."),
    ],
)
def test_a_hard_quota_is_not_retried(body: str) -> None:
    """Exhausted quotas and credit are ``quota`` failures, never retried."""
    failure = classify_http_failure(429, body)
    assert failure.kind is K.QUOTA and not failure.retryable


def test_a_per_minute_quota_message_stays_retryable() -> None:
    """Quota wording with a retry hint (per-minute limits) is a retryable rate limit."""
    body = _body("You exceeded your current quota for requests per minute; retry in 20s.")
    failure = classify_http_failure(429, body, headers={"retry-after": "20"})
    assert failure.kind is K.RATE_LIMIT and failure.retryable and failure.retry_after_seconds == 20.0


def test_content_filter_and_unknown_models() -> None:
    """Content-filter codes and unknown models get their own non-retryable kinds."""
    blocked = classify_http_failure(400, _body("blocked", "content_filter"))
    assert blocked.kind is K.CONTENT_FILTER and not blocked.retryable
    missing = classify_http_failure(404, _body("The model `gpt-9` does not exist", "model_not_found"))
    assert missing.kind is K.UNSUPPORTED and not missing.retryable


def test_messages_say_what_to_do() -> None:
    """Messages carry the vendor, the status, the vendor's text and advice; auth uses the hint."""
    failure = classify_http_failure(
        401, _body("Incorrect API key provided"), vendor="OpenAI", auth_hint="set OPENAI_API_KEY"
    )
    assert failure.message == "OpenAI answered HTTP 401: Incorrect API key provided; set OPENAI_API_KEY"
    overflow = classify_http_failure(400, _body("maximum context length exceeded"))
    assert "compact or prune the history" in overflow.message


def test_retry_after_comes_from_the_headers() -> None:
    """Retry-After (seconds or a date) and retry-after-ms are understood; absent means None."""
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"retry-after": date}) or 0) <= 31
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_google_retry_delay_in_the_body_counts() -> None:
    """A Google ``retryDelay`` anywhere in the body is a retry-after."""
    assert parse_retry_after(None, '{"details": [{"retryDelay": "3.6s"}]}') == 3.6
    assert parse_retry_after(None, '{"retryDelay": "250ms"}') == 0.25


def test_retry_after_is_attached_only_to_retryable_failures() -> None:
    """A 429 carries its Retry-After; a 400 does not."""
    assert classify_http_failure(429, "{}", headers={"retry-after": "4"}).retry_after_seconds == 4.0
    assert classify_http_failure(400, "{}", headers={"retry-after": "4"}).retry_after_seconds is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            _body("bad thing", "bad_code", "invalid_request_error"),
            ("bad thing", "bad_code", "invalid_request_error"),
        ),
        (
            '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            ("Overloaded", None, "overloaded_error"),
        ),
        (
            '{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}',
            ("Quota", "429", None),
        ),
        ('{"error": "model not loaded"}', ("model not loaded", None, None)),
        ("<html>Bad Gateway</html>", ("<html>Bad Gateway</html>", None, None)),
    ],
)
def test_error_details_read_the_common_envelopes(
    body: str, expected: tuple[str, str | None, str | None]
) -> None:
    """OpenAI, Anthropic, Google, plain-string and non-JSON error bodies give message, code and type."""
    assert error_details(body) == expected


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"code": "server_error", "message": "An error occurred"}, K.STREAM, True),
        ({"type": "overloaded_error", "message": "Overloaded"}, K.STREAM, True),
        ({"code": "rate_limit_exceeded", "message": "slow down"}, K.RATE_LIMIT, True),
        ({"code": "503", "message": "unavailable"}, K.TRANSPORT, True),
        ({"code": "context_length_exceeded", "message": "too long"}, K.CONTEXT_OVERFLOW, False),
        ({"code": "invalid_prompt", "message": "nope"}, K.UNKNOWN, False),
    ],
)
def test_mid_stream_errors(error: dict[str, str], kind: ProviderFailureKind, retryable: bool) -> None:
    """Error objects inside a stream are retried when 429/5xx or transient by code or type."""
    failure = classify_error_object(error)
    assert (failure.kind, failure.retryable) == (kind, retryable)


def test_transport_and_stream_failures_are_retryable() -> None:
    """Connection failures, timeouts and broken streams are retried."""
    assert transport_failure("refused").kind is K.TRANSPORT
    assert transport_failure("slow", timeout=True).kind is K.TIMEOUT
    broken = stream_failure("cut", code="stream_ended_before_terminal")
    assert broken.kind is K.STREAM and broken.retryable and broken.code == "stream_ended_before_terminal"


def test_secrets_are_redacted_from_message_and_raw() -> None:
    """A key echoed by the server never reaches the failure's message or raw body."""
    key = "sk-proj-SENTINEL1234567890abcdef"
    failure = classify_http_failure(401, _body(f"Bad key {key}"), redact=Redactor([key]))
    assert key not in failure.message and key not in (failure.raw or "")
    assert REDACTED in failure.message


def test_the_redactor_catches_credential_shapes() -> None:
    """Bearer tokens and sk- keys are redacted even when not registered."""
    redact = Redactor()
    assert redact("Authorization: Bearer abcdefghijklmnop") == f"Authorization: Bearer {REDACTED}"
    assert redact("key sk-ant-api03-abcdefghijklmnopqrstuv end") == f"key {REDACTED} end"
    assert redact("short sk-1") == "short sk-1"


def test_resolve_api_key() -> None:
    """Plain keys, ``$env:NAME`` and the vendor's variable are read; empty means unset."""
    env = {"OPENAI_API_KEY": "from-env", "CUSTOM": "custom"}
    assert resolve_api_key("plain", "OPENAI_API_KEY", environ=env) == "plain"
    assert resolve_api_key("$env:CUSTOM", "OPENAI_API_KEY", environ=env) == "custom"
    assert resolve_api_key(None, "OPENAI_API_KEY", environ=env) == "from-env"
    assert resolve_api_key("", "MISSING", environ=env) is None
    assert resolve_api_key("$env:MISSING", None, environ=env) is None
