"""Failures, stream termination, finish reasons, message phases and secrets, over written wire scripts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider, OpenAIResponsesProvider, ResponsesSettings

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmRequest,
    LlmTextPart,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    StreamRetry,
    TerminalReason,
)
from lash_core.providers import RetryPolicy, Timeouts
from lash_core.testing.wire import WireCall, WireExchange, WireScript, check_stream_events, load_script

SCRIPTS = Path(__file__).parent / "fixtures" / "scripts"
KEY = "sk-proj-SENTINEL-0123456789abcdefghij"
K = ProviderFailureKind
REQUEST = LlmRequest(
    model=ModelSpec("gpt-4o"),
    system_prompt="",
    messages=(Message("u1", Role.USER, (Part("u1.p0", PartKind.TEXT, "hi"),)),),
)


class Call(WireCall):
    """Runs one call of the ``api`` ("chat" or "responses") provider over a script and keeps
    events, waits and requests."""

    def __init__(self, api: str) -> None:
        super().__init__(REQUEST, key=KEY, scripts=SCRIPTS / api)
        self.api = api

    def provider(self, settings: dict[str, Any], client: httpx.AsyncClient) -> Any:
        if self.api == "chat":
            return OpenAIChatProvider(ChatSettings(**settings), client=client, sleep=self.sleep)
        return OpenAIResponsesProvider(ResponsesSettings(**settings), client=client, sleep=self.sleep)


def chat_stream(*chunks: dict[str, Any], done: bool = True) -> WireScript:
    """A Chat stream of the given chunk bodies (choices[0] deltas), optionally ending in [DONE]."""
    events: list[dict[str, Any]] = [
        {"type": "status", "status": 200, "headers": {"content-type": "text/event-stream"}}
    ]
    for chunk in chunks:
        events.append({"type": "sse", "data": {"id": "chatcmpl-x", "model": "gpt-4o", **chunk}})
    if done:
        events.append({"type": "sse", "data": "[DONE]"})
    return WireScript("inline", [WireExchange({}, events)])


def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@pytest.mark.anyio
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_stalled_stream_times_out(api: str) -> None:
    """A stream that stops sending for longer than the idle timeout is a retryable timeout."""
    failure = await Call(api).fail(
        "stall", retry=RetryPolicy.disabled(), timeouts=Timeouts(stream_idle_seconds=0.05)
    )
    assert (failure.kind, failure.retryable, failure.code) == (K.TIMEOUT, True, "stream_idle_timeout")


@pytest.mark.anyio
async def test_a_dropped_connection_is_a_retryable_transport_failure() -> None:
    """A connection that breaks mid-stream is retried as a transport failure."""
    failure = await Call("chat").fail("disconnect", retry=RetryPolicy.disabled())
    assert (failure.kind, failure.retryable, failure.code) == (K.TRANSPORT, True, "stream_disconnected")


@pytest.mark.anyio
async def test_responses_failed_mid_stream_is_retried() -> None:
    """``response.failed`` with a server error is retried, then the answer is returned."""
    call = Call("responses")
    response = await call.run("failed_then_success")
    assert response.text == "Hello again." and call.waits == [2.0]


@pytest.mark.anyio
async def test_responses_incomplete_is_an_output_limit() -> None:
    """``response.incomplete`` for max_output_tokens ends as output_limit with the partial text."""
    response = await Call("responses").run("incomplete_max_output_tokens")
    assert response.terminal_reason is TerminalReason.OUTPUT_LIMIT and response.text == "The answer is"
    assert response.provider_finish_reason == "incomplete"


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "buffered"])
async def test_commentary_beside_a_final_answer_is_not_prose(stream: bool) -> None:
    """With a commentary and a final_answer message, only the final answer is the text (and the
    streamed prose); the commentary stays, invisible, with its id and phase for replay."""
    expect = load_script(SCRIPTS / "responses" / "phase_commentary_final_answer.json").expect
    call = Call("responses")
    response = await call.run("phase_commentary_final_answer", stream=stream)
    assert response.text == expect["text"] and response.terminal_reason is TerminalReason.STOP
    assert all(isinstance(p, LlmTextPart) for p in response.parts)
    assert [(p.text, p.response_meta["phase"], p.visible) for p in response.parts] == [
        (expect["commentary"], "commentary", False),
        (expect["text"], "final_answer", True),
    ]
    if stream:
        check_stream_events(response, call.events)


@pytest.mark.anyio
async def test_the_ladder_gives_up_on_persistent_server_errors() -> None:
    """Four 500s exhaust the default ladder; each retry was reported."""
    error = {
        "type": "http_error",
        "status": 500,
        "body": {"error": {"message": "boom", "type": "server_error"}},
    }
    script = WireScript("500s", [WireExchange({}, [error]) for _ in range(4)])
    call = Call("chat")
    failure = await call.fail(script)
    assert failure.kind is K.TRANSPORT and "gave up after 4 attempts" in failure.message
    assert call.waits == [2.0, 4.0, 8.0]
    assert len([e for e in call.events if isinstance(e, StreamRetry)]) == 3


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("length", TerminalReason.OUTPUT_LIMIT),
        ("content_filter", TerminalReason.CONTENT_FILTER),
        ("stop", TerminalReason.STOP),
        ("eos", TerminalReason.STOP),
        ("weird_reason", TerminalReason.UNKNOWN),
    ],
)
async def test_chat_finish_reasons(finish: str, reason: TerminalReason) -> None:
    """Finish reasons map to terminal reasons; the raw value is kept."""
    response = await Call("chat").run(chat_stream(choice({"content": "x"}), choice({}, finish)))
    assert response.terminal_reason is reason and response.provider_finish_reason == finish


@pytest.mark.anyio
async def test_a_refusal_is_a_content_filter() -> None:
    """A non-empty refusal ends as content_filter with the refusal in the diagnostic."""
    response = await Call("chat").run(chat_stream(choice({"refusal": "I can't help"}), choice({}, "stop")))
    assert response.terminal_reason is TerminalReason.CONTENT_FILTER
    assert "I can't help" in (response.terminal_diagnostic or "")


@pytest.mark.anyio
async def test_termination_evidence_is_configurable() -> None:
    """Without [DONE]: ``done`` fails, ``finish_reason`` accepts a finish reason, ``eof`` accepts anything."""
    no_done = chat_stream(choice({"content": "ok"}), choice({}, "stop"), done=False)
    failure = await Call("chat").fail(no_done, retry=RetryPolicy.disabled())
    assert failure.kind is K.STREAM and failure.code == "stream_ended_before_terminal"
    assert (await Call("chat").run(no_done, stream_termination="finish_reason")).text == "ok"
    cut = chat_stream(choice({"content": "partial"}), done=False)
    await Call("chat").fail(cut, retry=RetryPolicy.disabled(), stream_termination="finish_reason")
    assert (await Call("chat").run(cut, stream_termination="eof")).text == "partial"


@pytest.mark.anyio
async def test_an_error_chunk_mid_stream_is_classified() -> None:
    """A Chat ``error`` chunk fails the attempt; a transient one is retried."""
    error = chat_stream(
        choice({"content": "x"}), {"error": {"message": "overloaded", "type": "server_error"}}
    )
    call = Call("chat")
    failure = await call.fail(error, retry=RetryPolicy.disabled())
    assert failure.kind is K.STREAM and failure.retryable


@pytest.mark.anyio
async def test_a_buffered_json_reply_to_a_stream_request_is_parsed() -> None:
    """A server that ignores ``stream: true`` and answers JSON still gives the response."""
    completion = {
        "id": "chatcmpl-1",
        "model": "local",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "plain"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    script = WireScript(
        "json", [WireExchange({}, [{"type": "status", "status": 200}, {"type": "body", "json": completion}])]
    )
    response = await Call("chat").run(script)
    assert response.text == "plain" and response.usage.input_tokens == 3


@pytest.mark.anyio
async def test_the_api_key_never_reaches_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A server echoing the full key in errors: the key is in no exception and no log line."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"temporary failure for key {KEY}", "type": "server_error"}}
    auth = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}
    script = WireScript(
        "echo",
        [
            WireExchange({}, [{"type": "http_error", "status": 503, "body": echo}]),
            WireExchange({}, [{"type": "http_error", "status": 401, "body": auth}]),
        ],
    )
    call = Call("chat")
    failure = await call.fail(script)
    assert failure.kind is K.AUTH
    assert "[REDACTED]" in failure.message and "OPENAI_API_KEY" in failure.message
    retries = [e for e in call.events if isinstance(e, StreamRetry)]
    assert retries and all(KEY not in r.reason for r in retries)
    assert caplog.records and KEY not in caplog.text


@pytest.mark.anyio
async def test_a_missing_key_fails_before_any_request() -> None:
    """Without a key for OpenAI itself the call fails with how to set one; nothing is sent."""
    provider = OpenAIChatProvider(ChatSettings(), environ={})
    with pytest.raises(ProviderError, match=r"set OPENAI_API_KEY or api_key = \"\$env:NAME\"") as caught:
        await provider.complete(REQUEST)
    assert isinstance(caught.value.failure, ProviderFailure) and caught.value.failure.kind is K.AUTH
    router = OpenAIChatProvider(ChatSettings(preset="openrouter"), environ={})
    with pytest.raises(ProviderError, match="OPENROUTER_API_KEY"):
        await router.complete(REQUEST)


@pytest.mark.anyio
async def test_a_local_server_needs_no_key() -> None:
    """With a custom base_url and no key, the request goes out without Authorization."""
    call = Call("chat")
    script = chat_stream(choice({"content": "local"}), choice({}, "stop"))
    response = await call.run(
        script, api_key=None, api_key_env="LASH_TEST_NEVER_SET", base_url="http://localhost:8000/v1"
    )
    assert response.text == "local"
    assert call.transport is not None
    request = call.transport.requests[0]
    assert (
        "authorization" not in request.headers
        and str(request.url) == "http://localhost:8000/v1/chat/completions"
    )


@pytest.mark.anyio
async def test_credential_headers_are_redacted_but_plain_ones_are_not() -> None:
    """Values of credential-like extra headers never reach errors; other header values may."""
    body = {
        "error": {
            "message": "gateway key gw-secret-123 rejected for app lash-demo",
            "code": "invalid_api_key",
        }
    }
    script = WireScript("gw", [WireExchange({}, [{"type": "http_error", "status": 401, "body": body}])])
    failure = await Call("chat").fail(
        script, headers={"x-gateway-key": "gw-secret-123", "X-Title": "lash-demo"}
    )
    assert "gw-secret-123" not in failure.message and "lash-demo" in failure.message
