"""Compaction through real turns: the threshold, the summary call and its usage, the new frame."""

from __future__ import annotations

from typing import Any

import pytest
from lash_plugin_compaction import (
    DEFAULT_INSTRUCTIONS,
    EVENT_NAME,
    LASH_PLUGIN_API,
    PLUGIN_NAME,
    SUMMARY_HEADER,
    USAGE_SOURCE,
    CompactionPlugin,
    CompactionSettings,
    compaction_frame_id,
)
from lash_plugin_compaction.plugin import SUMMARY_SYSTEM_PROMPT

from lash_core.errors import ConfigError
from lash_core.model import (
    FrameStatus,
    PluginCustomEvent,
    PluginOrigin,
    PluginRuntime,
    PluginStatusEvent,
    ProviderFailureKind,
    Role,
    TokenUsage,
    TurnActivity,
    initial_frame_id,
)
from lash_core.plugins.manager import create_plugin_manager
from lash_core.session import Session, collect_into
from lash_core.store.contract import SessionRecord
from lash_core.testing import (
    DurableMemoryStore,
    FunctionProvider,
    Reply,
    ScriptedProvider,
    reply_error,
    reply_text,
    scripted_runtime,
)
from lash_core.testing.durable import durable_runtime

pytestmark = pytest.mark.anyio

WINDOW = 100_000  # the scripted runtime's model context window
SUMMARY_USAGE = TokenUsage(input_tokens=85_000, output_tokens=42)
SEED_TEXT = f"{SUMMARY_HEADER}\n\nthe user greeted; nothing else happened"
FRAME = compaction_frame_id("s1", "t2")


def answer(text: str, prompt: int) -> Reply:
    """A prose reply whose provider-reported prompt size is ``prompt`` tokens."""
    return reply_text(text, usage=TokenUsage(input_tokens=prompt, output_tokens=5))


def summary_reply() -> Reply:
    """The model's answer to the summary request."""
    return reply_text("the user greeted; nothing else happened", usage=SUMMARY_USAGE)


def events(activities: list[TurnActivity]) -> list[Any]:
    """The plugin runtime events the compaction plugin emitted."""
    return [
        a.event.event
        for a in activities
        if isinstance(a.event, PluginRuntime) and a.event.plugin_id == PLUGIN_NAME
    ]


async def run_two_turns(
    provider: Any, plugin: CompactionPlugin | None = None, config: dict[str, Any] | None = None
) -> tuple[Session, SessionRecord, list[TurnActivity]]:
    """``hello`` (turn t1) then ``next`` (turn t2) on session s1: the session, what the store holds
    afterwards and the activities of t2."""
    activities: list[TurnActivity] = []
    async with scripted_runtime(provider, plugins=[plugin or CompactionPlugin()], config=config) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        await session.turn("next", turn_id="t2", sink=collect_into(activities)).run()
        record = await rt.store.load_session("s1")
    assert record is not None
    return session, record, activities


async def test_the_plugin_declares_its_api_range_and_loads_from_its_entry_point() -> None:
    """The ``compaction`` entry point loads the plugin instance from the installed distribution."""
    assert LASH_PLUGIN_API == ">=1.0,<2"
    loaded = create_plugin_manager(environ={"LASH_LOAD_PLUGINS": PLUGIN_NAME})
    assert loaded.errors == []
    assert loaded.plugins[PLUGIN_NAME].distribution == "lash-plugin-compaction"
    assert isinstance(loaded.pm.get_plugin(PLUGIN_NAME), CompactionPlugin)


async def test_below_the_threshold_nothing_happens() -> None:
    """At 80% of the window or less: no summary request, one frame, the full history in the prompt."""
    provider = ScriptedProvider([answer("hi", 80_000), answer("ok", 80_100)])
    session, _, activities = await run_two_turns(provider)
    assert len(provider.requests) == 2
    assert [m.text for m in provider.requests[1].messages] == ["hello", "hi", "next"]
    assert [f.frame_id for f in session.frames] == [initial_frame_id("s1")]
    assert USAGE_SOURCE not in session.usage_report().by_source
    assert events(activities) == []


async def test_without_usage_or_history_nothing_happens() -> None:
    """A session's first turn has neither a last prompt usage nor history: no compaction."""
    provider = ScriptedProvider([answer("hi", 99_000)])
    async with scripted_runtime(provider, plugins=[CompactionPlugin()]) as rt:
        session = await rt.session("s1")
        await session.turn("hello").run()
    assert len(provider.requests) == 1
    assert len(session.frames) == 1


