"""Ready-made turns for tests of effects, journals, crashes and replay.

:class:`WeatherTurn` is the crash-and-replay scenario: asked :data:`INPUT`, the model calls
two tools in one round (``weather`` and ``population`` of a city), then a second model call
answers :data:`ANSWER` from their results. Every instance has a fresh provider and fresh
tools that count their calls, so a test can tell what really ran and what was replayed::

    scenario = WeatherTurn()
    async with scenario.runtime(recording_host_plugin(host), config=config) as rt:
        await (await rt.session("s1")).turn(INPUT, turn_id="t1").run()
    assert scenario.model_calls == 2 and scenario.tool_calls == Counter(weather=1, population=1)

Its effects as turn ``t1`` of session ``s1``, in replay-key order: :data:`LLM_1`,
:data:`TOOL_2`, :data:`TOOL_3`, :data:`CHECKPOINT_4`, :data:`LLM_5`, :data:`CHECKPOINT_6`.
An inline-tier controller skips the checkpoints when no input arrived
(:data:`INLINE_KEYS`); a durable one journals them too (:data:`DURABLE_KEYS`).
:func:`stored_commit_hash` computes the commit hash of a turn from what a store holds, to
compare a replayed turn's commit with an uninterrupted one's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from lash_core.model import LlmRequest, LlmResponse, PartKind
from lash_core.runtime import Runtime
from lash_core.store import SessionStore, turn_commit_hash
from lash_core.testing.providers import FunctionProvider, call, reply_tool_calls
from lash_core.testing.runtime import scripted_runtime
from lash_core.tools import tool

__all__ = [
    "ANSWER",
    "CHECKPOINT_4",
    "CHECKPOINT_6",
    "DURABLE_KEYS",
    "INLINE_KEYS",
    "INPUT",
    "LLM_1",
    "LLM_5",
    "TOOL_2",
    "TOOL_3",
    "WeatherTurn",
    "stored_commit_hash",
]

INPUT = "What is the weather and population of Paris?"
"""What the user asks."""
ANSWER = "sunny in Paris; 2100000 people"
"""The final answer (for the default city)."""

LLM_1 = "s1:t1:llm_call:1"
TOOL_2 = "s1:t1:tool_attempt:2"
TOOL_3 = "s1:t1:tool_attempt:3"
CHECKPOINT_4 = "s1:t1:checkpoint:4"
LLM_5 = "s1:t1:llm_call:5"
CHECKPOINT_6 = "s1:t1:checkpoint:6"
INLINE_KEYS = (LLM_1, TOOL_2, TOOL_3, LLM_5)
"""The replay keys an inline-tier host journals (no checkpoints)."""
DURABLE_KEYS = (LLM_1, TOOL_2, TOOL_3, CHECKPOINT_4, LLM_5, CHECKPOINT_6)
"""The replay keys a durable host journals."""


class WeatherTurn:
    """A fresh provider and fresh tools for one runtime; each counts its calls (see the
    module docs).

    ``city`` is what the model asks the tools about. ``on_model_call(n)``, when given, runs
    before the ``n``-th model call answers (e.g. to kill the process in the second one).
    """

    def __init__(self, city: str = "Paris", *, on_model_call: Callable[[int], None] | None = None) -> None:
        self.city = city
        self.on_model_call = on_model_call
        self.tool_calls: Counter[str] = Counter()
        counts = self.tool_calls

        @tool
        def weather(city: str) -> str:
            """The weather in a city."""
            counts["weather"] += 1
            return f"sunny in {city}"

        @tool
        def population(city: str) -> int:
            """The population of a city."""
            counts["population"] += 1
            return 2_100_000

        self.tools = [weather, population]
        self.provider = FunctionProvider(self._reply)

    def _reply(self, request: LlmRequest) -> LlmResponse | str:
        if self.on_model_call is not None:
            self.on_model_call(self.model_calls)
        results = [p.content for p in request.messages[-1].parts if p.kind is PartKind.TOOL_RESULT]
        if results:
            return f"{results[0]}; {results[1]} people"
        reply = reply_tool_calls(
            call("weather", {"city": self.city}, call_id="c1"),
            call("population", {"city": self.city}, call_id="c2"),
        )
        assert reply.response is not None
        return reply.response

    @property
    def model_calls(self) -> int:
        """How many times the provider was called."""
        return len(self.provider.requests)

    def runtime(self, *plugins: object, config: dict[str, Any] | None = None) -> Runtime:
        """A runtime (not yet open) running this scenario's provider and tools, with ``plugins``
        and ``config`` (see :func:`~lash_core.testing.scripted_runtime`)."""
        return scripted_runtime(self.provider, tools=self.tools, plugins=plugins, config=config)


async def stored_commit_hash(
    store: SessionStore, outcome: Any, session_id: str = "s1", turn_id: str = "t1"
) -> str:
    """The commit hash of turn ``turn_id`` (whose outcome is ``outcome``) computed from what
    ``store`` holds of ``session_id``."""
    record = await store.load_session(session_id)
    assert record is not None
    head = record.head
    messages = [node.message for node in record.nodes if node.turn_id == turn_id]
    return turn_commit_hash(
        turn_id, [head.current_frame_id], messages, outcome, head.ledger.entries, head.plugin_state
    )
