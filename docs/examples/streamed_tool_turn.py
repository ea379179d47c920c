"""Compose a runtime from installed plugins, run a streamed tool turn, print what happens.

Run it with ``.venv/bin/python docs/examples/streamed_tool_turn.py``. It uses the offline
``echo`` provider (plugin ``lash-echo``), the ``standard`` protocol and the in-memory
store, all found through the ``lash`` entry-point group; the tool is registered by a
plugin object passed in code.
"""

from __future__ import annotations

import json

import anyio

from lash_core import Runtime, hookimpl, tool
from lash_core.converter import unstructure


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


class MathTools:
    """A plugin registering one tool."""

    @hookimpl
    def register_tools(self, register):  # type: ignore[no-untyped-def]
        register(add)


CONFIG = {
    "model": {"id": "echo-1", "context_window_tokens": 8192},
    "providers": {"default": {"type": "echo"}},
    "store": {"type": "memory"},
    "system_prompt": "You are a careful calculator.",
}


async def main() -> None:
    async with Runtime.from_config(CONFIG, plugins={"math": MathTools()}) as runtime:
        session = await runtime.session("example")
        stream = session.turn('/call add {"a": 20, "b": 22}').stream()
        async for activity in stream:
            print("activity", json.dumps(unstructure(activity)))
        result = stream.result
        assert result is not None
        print("outcome", json.dumps(unstructure(result.outcome)))
        print("answer", result.assistant_output.safe_text)
        print("usage", json.dumps(unstructure(session.usage_report().usage)))


if __name__ == "__main__":
    anyio.run(main)
