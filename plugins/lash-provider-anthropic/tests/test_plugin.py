"""The plugin as the runtime sees it: discovery, settings, a real turn over wire scripts."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings

from lash_core import Runtime, tool
from lash_core.converter import structure
from lash_core.errors import ConfigError
from lash_core.providers import RetryPolicy, Timeouts
from lash_core.testing import scripted_runtime
from lash_core.testing.wire import WireExchange, WireScript, WireTransport

KEY = "sk-ant-api03-SENTINEL-plugin-0123456789"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.anyio
async def test_the_provider_is_discovered_through_the_entry_point() -> None:
    """The ``anthropic`` entry point registers the ``anthropic`` provider."""
    config = {
        "model": {"id": "claude-sonnet-4-5"},
        "providers": {"default": {"type": "anthropic", "settings": {"api_key": KEY}}},
    }
    async with Runtime(config) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
    assert report["anthropic"]["registered"] == {"providers": ["anthropic"]}
    assert report["anthropic"]["distribution"] == "lash-provider-anthropic"
    assert KEY not in json.dumps(report, default=str)


def test_settings_are_structured_from_config() -> None:
    """Nested retry and timeout tables, betas, budgets and headers come from plain config data."""
    data = {
        "api_key": "$env:MY_KEY",
        "betas": ["interleaved-thinking-2025-05-14"],
        "headers": {"x-app": "lash"},
        "retry": {"max_attempts": 6, "base_delay_seconds": 1},
        "timeouts": {"stream_idle_seconds": 30},
        "reasoning_dialect": "adaptive",
        "thinking_budgets": {"low": 3000},
        "cache_ttl": "1h",
    }
    settings: AnthropicSettings = structure(data, AnthropicSettings)
    assert settings.retry == RetryPolicy(max_attempts=6, base_delay_seconds=1.0)
    assert settings.timeouts == Timeouts(stream_idle_seconds=30.0)
    assert settings.betas == ("interleaved-thinking-2025-05-14",)
    assert settings.thinking_budgets == {"low": 3000} and settings.cache_ttl == "1h"
    assert settings.resolved_base_url == "https://api.anthropic.com"


@pytest.mark.anyio
async def test_bad_settings_name_the_key() -> None:
    """An unknown cache ttl is a configuration error naming the setting and the choices."""
    config = {
        "model": {"id": "claude-sonnet-4-5"},
        "providers": {"default": {"type": "anthropic", "settings": {"cache_ttl": "1d"}}},
    }
    with pytest.raises(ConfigError, match="cache_ttl"):
        async with Runtime(config) as runtime:
            session = await runtime.session("bad-settings")
            await session.turn("hi").run()


def _stream(*events: dict[str, Any]) -> list[dict[str, Any]]:
    head = {"id": "msg_turn", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5"}
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    start = {"type": "message_start", "message": {**head, "content": [], "usage": usage}}
    timeline: list[dict[str, Any]] = [
        {"type": "status", "status": 200, "headers": {"content-type": "text/event-stream"}}
    ]
    for data in (start, *events, {"type": "message_stop"}):
        timeline.append({"type": "sse", "event": data["type"], "data": data})
    return timeline


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _finish(reason: str) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": 10}}


@pytest.mark.anyio
async def test_a_turn_with_thinking_and_a_tool_call_runs_over_wire_scripts() -> None:
    """A real turn: the model thinks, calls ``add`` (arguments split), gets the result (with its
    thinking replayed, signature intact), then answers."""
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    call = {"type": "tool_use", "id": "toolu_add_1", "name": "add", "input": {}}
    first = _stream(
        {"type": "content_block_start", "index": 0, "content_block": thinking},
        _delta(0, {"type": "thinking_delta", "thinking": "I should add."}),
        _delta(0, {"type": "signature_delta", "signature": "c2lnbmF0dXJl"}),
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": call},
        _delta(1, {"type": "input_json_delta", "partial_json": '{"a": 2,'}),
        _delta(1, {"type": "input_json_delta", "partial_json": ' "b": 5}'}),
        {"type": "content_block_stop", "index": 1},
        _finish("tool_use"),
    )
    second = _stream(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        _delta(0, {"type": "text_delta", "text": "2 + 5 = "}),
        _delta(0, {"type": "text_delta", "text": "7"}),
        {"type": "content_block_stop", "index": 0},
        _finish("end_turn"),
    )
    transport = WireTransport(
        WireScript(
            "turn",
            [
                WireExchange({"path": "/v1/messages", "body": {"tools": {"min_len": 1}}}, first),
                WireExchange({"path": "/v1/messages", "body": {"messages": {"min_len": 3}}}, second),
            ],
        )
    )
    model = {"id": "claude-sonnet-4-5", "reasoning_effort": "low", "output_token_capacity": 8192}
    async with httpx.AsyncClient(transport=transport) as client:
        provider = AnthropicProvider(AnthropicSettings(api_key=KEY), client=client)
        async with scripted_runtime(provider, tools=[add], config={"model": model}) as runtime:
            session = await runtime.session("anthropic-turn")
            result = await session.turn("what is 2 + 5?").run()
    transport.assert_done()
    assert result.assistant_output.raw_text == "2 + 5 = 7"
    assert [c.tool for c in result.tool_calls] == ["add"]
    assert result.token_usage.input_tokens == 100
    first_body, follow_up = transport.bodies[0], transport.bodies[1]
    assert first_body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first_body["max_tokens"] == 8192
    assert follow_up["messages"][-2]["content"] == [
        {"type": "thinking", "thinking": "I should add.", "signature": "c2lnbmF0dXJl"},
        {"type": "tool_use", "id": "toolu_add_1", "name": "add", "input": {"a": 2, "b": 5}},
    ]
    result_block = follow_up["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result" and result_block["tool_use_id"] == "toolu_add_1"
    assert "7" in result_block["content"]


@pytest.mark.anyio
async def test_aclose_closes_only_what_the_provider_opened() -> None:
    """An injected client stays open after ``aclose``; a client the provider made is closed."""
    async with httpx.AsyncClient(transport=WireTransport()) as injected:
        provider = AnthropicProvider(AnthropicSettings(api_key=KEY), client=injected)
        await provider.aclose()
        assert not injected.is_closed
    own = AnthropicProvider(AnthropicSettings(api_key=KEY))
    client = own.http.client
    await own.aclose()
    assert client.is_closed
