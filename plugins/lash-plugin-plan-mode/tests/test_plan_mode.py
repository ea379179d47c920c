"""Plan mode through real turns: the tool, the prompt, the event, validation and durable state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lash_plugin_plan_mode import EVENT_NAME, LASH_PLUGIN_API, PLUGIN_NAME, Plan, PlanModePlugin, PlanStep

from lash_core import Runtime
from lash_core.model import (
    FailureOutcome,
    PluginCustomEvent,
    PluginRuntime,
    SuccessOutcome,
    TurnActivity,
)
from lash_core.plugins.manager import create_plugin_manager
from lash_core.session import collect_into
from lash_core.testing import (
    DurableMemoryStore,
    RecordingEffectHost,
    Reply,
    ScriptedProvider,
    SimulatedCrash,
    call,
    provider_plugin,
    recording_host_plugin,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.testing.durable import durable_runtime

pytestmark = pytest.mark.anyio

STEPS = [
    {"step": "Read the code", "status": "completed"},
    {"step": "Write the tests", "status": "in_progress"},
    {"step": "Update the docs", "status": "pending"},
]
RENDERED = "1. [completed] Read the code\n2. [in_progress] Write the tests\n3. [pending] Update the docs"


def plan_call(steps: Any = STEPS, call_id: str = "call_plan", **extra: Any) -> Reply:
    """A model reply calling ``update_plan`` with ``steps``."""
    return reply_tool_calls(call("update_plan", {"plan": steps, **extra}, call_id=call_id))


def plan_events(activities: list[TurnActivity]) -> list[Any]:
    """The payloads of the ``plan_updated`` events among ``activities``."""
    return [
        a.event.event.payload
        for a in activities
        if isinstance(a.event, PluginRuntime)
        and a.event.plugin_id == PLUGIN_NAME
        and isinstance(a.event.event, PluginCustomEvent)
        and a.event.event.name == EVENT_NAME
    ]


def runtime(provider: ScriptedProvider, plugin: PlanModePlugin) -> Runtime:
    """A scripted runtime with ``plugin`` loaded."""
    return scripted_runtime(provider, plugins=[plugin])


async def test_the_plugin_declares_its_api_range_and_loads_from_its_entry_point() -> None:
    """The ``plan_mode`` entry point loads the plugin instance from the installed distribution."""
    assert LASH_PLUGIN_API == ">=1.0,<2"
    loaded = create_plugin_manager(environ={"LASH_LOAD_PLUGINS": PLUGIN_NAME})
    assert loaded.errors == []
    info = loaded.plugins[PLUGIN_NAME]
    assert info.distribution == "lash-plugin-plan-mode"
    assert isinstance(loaded.pm.get_plugin(PLUGIN_NAME), PlanModePlugin)


async def test_the_entry_point_plugin_registers_the_tool_in_a_runtime() -> None:
    """Composed from entry points, the runtime offers ``update_plan`` and runs it."""
    provider = ScriptedProvider([plan_call(), reply_text("planned")])
    environ = {"LASH_LOAD_PLUGINS": f"{PLUGIN_NAME},memory_store,inline_effects,standard"}
    config = {
        "model": {"id": "scripted-model"},
        "provider": "default",
        "providers": {"default": {"type": "scripted"}},
    }
    async with Runtime(config, plugins=[provider_plugin(provider)], environ=environ) as rt:
        report = {entry["name"]: entry for entry in rt.plugins_report()}
        session = await rt.session("plan-mode-entry-point")
        result = await session.turn("plan it").run()
    assert report[PLUGIN_NAME]["registered"] == {"tools": ["update_plan"]}
    assert [tool.name for tool in provider.requests[0].tools] == ["update_plan"]
    assert result.tool_calls[0].output.is_success


async def test_the_tool_sets_the_plan_and_the_next_request_shows_it() -> None:
    """update_plan stores the session's plan; the next turn's system prompt renders it in slot ``plan``."""
    plugin = PlanModePlugin()
    provider = ScriptedProvider(
        [plan_call(explanation="tests first"), reply_text("planned"), reply_text("ok")]
    )
    async with runtime(provider, plugin) as rt:
        session = await rt.session("s1")
        first = await session.turn("plan the work").run()
        await session.turn("go on").run()
    assert first.tool_calls[0].output.outcome == SuccessOutcome(
        {"updated": True, "steps": STEPS, "explanation": "tests first", "revision": 1}
    )
    plan = plugin.plan("s1")
    assert plan is not None
    assert [step.step for step in plan.steps] == ["Read the code", "Write the tests", "Update the docs"]
    assert "Current plan" not in provider.requests[0].system_prompt
    shown = provider.requests[2].system_prompt
    assert "## Current plan" in shown
    assert RENDERED in shown
    assert "Last update: tests first" in shown


async def test_a_change_emits_a_plugin_runtime_event() -> None:
    """A call that changes the plan emits ``plan_updated`` with the plan and its counts."""
    activities: list[TurnActivity] = []
    provider = ScriptedProvider([plan_call(), reply_text("planned")])
    async with runtime(provider, PlanModePlugin()) as rt:
        session = await rt.session("s1")
        await session.turn("plan", sink=collect_into(activities)).run()
    assert plan_events(activities) == [
        {
            "session_id": "s1",
            "steps": STEPS,
            "explanation": None,
            "revision": 1,
            "counts": {"pending": 1, "in_progress": 1, "completed": 1},
        }
    ]


async def test_repeating_the_plan_changes_nothing_and_emits_nothing() -> None:
    """The same steps again: ``updated`` is false, the revision stays, no event."""
    plugin = PlanModePlugin()
    activities: list[TurnActivity] = []
    provider = ScriptedProvider([plan_call(), plan_call(call_id="again"), reply_text("ok")])
    async with runtime(provider, plugin) as rt:
        session = await rt.session("s1")
        result = await session.turn("plan", sink=collect_into(activities)).run()
    second = result.tool_calls[1].output.outcome
    assert isinstance(second, SuccessOutcome)
    assert second.value["updated"] is False
    assert second.value["revision"] == 1
    assert len(plan_events(activities)) == 1


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([{"step": "Read", "status": "done"}], "invalid_arguments"),
        ([{"step": "Read"}], "invalid_arguments"),
        ([{"step": "Read", "status": "pending", "extra": 1}], "invalid_arguments"),
        ("not a list", "invalid_arguments"),
        (
            [{"step": "A", "status": "in_progress"}, {"step": "B", "status": "in_progress"}],
            "invalid_plan",
        ),
        ([{"step": "  ", "status": "pending"}], "invalid_plan"),
    ],
)
async def test_invalid_arguments_are_refused_with_a_validation_error(steps: Any, code: str) -> None:
    """Schema violations get the kernel's invalid_arguments result, plan rules an invalid_plan one;
    the plan, the prompt and the events stay as they were."""
    plugin = PlanModePlugin()
    activities: list[TurnActivity] = []
    provider = ScriptedProvider([plan_call(steps), reply_text("sorry"), reply_text("ok")])
    async with runtime(provider, plugin) as rt:
        session = await rt.session("s1")
        result = await session.turn("plan", sink=collect_into(activities)).run()
        await session.turn("go on").run()
    outcome = result.tool_calls[0].output.outcome
    assert isinstance(outcome, FailureOutcome)
    assert outcome.failure.code == code
    assert outcome.failure.failure_class.value == "invalid_request"
    tool_result = provider.requests[1].messages[-1].parts[0]
    assert tool_result.content.startswith(f"error [{code}]: update_plan")
    assert plugin.plan("s1") is None
    assert plan_events(activities) == []
    assert "Current plan" not in provider.requests[2].system_prompt
    assert PLUGIN_NAME not in session.plugin_state


async def test_an_empty_plan_clears_it() -> None:
    """update_plan with no steps removes the plan: no prompt slot, no committed state."""
    plugin = PlanModePlugin()
    provider = ScriptedProvider(
        [plan_call(), plan_call([], call_id="clear"), reply_text("ok"), reply_text("next")]
    )
    async with runtime(provider, plugin) as rt:
        session = await rt.session("s1")
        await session.turn("plan then clear").run()
        await session.turn("next").run()
    assert plugin.plan("s1") is None
    assert PLUGIN_NAME not in session.plugin_state
    assert "Current plan" not in provider.requests[3].system_prompt


async def test_two_sessions_keep_separate_plans() -> None:
    """Plans are keyed by the tool context's session id: each session sees only its own."""
    plugin = PlanModePlugin()
    other = [{"step": "Deploy", "status": "pending"}]
    provider = ScriptedProvider(
        [plan_call(), reply_text("a"), plan_call(other), reply_text("b"), reply_text("a2"), reply_text("b2")]
    )
    async with runtime(provider, plugin) as rt:
        first = await rt.session("s1")
        second = await rt.session("s2")
        await first.turn("plan a").run()
        await second.turn("plan b").run()
        await first.turn("again a").run()
        await second.turn("again b").run()
    plan_a, plan_b = plugin.plan("s1"), plugin.plan("s2")
    assert plan_a is not None and plan_b is not None
    assert [s.step for s in plan_a.steps] == ["Read the code", "Write the tests", "Update the docs"]
    assert [s.step for s in plan_b.steps] == ["Deploy"]
    prompt_a, prompt_b = provider.requests[4].system_prompt, provider.requests[5].system_prompt
    assert "Read the code" in prompt_a and "Deploy" not in prompt_a
    assert "Deploy" in prompt_b and "Read the code" not in prompt_b
    assert first.plugin_state[PLUGIN_NAME]["steps"] == STEPS
    assert second.plugin_state[PLUGIN_NAME]["steps"] == other


