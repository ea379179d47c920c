"""The turn budget in real turns: the scripted provider plays the model, the standard protocol
runs the turn, the plugin module is passed to the runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from lash_core.model import PluginAbort, Stopped
from lash_core.session import collect_into
from lash_core.store import MemoryStore
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime
from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }} import plugin

NAME = plugin.lash_plugin_name


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a new process would, with a budget of 3 turns."""
    plugin.BUDGETS.clear()
    monkeypatch.setenv(plugin.BUDGET_VARIABLE, "3")
    yield
    plugin.BUDGETS.clear()


class SharedStore:
    """Registers one memory store for every runtime it is given to, like a database that
    outlives the runtimes using it."""

    lash_plugin_name = "shared-store"

    def __init__(self) -> None:
        self.store = MemoryStore()

    @hookimpl
    def register_stores(self, register: Any) -> None:
        register("shared", lambda: self.store)


CONFIG = {"store": {"type": "shared"}}


@pytest.mark.anyio
async def test_each_turn_is_counted_and_reported() -> None:
    """Every turn is counted; ``prepare_turn`` reports it as a status event."""
    activities: list[Any] = []
    provider = ScriptedProvider([reply_text("one"), reply_text("two")])
    async with scripted_runtime(provider, plugins=[plugin]) as runtime:
        session = await runtime.session("counted")
        await session.turn("a").run()
        await session.turn("b", sink=collect_into(activities)).run()
        head = await runtime.store.load_head("counted")
    assert head is not None and head.plugin_state[NAME] == {"version": 1, "turns": 2}
    statuses = [a.event for a in activities if a.event.TAG == "plugin_runtime"]
    assert [(e.plugin_id, e.event.key, e.event.label) for e in statuses] == [(NAME, NAME, "turn 2 of 3")]


@pytest.mark.anyio
async def test_a_used_up_budget_stops_the_turn_before_the_model_is_called() -> None:
    """The fourth turn is stopped by the plugin; the model is not called, the message is kept."""
    provider = ScriptedProvider([reply_text("one"), reply_text("two"), reply_text("three")])
    async with scripted_runtime(provider, plugins=[plugin]) as runtime:
        session = await runtime.session("used-up")
        for text in ("a", "b", "c"):
            await session.turn(text).run()
        fourth = await session.turn("d").run()
    assert isinstance(fourth.outcome, Stopped) and isinstance(fourth.outcome.stop, PluginAbort)
    assert fourth.outcome.stop.code == "turn_budget"
    assert provider.calls == 3
    assert session.history[-1].text == "d"


@pytest.mark.anyio
async def test_the_count_survives_a_restart() -> None:
    """What the plugin counted comes back from the store in a new runtime of a new process."""
    shared = SharedStore()
    provider = ScriptedProvider([reply_text("one"), reply_text("two"), reply_text("three")])
    async with scripted_runtime(provider, plugins=[shared, plugin], config=CONFIG) as runtime:
        session = await runtime.session("restarted")
        await session.turn("a").run()
        await session.turn("b").run()

    plugin.BUDGETS.clear()  # the process restarts: the plugin remembers nothing
    async with scripted_runtime(provider, plugins=[shared, plugin], config=CONFIG) as runtime:
        session = await runtime.session("restarted")
        assert plugin.BUDGETS.used("restarted") == 2
        await session.turn("c").run()
        last = await session.turn("d").run()
    assert isinstance(last.outcome, Stopped) and isinstance(last.outcome.stop, PluginAbort)
    assert provider.calls == 3


@pytest.mark.anyio
async def test_turn_persisted_warns_near_the_end_of_the_budget(caplog: pytest.LogCaptureFixture) -> None:
    """After each committed turn with few turns left, a warning names the session."""
    provider = ScriptedProvider([reply_text("one")])
    with caplog.at_level(logging.WARNING, logger="{{ cookiecutter.package_name }}"):
        async with scripted_runtime(provider, plugins=[plugin]) as runtime:
            await (await runtime.session("warned")).turn("a").run()
    assert "session warned has 2 turn(s) left" in caplog.text


def test_state_in_an_unknown_format_starts_afresh(caplog: pytest.LogCaptureFixture) -> None:
    """``restore_state`` never guesses at a format it does not know."""
    plugin.restore_state("s", {"version": 99, "turns": 7})
    assert plugin.BUDGETS.used("s") == 0
    assert "cannot read" in caplog.text
    plugin.restore_state("s", {"version": 1, "turns": 7})
    assert plugin.BUDGETS.used("s") == 7
    assert plugin.snapshot_state("s") == {"version": 1, "turns": 7}
