"""Failures, stream termination, stop reasons and secrets, over written wire scripts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmReasoningPart,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    StreamAttemptReset,
    StreamReasoningDelta,
    StreamRetry,
    StreamTextDelta,
    TerminalReason,
)
from lash_core.providers import RetryPolicy, Timeouts
from lash_core.testing.wire import WireCall, WireExchange, WireScript, WireTransport

SCRIPTS = Path(__file__).parent / "fixtures" / "scripts"
KEY = "sk-ant-api03-SENTINEL-0123456789abcdefghij"
K = ProviderFailureKind
REQUEST = LlmRequest(
    model=ModelSpec("claude-sonnet-4-5"),
    system_prompt="",
    messages=(Message("u1", Role.USER, (Part("u1.p0", PartKind.TEXT, "hi"),)),),
)


class Call(WireCall):
    """Runs one Anthropic call over a script and keeps events, waits and requests."""

    def __init__(self) -> None:
        super().__init__(REQUEST, key=KEY, scripts=SCRIPTS)

    def provider(self, settings: dict[str, Any], client: httpx.AsyncClient) -> AnthropicProvider:
        return AnthropicProvider(AnthropicSettings(**settings), client=client, sleep=self.sleep)


def stream(*events: dict[str, Any], stop: bool = True) -> WireScript:
    """A Messages stream of the given event objects (``event:`` names from their type)."""
    head = {"id": "msg_inline", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    start = {"type": "message_start", "message": {**head, "content": [], "usage": {"input_tokens": 9}}}
    timeline: list[dict[str, Any]] = [
        {"type": "status", "status": 200, "headers": {"content-type": "text/event-stream"}}
    ]
    for data in (start, *events, *([{"type": "message_stop"}] if stop else [])):
        timeline.append({"type": "sse", "event": data["type"], "data": data})
    return WireScript("inline", [WireExchange({}, timeline)])


def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": content}


def done(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def finish(reason: str | None, output: int = 5) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": output}}


def text(value: str, reason: str | None = "end_turn") -> WireScript:
    return stream(
        block(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": value}),
        done(0),
        finish(reason),
    )


@pytest.mark.anyio
async def test_a_stalled_stream_times_out() -> None:
    """A stream that stops sending for longer than the idle timeout is a retryable timeout."""
    failure = await Call().fail(
        "stall", retry=RetryPolicy.disabled(), timeouts=Timeouts(stream_idle_seconds=0.05)
    )
    assert (failure.kind, failure.retryable, failure.code) == (K.TIMEOUT, True, "stream_idle_timeout")


@pytest.mark.anyio
async def test_a_dropped_connection_is_a_retryable_transport_failure() -> None:
    """A connection that breaks mid-stream is retried as a transport failure."""
    failure = await Call().fail("disconnect", retry=RetryPolicy.disabled())
    assert (failure.kind, failure.retryable, failure.code) == (K.TRANSPORT, True, "stream_disconnected")


@pytest.mark.anyio
async def test_a_stream_without_message_stop_is_a_retryable_stream_failure() -> None:
    """Without ``message_stop`` the partial answer is never returned, even after message_delta."""
    cut = stream(
        block(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "partial"}),
        done(0),
        finish("end_turn"),
        stop=False,
    )
    failure = await Call().fail(cut, retry=RetryPolicy.disabled())
    assert (failure.kind, failure.retryable, failure.code) == (
        K.STREAM,
        True,
        "stream_ended_before_message_stop",
    )


@pytest.mark.anyio
async def test_an_error_event_mid_stream_is_retried() -> None:
    """``event: error`` with overloaded_error after text was streamed: the attempt is reset and retried."""
    call = Call()
    response = await call.run("stream_error_then_success")
    assert response.text == "Hello again." and call.waits == [2.0]
    kinds = [type(e) for e in call.events]
    retry_at = kinds.index(StreamRetry)
    assert kinds[retry_at - 1] is StreamAttemptReset
    assert "".join(e.text for e in call.events[retry_at:] if isinstance(e, StreamTextDelta)) == "Hello again."


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, K.STREAM, True),
        ({"type": "api_error", "message": "Internal server error"}, K.STREAM, True),
        ({"type": "rate_limit_error", "message": "Rate limited"}, K.RATE_LIMIT, True),
        (
            {
                "type": "invalid_request_error",
                "message": "prompt is too long: 200251 tokens > 200000 maximum",
            },
            K.CONTEXT_OVERFLOW,
            False,
        ),
    ],
)
async def test_error_events_are_classified(
    error: dict[str, Any], kind: ProviderFailureKind, retryable: bool
) -> None:
    """Error events inside the stream are classified by their type and message."""
    script = stream(block(0, {"type": "text", "text": ""}), {"type": "error", "error": error}, stop=False)
    failure = await Call().fail(script, retry=RetryPolicy.disabled())
    assert (failure.kind, failure.retryable, failure.code) == (kind, retryable, error["type"])
    assert error["message"] in failure.message


@pytest.mark.anyio
async def test_the_ladder_gives_up_on_persistent_overload() -> None:
    """Four 529s exhaust the default ladder; each retry was reported."""
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    script = WireScript(
        "529s", [WireExchange({}, [{"type": "http_error", "status": 529, "body": body}]) for _ in range(4)]
    )
    call = Call()
    failure = await call.fail(script)
    assert (
        failure.kind is K.TRANSPORT
        and failure.status == 529
        and "gave up after 4 attempts" in failure.message
    )
    assert call.waits == [2.0, 4.0, 8.0]
    assert len([e for e in call.events if isinstance(e, StreamRetry)]) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("stop_reason", "reason"),
    [
        ("end_turn", TerminalReason.STOP),
        ("stop_sequence", TerminalReason.STOP),
        ("pause_turn", TerminalReason.STOP),
        ("max_tokens", TerminalReason.OUTPUT_LIMIT),
        ("refusal", TerminalReason.CONTENT_FILTER),
        ("model_context_window_exceeded", TerminalReason.CONTEXT_OVERFLOW),
        ("something_new", TerminalReason.UNKNOWN),
        (None, TerminalReason.UNKNOWN),
    ],
)
async def test_stop_reasons(stop_reason: str | None, reason: TerminalReason) -> None:
    """Stop reasons map to terminal reasons; the raw value is kept."""
    response = await Call().run(text("x", stop_reason))
    assert response.terminal_reason is reason and response.provider_finish_reason == stop_reason
    if reason in (TerminalReason.CONTENT_FILTER, TerminalReason.UNKNOWN, TerminalReason.CONTEXT_OVERFLOW):
        assert response.terminal_diagnostic


@pytest.mark.anyio
async def test_redacted_thinking_is_kept_for_replay() -> None:
    """A redacted_thinking block becomes a reasoning part with no text and its data as replay state."""
    script = stream(
        block(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}),
        done(0),
        block(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "ok"}),
        done(1),
        finish("end_turn"),
    )
    response = await Call().run(script)
    assert response.parts[0] == LlmReasoningPart(
        "", {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    )
    assert response.text == "ok"


@pytest.mark.anyio
async def test_hidden_reasoning_is_kept_but_not_streamed() -> None:
    """With expose_reasoning off, thinking is assembled (for replay) but no reasoning delta is reported."""
    script = stream(
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "let me think"}),
        delta(0, {"type": "signature_delta", "signature": "sig=="}),
        done(0),
        finish("end_turn"),
    )
    call = Call()
    response = await call.run(script, expose_reasoning=False)
    assert response.parts == (LlmReasoningPart("let me think", {"type": "thinking", "signature": "sig=="}),)
    assert not [e for e in call.events if isinstance(e, StreamReasoningDelta)]


@pytest.mark.anyio
async def test_tool_input_without_deltas_and_unknown_blocks() -> None:
    """A tool_use block whose input arrives whole (no deltas) keeps it; server-tool blocks are skipped."""
    script = stream(
        block(0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"query": "x"}'}),
        done(0),
        block(1, {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1, "b": 2}}),
        done(1),
        finish("tool_use"),
    )
    response = await Call().run(script)
    assert [(c.call_id, c.name, c.arguments) for c in response.tool_calls] == [
        ("toolu_1", "add", '{"a": 1, "b": 2}')
    ]
    assert response.terminal_reason is TerminalReason.TOOL_USE


@pytest.mark.anyio
async def test_a_buffered_json_reply_to_a_stream_request_is_parsed() -> None:
    """A gateway that ignores ``stream: true`` and answers one message object still gives the response."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "plain"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    script = WireScript(
        "json", [WireExchange({}, [{"type": "status", "status": 200}, {"type": "body", "json": message}])]
    )
    response = await Call().run(script)
    assert response.text == "plain" and response.usage.input_tokens == 3 and response.usage.output_tokens == 1