async def test_the_plan_survives_a_runtime_restart_over_the_same_store() -> None:
    """The plan is committed with the turn; a new runtime (and plugin instance) over the same store
    gets it back and shows it in the prompt."""
    store = DurableMemoryStore()
    before = PlanModePlugin()
    async with durable_runtime(
        ScriptedProvider([plan_call(explanation="why"), reply_text("planned")]),
        store,
        owner_id="worker-a",
        plugins=[before],
    ) as rt:
        session = await rt.session("s1")
        await session.turn("plan").run()
    committed = await store.load_session("s1")
    assert committed is not None
    assert committed.head.plugin_state[PLUGIN_NAME] == {"steps": STEPS, "explanation": "why", "revision": 1}

    after = PlanModePlugin()
    provider = ScriptedProvider([reply_text("still on it")])
    async with durable_runtime(provider, store, owner_id="worker-b", plugins=[after]) as rt:
        assert after.plan("s1") is None  # nothing is loaded before the session is opened
        session = await rt.session("s1")
        restored = after.plan("s1")
        await session.turn("status?").run()
    assert restored == Plan(
        (
            PlanStep("Read the code", "completed"),
            PlanStep("Write the tests", "in_progress"),
            PlanStep("Update the docs", "pending"),
        ),
        "why",
        1,
    )
    assert RENDERED in provider.requests[0].system_prompt


