"""End-to-end: the echo provider is found through its entry point and runs real turns."""

from __future__ import annotations

import pytest

from lash_core import Runtime, tool
from lash_core.session import collect_into
from lash_core.testing import tools_plugin

CONFIG = {
    "model": {"id": "echo-model"},
    "providers": {"default": {"type": "echo"}},
}


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.mark.anyio
async def test_echo_is_discovered_through_its_entry_point() -> None:
    """The runtime finds the echo provider by entry point and lists what it registered."""
    async with Runtime(CONFIG) as runtime:
        report = {entry["name"]: entry for entry in runtime.plugins_report()}
    assert report["echo"]["registered"] == {"providers": ["echo"]}
    assert report["echo"]["distribution"] == "lash-echo"
    assert report["echo"]["hooks"] == ["register_providers"]


@pytest.mark.anyio
async def test_echo_answers_a_text_turn() -> None:
    """A plain turn is echoed back and streamed word by word."""
    activities: list = []
    async with Runtime(CONFIG) as runtime:
        session = await runtime.session("echo-text")
        result = await session.turn("hello there", sink=collect_into(activities)).run()
    assert result.assistant_output.raw_text == "echo: hello there"
    deltas = [a.event.text for a in activities if a.event.TAG == "assistant_prose_delta"]
    assert deltas == ["echo: ", "hello ", "there"]
    assert result.token_usage.output_tokens > 0


@pytest.mark.anyio
async def test_echo_calls_a_tool_on_request() -> None:
    """``/call add {...}`` makes the model call the tool, then report its result."""
    async with Runtime(CONFIG, plugins={"math": tools_plugin(add)}) as runtime:
        session = await runtime.session("echo-tool")
        result = await session.turn('/call add {"a": 2, "b": 5}').run()
    assert [call.tool for call in result.tool_calls] == ["add"]
    assert result.assistant_output.raw_text == "tool add returned: 7"


@pytest.mark.anyio
async def test_echo_prefix_setting_is_structured() -> None:
    """The plugin's settings class is applied to the configured settings."""
    config = {**CONFIG, "providers": {"default": {"type": "echo", "settings": {"prefix": ">> "}}}}
    async with Runtime(config) as runtime:
        session = await runtime.session("echo-prefix")
        result = await session.turn("ping").run()
    assert result.assistant_output.raw_text == ">> ping"
