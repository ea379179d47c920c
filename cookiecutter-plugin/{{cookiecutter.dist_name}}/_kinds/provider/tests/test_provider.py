"""The provider beyond the conformance scenarios: the request body, buffered answers, the key,
the settings, and real turns through a runtime with the HTTP replayed from a wire script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_core.config import structure_settings
from lash_core.errors import ProviderError
from lash_core.model import (
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    TerminalReason,
    TokenUsage,
    ToolSpec,
)
from lash_core.session import collect_into
from lash_core.testing import ScriptedProvider, scripted_runtime
from lash_core.testing.wire import WireExchange, WireScript, WireTransport, load_script

from {{ cookiecutter.package_name }} import {{ cookiecutter.__class_prefix }}Settings, plugin
from {{ cookiecutter.package_name }}.provider import {{ cookiecutter.__class_prefix }}Provider, request_body

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
MODEL = ModelSpec("example-model")


def buffered(answer: dict[str, Any], **request: Any) -> WireScript:
    """A one-exchange script answering a buffered (non-streaming) call with ``answer``."""
    spec = {"method": "POST", "path": "/v1/chat", "body": {"stream": {"equals": False}}, **request}
    return WireScript("buffered", [WireExchange(spec, [{"type": "body", "json": answer}])])


def provider_on(transport: WireTransport, **settings: Any) -> {{ cookiecutter.__class_prefix }}Provider:
    """The provider sending through ``transport`` (the key is a test key unless given)."""
    settings.setdefault("api_key", "test-key")
    client = httpx.AsyncClient(transport=transport)
    return {{ cookiecutter.__class_prefix }}Provider({{ cookiecutter.__class_prefix }}Settings(**settings), client=client)


def message(message_id: str, role: Role, *parts: Part) -> Message:
    """A history message."""
    return Message(message_id, role, parts)


def test_the_request_body_carries_the_conversation() -> None:
    """System prompt, user text, the assistant's tool call with its reasoning replay, the tool
    result, the tools and the generation options, in the API's shape."""
    request = LlmRequest(
        model=MODEL,
        system_prompt="Be brief.",
        messages=(
            message("m1", Role.USER, Part("m1.p0", PartKind.TEXT, "Weather in Paris?")),
            message(
                "m2",
                Role.ASSISTANT,
                Part("m2.p0", PartKind.REASONING, "look it up", reasoning_meta={"signature": "s1"}),
                Part(
                    "m2.p1", PartKind.TOOL_CALL, '{"city": "Paris"}', tool_call_id="c1", tool_name="weather"
                ),
            ),
            message(
                "m3",
                Role.USER,
                Part("m3.p0", PartKind.TOOL_RESULT, "sunny", tool_call_id="c1", tool_name="weather"),
            ),
        ),
        tools=(ToolSpec("weather", "The weather in a city.", {"type": "object", "properties": {}}),),
        max_output_tokens=500,
        reasoning_effort="low",
    )
    body = request_body(request, stream=True, max_output_tokens=200)
    assert body == {
        "model": "example-model",
        "stream": True,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'}],
                "reasoning": [{"signature": "s1"}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [
            {
                "name": "weather",
                "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {}},
            }
        ],
        "tool_choice": "auto",
        "max_tokens": 200,
        "reasoning": {"effort": "low"},
    }


@pytest.mark.anyio
async def test_a_buffered_answer() -> None:
    """Without a stream callback the call is buffered; the answer is read from one JSON body."""
    answer = {
        "id": "resp_1",
        "model": "example-model",
        "output": [{"type": "text", "text": "It is sunny."}],
        "usage": {"prompt_tokens": 12, "cached_tokens": 2, "completion_tokens": 4},
        "finish_reason": "stop",
    }
    transport = WireTransport(buffered(answer))
    provider = provider_on(transport)
    request = LlmRequest(MODEL, "", (message("m1", Role.USER, Part("m1.p0", PartKind.TEXT, "Weather?")),))
    response = await provider.complete(request)
    assert response.text == "It is sunny."
    assert response.terminal_reason is TerminalReason.STOP
    assert response.usage == TokenUsage(input_tokens=10, output_tokens=4, cache_read_input_tokens=2)
    assert (response.response_id, response.model) == ("resp_1", "example-model")
    transport.assert_done()


@pytest.mark.anyio
async def test_the_key_comes_from_the_environment() -> None:
    """``api_key = "$env:NAME"`` reads the variable; the header carries it."""
    transport = WireTransport(buffered({"output": [{"type": "text", "text": "ok"}], "finish_reason": "stop"}))
    settings = {{ cookiecutter.__class_prefix }}Settings(api_key="$env:MY_KEY")
    provider = {{ cookiecutter.__class_prefix }}Provider(
        settings, client=httpx.AsyncClient(transport=transport), environ={"MY_KEY": "k-123"}
    )
    request = LlmRequest(MODEL, "", (message("m1", Role.USER, Part("m1.p0", PartKind.TEXT, "hi")),))
    await provider.complete(request)
    assert transport.requests[0].headers["authorization"] == "Bearer k-123"


@pytest.mark.anyio
async def test_no_key_fails_before_anything_is_sent() -> None:
    """A missing key is an ``auth`` failure naming the variable to set; no request goes out."""
    transport = WireTransport()
    provider = {{ cookiecutter.__class_prefix }}Provider({{ cookiecutter.__class_prefix }}Settings(), client=httpx.AsyncClient(transport=transport), environ={})
    request = LlmRequest(MODEL, "", (message("m1", Role.USER, Part("m1.p0", PartKind.TEXT, "hi")),))
    with pytest.raises(ProviderError) as caught:
        await provider.complete(request)
    failure = caught.value.failure
    assert isinstance(failure, ProviderFailure) and failure.kind is ProviderFailureKind.AUTH
    assert "{{ cookiecutter.__env_prefix }}_API_KEY" in str(caught.value)
    assert transport.requests == []


@pytest.mark.anyio
async def test_a_streamed_turn_through_the_runtime() -> None:
    """A real turn: the runtime calls the provider, which streams the scripted HTTP answer; the
    text arrives as deltas and becomes the turn's answer."""
    transport = WireTransport(load_script(FIXTURES / "text_stream.json"))
    provider = provider_on(transport)
    activities: list[Any] = []
    config = {"model": {"id": "conformance-model"}, "system_prompt": "Be friendly."}
    async with scripted_runtime(provider, config=config) as runtime:
        session = await runtime.session("streamed")
        result = await session.turn("Say hello.", sink=collect_into(activities)).run()
    assert result.assistant_output.raw_text == "Hello, world."
    deltas = [a.event.text for a in activities if a.event.TAG == "assistant_prose_delta"]
    assert "".join(deltas) == "Hello, world."
    assert result.token_usage.input_tokens == 21
    sent = json.loads(transport.requests[0].content)
    assert sent["messages"] == [
        {"role": "system", "content": "Be friendly."},
        {"role": "user", "content": "Say hello."},
    ]


@pytest.mark.anyio
async def test_the_runtime_builds_the_provider_from_its_settings() -> None:
    """``providers.<id> = {type = "{{ cookiecutter.entry_point_name }}", settings = {...}}`` builds this provider."""
    config = {
        "providers": {
            "main": {"type": "{{ cookiecutter.entry_point_name }}", "settings": {"api_key": "k", "base_url": "http://127.0.0.1:9"}}
        }
    }
    async with scripted_runtime(ScriptedProvider(), plugins=[plugin], config=config) as runtime:
        provider = runtime.provider("main")
        assert isinstance(provider, {{ cookiecutter.__class_prefix }}Provider)
        assert provider.settings.base_url == "http://127.0.0.1:9"


def test_settings_are_checked() -> None:
    """Nested settings (retry, timeouts) structure from tables; bad values name their key."""
    settings, problems = structure_settings(
        {
            "base_url": "http://localhost:8080",
            "retry": {"max_attempts": 2},
            "timeouts": {"request_seconds": 30},
        },
        {{ cookiecutter.__class_prefix }}Settings,
        "providers.default.settings",
    )
    assert problems == []
    assert settings.retry.max_attempts == 2 and settings.timeouts.request_seconds == 30
    _, problems = structure_settings({"max_output_tokens": 0}, {{ cookiecutter.__class_prefix }}Settings, "providers.default.settings")
    assert problems and "providers.default.settings" in problems[0]
    assert "test-key" not in repr({{ cookiecutter.__class_prefix }}Settings(api_key="test-key"))
