"""The plugin as the runtime sees it: discovery, settings, a real turn over wire scripts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider, ResponsesSettings

from lash_core import Runtime, tool
from lash_core.converter import structure
from lash_core.errors import ConfigError
from lash_core.providers import RetryPolicy, Timeouts
from lash_core.testing import scripted_runtime
from lash_core.testing.wire import WireExchange, WireScript, WireTransport

KEY = "sk-proj-SENTINEL-plugin-0123456789"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.anyio
async def test_both_providers_are_discovered_through_the_entry_point() -> None:
    """The ``openai`` entry point registers ``openai`` and ``openai-responses``."""
    config = {
        "model": {"id": "gpt-4o"},
        "providers": {"default": {"type": "openai", "settings": {"api_key": KEY}}},
    }
    async with Runtime(config) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
    assert report["openai"]["registered"] == {"providers": ["openai", "openai-responses"]}
    assert report["openai"]["distribution"] == "lash-provider-openai"
    assert KEY not in json.dumps(report, default=str)


def test_settings_are_structured_from_config() -> None:
    """Nested retry and timeout tables, headers and presets come from plain config data."""
    data = {
        "api_key": "$env:MY_KEY",
        "preset": "openrouter",
        "headers": {"X-Title": "lash"},
        "retry": {"max_attempts": 6, "base_delay_seconds": 1},
        "timeouts": {"stream_idle_seconds": 30},
        "stream_termination": "finish_reason",
    }
    settings = structure(data, ChatSettings)
    assert settings.retry == RetryPolicy(max_attempts=6, base_delay_seconds=1.0)
    assert settings.timeouts == Timeouts(stream_idle_seconds=30.0)
    assert settings.resolved_base_url == "https://openrouter.ai/api/v1"
    responses = structure({"store": True, "reasoning_summary": "detailed"}, ResponsesSettings)
    assert responses.store and responses.reasoning_summary == "detailed"


@pytest.mark.anyio
async def test_bad_settings_name_the_key() -> None:
    """An unknown preset is a configuration error naming the setting and the choices."""
    config = {
        "model": {"id": "gpt-4o"},
        "providers": {"default": {"type": "openai", "settings": {"preset": "azure"}}},
    }
    with pytest.raises(ConfigError, match="preset"):
        async with Runtime(config) as runtime:
            session = await runtime.session("bad-settings")
            await session.turn("hi").run()


def test_the_key_is_not_in_reprs() -> None:
    """Neither the settings nor the provider show the key."""
    settings = ChatSettings(api_key=KEY, headers={"x-secret": "s3cret-value"})
    assert KEY not in repr(settings) and "s3cret-value" not in repr(settings)
    assert KEY not in repr(OpenAIChatProvider(settings))


def _sse(*chunks: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "status", "status": 200, "headers": {"content-type": "text/event-stream"}}
    ]
    events += [{"type": "sse", "data": {"id": "chatcmpl-t", "model": "gpt-4o", **c}} for c in chunks]
    return [*events, {"type": "sse", "data": "[DONE]"}]


def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 10}}


@pytest.mark.anyio
async def test_a_turn_with_a_tool_call_runs_over_wire_scripts() -> None:
    """A real turn: the model calls ``add`` (arguments split), gets the result, then answers."""
    call = {"index": 0, "id": "call_add_1", "type": "function", "function": {"name": "add", "arguments": ""}}
    first = _sse(
        _delta({"role": "assistant", "content": None, "tool_calls": [call]}),
        _delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 2,'}}]}),
        _delta({"tool_calls": [{"index": 0, "function": {"arguments": ' "b": 5}'}}]}),
        _delta({}, "tool_calls"),
        USAGE,
    )
    second = _sse(_delta({"content": "2 + 5 = "}), _delta({"content": "7"}), _delta({}, "stop"), USAGE)
    transport = WireTransport(
        WireScript(
            "turn",
            [
                WireExchange({"path": "/v1/chat/completions", "body": {"tools": {"min_len": 1}}}, first),
                WireExchange({"path": "/v1/chat/completions", "body": {"messages": {"min_len": 3}}}, second),
            ],
        )
    )
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenAIChatProvider(ChatSettings(api_key=KEY), client=client)
        async with scripted_runtime(provider, tools=[add], config={"model": {"id": "gpt-4o"}}) as runtime:
            session = await runtime.session("openai-turn")
            result = await session.turn("what is 2 + 5?").run()
    transport.assert_done()
    assert result.assistant_output.raw_text == "2 + 5 = 7"
    assert [c.tool for c in result.tool_calls] == ["add"]
    assert result.token_usage.input_tokens == 100
    follow_up = transport.bodies[1]["messages"]
    assert follow_up[-2]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 5}'}
    assert follow_up[-1]["role"] == "tool" and follow_up[-1]["tool_call_id"] == "call_add_1"
    assert "7" in follow_up[-1]["content"]


@pytest.mark.anyio
async def test_aclose_closes_only_what_the_provider_opened() -> None:
    """An injected client stays open after ``aclose``; a client the provider made is closed."""
    async with httpx.AsyncClient(transport=WireTransport()) as injected:
        provider = OpenAIChatProvider(ChatSettings(api_key=KEY), client=injected)
        await provider.aclose()
        assert not injected.is_closed
    own = OpenAIChatProvider(ChatSettings(api_key=KEY))
    client = own.http.client
    await own.aclose()
    assert client.is_closed