async def test_above_the_threshold_the_model_summarizes_the_frame() -> None:
    """The summary request carries the frame's history and the instructions, with the summarizer's
    system prompt and no tools."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    await run_two_turns(provider)
    assert len(provider.requests) == 3
    summary_request = provider.requests[1]
    assert summary_request.system_prompt == SUMMARY_SYSTEM_PROMPT
    assert [(m.role, m.text) for m in summary_request.messages] == [
        (Role.USER, "hello"),
        (Role.ASSISTANT, "hi"),
        (Role.USER, DEFAULT_INSTRUCTIONS),
    ]
    assert summary_request.tools == ()
    assert summary_request.request_id.startswith("t2:prepare-turn:direct:")


async def test_the_summary_usage_is_recorded_under_compaction() -> None:
    """The summary call's usage lands in the session ledger under source ``compaction``, apart from the turns."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    session, _, _ = await run_two_turns(provider)
    report = session.usage_report()
    assert report.by_source[USAGE_SOURCE] == SUMMARY_USAGE
    assert report.by_source["turn"] == TokenUsage(input_tokens=90_300, output_tokens=10)


async def test_the_next_request_sees_only_the_new_frame() -> None:
    """After compaction the model sees the summary and the new user message, nothing older."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    session, _, _ = await run_two_turns(provider)
    assert [(m.role, m.text) for m in provider.requests[2].messages] == [
        (Role.USER, SEED_TEXT),
        (Role.USER, "next"),
    ]
    assert [m.text for m in session.history] == [SEED_TEXT, "next", "ok"]
    assert session.history[0].origin == PluginOrigin(PLUGIN_NAME)


async def test_the_old_frame_is_superseded_and_stays_in_the_store() -> None:
    """The initial frame is superseded (its messages still stored); the new one is active, reason compaction."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    session, record, _ = await run_two_turns(provider)
    initial = initial_frame_id("s1")
    frames = {frame.frame_id: frame for frame in session.frames}
    assert list(frames) == [initial, FRAME]
    assert frames[initial].status is FrameStatus.SUPERSEDED
    assert frames[FRAME].status is FrameStatus.ACTIVE
    assert frames[FRAME].reason == "compaction"
    assert frames[FRAME].previous_frame_id == initial
    assert session.current_frame_id == FRAME
    assert [n.message.text for n in record.nodes if n.frame_id == initial] == ["hello", "hi"]
    assert [n.message.text for n in record.nodes if n.frame_id == FRAME] == [SEED_TEXT, "next", "ok"]


async def test_compaction_emits_a_plugin_runtime_event() -> None:
    """A ``context_compacted`` event tells the host what was compacted."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    _, _, activities = await run_two_turns(provider)
    assert events(activities) == [
        PluginCustomEvent(
            EVENT_NAME,
            {
                "frame_id": FRAME,
                "summarized_messages": 2,
                "prompt_tokens": 90_000,
                "context_window_tokens": WINDOW,
                "threshold": 0.8,
                "summary_output_tokens": 42,
            },
        )
    ]


async def test_cached_prompt_tokens_count_toward_the_threshold() -> None:
    """Cache-read and cache-write input tokens are part of the prompt size."""
    cached = reply_text(
        "hi",
        usage=TokenUsage(input_tokens=1_000, cache_read_input_tokens=70_000, cache_write_input_tokens=10_000),
    )
    provider = ScriptedProvider([cached, summary_reply(), answer("ok", 300)])
    session, _, _ = await run_two_turns(provider)
    assert session.current_frame_id == FRAME


async def test_the_turn_after_compaction_does_not_compact_again() -> None:
    """The new frame's prompt is small: the following turn runs in it without another summary."""
    provider = ScriptedProvider(
        [answer("hi", 90_000), summary_reply(), answer("ok", 300), answer("fine", 400)]
    )
    async with scripted_runtime(provider, plugins=[CompactionPlugin()]) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        await session.turn("next", turn_id="t2").run()
        await session.turn("more", turn_id="t3").run()
    assert len(provider.requests) == 4
    assert [m.text for m in provider.requests[3].messages] == [SEED_TEXT, "next", "ok", "more"]
    assert len(session.frames) == 2


async def test_the_threshold_comes_from_the_plugins_settings_table() -> None:
    """``[plugins.compaction] threshold = 0.5`` compacts a prompt at 60% of the window."""
    provider = ScriptedProvider([answer("hi", 60_000), summary_reply(), answer("ok", 300)])
    config = {"plugins": {PLUGIN_NAME: {"threshold": 0.5}}}
    plugin = CompactionPlugin()
    session, _, activities = await run_two_turns(provider, plugin, config)
    assert plugin.settings.threshold == 0.5
    assert session.current_frame_id == FRAME
    assert events(activities)[0].payload["threshold"] == 0.5