async def test_a_replayed_tool_result_still_sets_the_plan() -> None:
    """After a crash the journaled update_plan result is replayed without running the tool; the plan
    is adopted from that result, committed and shown."""
    crashing = RecordingEffectHost(interrupt_after=2)  # the model call, then the tool attempt
    config = {"effect_host": {"type": "recording"}}
    provider = ScriptedProvider([plan_call()])
    async with scripted_runtime(
        provider, plugins=[PlanModePlugin(), recording_host_plugin(crashing)], config=config
    ) as rt:
        session = await rt.session("s1")
        crashed = False
        try:
            await session.turn("plan", turn_id="t1").run()
        except* SimulatedCrash:
            crashed = True
    assert crashed

    replaying = RecordingEffectHost(journal=crashing.journal)
    plugin = PlanModePlugin()
    provider = ScriptedProvider([reply_text("planned")])
    activities: list[TurnActivity] = []
    async with scripted_runtime(
        provider, plugins=[plugin, recording_host_plugin(replaying)], config=config
    ) as rt:
        session = await rt.session("s1")
        await session.turn("plan", turn_id="t1", sink=collect_into(activities)).run()
    assert len(provider.requests) == 1  # the first model call and the tool were replayed
    plan = plugin.plan("s1")
    assert plan is not None and plan.revision == 1
    assert session.plugin_state[PLUGIN_NAME]["steps"] == STEPS
    assert len(plan_events(activities)) == 1


def test_restoring_bad_state_leaves_the_session_without_a_plan() -> None:
    """State that is not a plan is refused (logged by the kernel); the session starts without a plan."""
    plugin = PlanModePlugin()
    plugin.plans["s1"] = Plan((PlanStep("stale", "pending"),))
    with pytest.raises(ValueError):
        plugin.restore_state("s1", {"steps": "nope"})
    assert plugin.plan("s1") is None


def test_the_plan_json_round_trips() -> None:
    """``Plan.to_json`` / ``Plan.from_json`` are inverse, through JSON text."""
    plan = Plan((PlanStep("a", "completed"), PlanStep("b", "in_progress")), "because", 3)
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