@pytest.mark.anyio
async def test_the_api_key_never_reaches_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A server echoing the full key in errors: the key is in no exception, retry reason or log line."""
    caplog.set_level(logging.DEBUG)
    overloaded = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": f"Overloaded for key {KEY}"},
    }
    auth = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {KEY}"}}
    script = WireScript(
        "echo",
        [
            WireExchange({}, [{"type": "http_error", "status": 529, "body": overloaded}]),
            WireExchange({}, [{"type": "http_error", "status": 401, "body": auth}]),
        ],
    )
    call = Call()
    failure = await call.fail(script)
    assert failure.kind is K.AUTH
    assert "[REDACTED]" in failure.message and "ANTHROPIC_API_KEY" in failure.message
    retries = [e for e in call.events if isinstance(e, StreamRetry)]
    assert retries and all(KEY not in r.reason for r in retries)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in repr(AnthropicSettings(api_key=KEY)) and KEY not in repr(
        AnthropicProvider(AnthropicSettings(api_key=KEY))
    )


@pytest.mark.anyio
async def test_the_key_is_read_from_the_environment_and_sent_as_x_api_key() -> None:
    """Without ``api_key`` the provider reads ANTHROPIC_API_KEY; it goes out as ``x-api-key`` only."""
    transport = WireTransport(text("ok"))
    async with httpx.AsyncClient(transport=transport) as client:
        provider = AnthropicProvider(client=client, environ={"ANTHROPIC_API_KEY": KEY})
        assert (await provider.complete(REQUEST)).text == "ok"
    request = transport.requests[0]
    assert request.headers["x-api-key"] == KEY and "authorization" not in request.headers
    assert str(request.url) == "https://api.anthropic.com/v1/messages"


@pytest.mark.anyio
async def test_a_missing_key_fails_before_any_request() -> None:
    """Without a key for Anthropic itself the call fails with how to set one; nothing is sent."""
    provider = AnthropicProvider(AnthropicSettings(), environ={})
    with pytest.raises(ProviderError, match=r"set ANTHROPIC_API_KEY or api_key = \"\$env:NAME\"") as caught:
        await provider.complete(REQUEST)
    assert isinstance(caught.value.failure, ProviderFailure) and caught.value.failure.kind is K.AUTH


@pytest.mark.anyio
async def test_a_gateway_needs_no_key_and_gets_betas() -> None:
    """With a custom base_url and no key the request goes out without x-api-key; betas are joined."""
    call = Call()
    response = await call.run(
        text("via gateway"),
        api_key=None,
        api_key_env="LASH_TEST_NEVER_SET",
        base_url="http://localhost:4000",
        betas=("interleaved-thinking-2025-05-14", "context-1m-2025-08-07"),
    )
    assert response.text == "via gateway"
    assert call.transport is not None
    request = call.transport.requests[0]
    assert "x-api-key" not in request.headers and str(request.url) == "http://localhost:4000/v1/messages"
    assert request.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,context-1m-2025-08-07"


@pytest.mark.anyio
async def test_credential_headers_are_redacted_but_plain_ones_are_not() -> None:
    """Values of credential-like extra headers never reach errors; other header values may."""
    body = {
        "type": "error",
        "error": {"type": "permission_error", "message": "gateway token gw-secret-123 for app lash-demo"},
    }
    script = WireScript("gw", [WireExchange({}, [{"type": "http_error", "status": 403, "body": body}])])
    failure = await Call().fail(script, headers={"x-gateway-token": "gw-secret-123", "x-app": "lash-demo"})
    assert failure.kind is K.AUTH
    assert "gw-secret-123" not in failure.message and "lash-demo" in failure.message