async def test_constructor_settings_are_used_as_given() -> None:
    """Settings passed to the constructor win: the configuration table is not read."""
    provider = ScriptedProvider([answer("hi", 60_000), answer("ok", 60_100)])
    plugin = CompactionPlugin(CompactionSettings(threshold=0.9))
    session, _, _ = await run_two_turns(provider, plugin)
    assert plugin.settings.threshold == 0.9
    assert len(session.frames) == 1


async def test_custom_instructions_and_summary_limit_reach_the_summary_request() -> None:
    """``instructions`` and ``max_summary_tokens`` shape the summary call."""
    provider = ScriptedProvider([answer("hi", 90_000), summary_reply(), answer("ok", 300)])
    settings = CompactionSettings(instructions="Summarize in one line.", max_summary_tokens=256)
    await run_two_turns(provider, CompactionPlugin(settings))
    summary_request = provider.requests[1]
    assert summary_request.messages[-1].text == "Summarize in one line."
    assert summary_request.max_output_tokens == 256


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"threshold": 1.5}, "threshold must be a share of the context window"),
        ({"threshold": "high"}, "plugins.compaction.threshold: expected a number"),
        ({"treshold": 0.5}, "plugins.compaction.treshold: unknown key"),
        ({"max_summary_tokens": 0}, "max_summary_tokens must be positive"),
    ],
)
async def test_bad_settings_are_refused_when_the_runtime_is_composed(
    table: dict[str, Any], problem: str
) -> None:
    """A bad ``[plugins.compaction]`` table is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"plugins\.compaction") as raised:
        scripted_runtime(
            ScriptedProvider(), plugins=[CompactionPlugin()], config={"plugins": {PLUGIN_NAME: table}}
        )
    assert problem in str(raised.value)


async def test_a_failed_summary_call_leaves_the_context_and_the_turn_goes_on() -> None:
    """A provider error on the summary call: no switch, a status event, the turn answers in the old frame."""
    provider = ScriptedProvider(
        [
            answer("hi", 90_000),
            reply_error(ProviderFailureKind.TRANSPORT, "connection reset"),
            answer("ok", 90_500),
        ]
    )
    session, _, activities = await run_two_turns(provider)
    assert [m.text for m in provider.requests[2].messages] == ["hello", "hi", "next"]
    assert len(session.frames) == 1
    (event,) = events(activities)
    assert isinstance(event, PluginStatusEvent)
    assert event.key == PLUGIN_NAME
    assert "the summary call failed" in (event.detail or "")
    assert [m.text for m in session.history][-1] == "ok"


async def test_an_empty_summary_changes_nothing() -> None:
    """A blank summary is not worth a frame: the turn runs in the current one."""
    provider = ScriptedProvider([answer("hi", 90_000), reply_text("  "), answer("ok", 300)])
    session, _, activities = await run_two_turns(provider)
    assert len(session.frames) == 1
    assert [m.text for m in provider.requests[2].messages] == ["hello", "hi", "next"]
    assert isinstance(events(activities)[0], PluginStatusEvent)


async def test_compaction_survives_a_restart_over_the_same_store() -> None:
    """Compacted under one runtime, the session reopens in another over the same store in the new frame,
    with the old frame's messages and the compaction usage still stored."""
    store = DurableMemoryStore()

    def respond(request: Any) -> Any:
        if request.system_prompt == SUMMARY_SYSTEM_PROMPT:
            return summary_reply().response
        texts = [m.text for m in request.messages]
        return answer(f"re: {texts[-1]}", 90_000 if texts[-1] == "hello" else 300).response

    async with durable_runtime(
        FunctionProvider(respond), store, owner_id="a", plugins=[CompactionPlugin()]
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hello", turn_id="t1").run()
        await session.turn("next", turn_id="t2").run()
    follower = FunctionProvider(respond)
    async with durable_runtime(follower, store, owner_id="b", plugins=[CompactionPlugin()]) as rt:
        reopened = await rt.session("s1")
        assert reopened.current_frame_id == FRAME
        assert [m.text for m in reopened.history] == [SEED_TEXT, "next", "re: next"]
        assert reopened.usage_report().by_source[USAGE_SOURCE] == SUMMARY_USAGE
        await reopened.turn("and now?", turn_id="t3").run()
    assert [m.text for m in follower.requests[0].messages] == [SEED_TEXT, "next", "re: next", "and now?"]
    record = await store.load_session("s1")
    assert record is not None
    assert [n.message.text for n in record.nodes if n.frame_id == initial_frame_id("s1")] == [
        "hello",
        "re: hello",
    ]
