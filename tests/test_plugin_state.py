"""Per-session plugin state: committed with each turn, handed back when a session reopens."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from lash_core import Runtime, hookimpl
from lash_core.errors import HookError
from lash_core.store.memory import MemoryStore
from lash_core.testing import ScriptedProvider, reply_text, scripted_runtime

pytestmark = pytest.mark.anyio


class TurnCounter:
    """Counts the turns of each session; the count is its per-session state."""

    lash_plugin_name = "turn-counter"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.restored: list[tuple[str, Any]] = []

    @hookimpl
    def snapshot_state(self, session_id: str) -> dict[str, int]:
        self.counts[session_id] = self.counts.get(session_id, 0) + 1
        return {"turns": self.counts[session_id]}

    @hookimpl
    def restore_state(self, session_id: str, state: Any) -> None:
        self.restored.append((session_id, state))
        self.counts[session_id] = state["turns"] if state is not None else 0


class Tagger:
    """A second stateful plugin whose state must never reach the counter (and vice versa)."""

    lash_plugin_name = "tagger"

    def __init__(self) -> None:
        self.restored: list[tuple[str, Any]] = []

    @hookimpl
    def snapshot_state(self, session_id: str) -> list[str]:
        return ["tag", session_id]

    @hookimpl
    def restore_state(self, session_id: str, state: Any) -> None:
        self.restored.append((session_id, state))


def runtime(store: MemoryStore, *plugins: object, replies: int = 0) -> Runtime:
    """A scripted runtime over the given store instance (registered as store type ``shared``)."""

    class SharedStore:
        lash_plugin_name = "shared-store"

        @hookimpl
        def register_stores(self, register: Any) -> None:
            register("shared", lambda settings=None: store)

    provider = ScriptedProvider([reply_text(f"reply {n}") for n in range(replies)])
    return scripted_runtime(provider, plugins=[SharedStore(), *plugins], config={"store": {"type": "shared"}})


async def run_turns(rt: Runtime, session_id: str, count: int) -> None:
    """Run ``count`` plain turns on ``session_id``."""
    session = await rt.session(session_id)
    for n in range(count):
        await session.turn(f"turn {n}").run()


async def test_state_survives_a_runtime_restart() -> None:
    """restore_state in a new runtime receives exactly the plugin's own committed state; counting continues."""
    store = MemoryStore()
    counter_a, tagger_a = TurnCounter(), Tagger()
    async with runtime(store, counter_a, tagger_a, replies=2) as rt:
        await run_turns(rt, "s1", 2)
    assert counter_a.restored == [("s1", None)]

    counter_b, tagger_b = TurnCounter(), Tagger()
    async with runtime(store, counter_b, tagger_b, replies=1) as rt:
        session = await rt.session("s1")
        assert counter_b.restored == [("s1", {"turns": 2})]
        assert tagger_b.restored == [("s1", ["tag", "s1"])]
        await session.turn("again").run()
    head = await store.load_head("s1")
    assert head is not None
    assert head.plugin_state == {"turn-counter": {"turns": 3}, "tagger": ["tag", "s1"]}


async def test_state_of_two_sessions_stays_separate() -> None:
    """Each session commits and gets back its own state."""
    store = MemoryStore()
    async with runtime(store, TurnCounter(), replies=3) as rt:
        await run_turns(rt, "s1", 2)
        await run_turns(rt, "s2", 1)

    counter = TurnCounter()
    async with runtime(store, counter) as rt:
        await rt.session("s2")
        await rt.session("s1")
    assert counter.restored == [("s2", {"turns": 1}), ("s1", {"turns": 2})]
    assert counter.counts == {"s1": 2, "s2": 1}


async def test_restore_state_runs_once_per_runtime_and_session() -> None:
    """Reopening a session in the same runtime returns the live handle without restoring again."""
    store = MemoryStore()
    counter = TurnCounter()
    async with runtime(store, counter, replies=1) as rt:
        first = await rt.session("s1")
        await first.turn("hi").run()
        again = await rt.session("s1")
    assert again is first
    assert counter.restored == [("s1", None)]


async def test_returning_none_drops_the_state() -> None:
    """A plugin returning None from snapshot_state drops its committed state."""

    class Forgetful:
        lash_plugin_name = "forgetful"

        def __init__(self) -> None:
            self.turns = 0
            self.restored: list[Any] = []

        @hookimpl
        def snapshot_state(self, session_id: str) -> Any:
            self.turns += 1
            return {"remember": True} if self.turns == 1 else None

        @hookimpl
        def restore_state(self, state: Any) -> None:
            self.restored.append(state)

    store = MemoryStore()
    async with runtime(store, Forgetful(), TurnCounter(), replies=2) as rt:
        session = await rt.session("s1")
        await session.turn("one").run()
        head = await store.load_head("s1")
        assert head is not None and head.plugin_state["forgetful"] == {"remember": True}
        await session.turn("two").run()
    head = await store.load_head("s1")
    assert head is not None
    assert head.plugin_state == {"turn-counter": {"turns": 2}}

    forgetful = Forgetful()
    async with runtime(store, forgetful) as rt:
        await rt.session("s1")
    assert forgetful.restored == [None]


async def test_restore_state_error_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A failing restore_state is logged with the plugin's name; the session opens and others get their state."""

    class Broken:
        lash_plugin_name = "broken-restore"

        @hookimpl
        def restore_state(self, state: Any) -> None:
            raise RuntimeError("corrupt state")

    store = MemoryStore()
    async with runtime(store, TurnCounter(), replies=1) as rt:
        await run_turns(rt, "s1", 1)

    counter = TurnCounter()
    with caplog.at_level(logging.ERROR, logger="lash.plugins"):
        async with runtime(store, counter, Broken()) as rt:
            session = await rt.session("s1")
    assert session.head_revision == 1
    assert counter.restored == [("s1", {"turns": 1})]
    assert any(
        "broken-restore" in r.getMessage() and "restore_state" in r.getMessage() for r in caplog.records
    )


async def test_async_snapshot_state_is_refused() -> None:
    """An ``async def`` snapshot_state raises HookError naming the plugin; nothing is committed."""

    class AsyncSnapshot:
        lash_plugin_name = "async-snapshot"

        @hookimpl
        async def snapshot_state(self, session_id: str) -> Any:
            return {"never": True}

    store = MemoryStore()
    async with runtime(store, AsyncSnapshot(), replies=1) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
    assert raised.value.plugin == "async-snapshot"
    assert "must not be async" in str(raised.value)
    assert await store.load_session("s1") is None


async def test_async_restore_state_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """An ``async def`` restore_state is logged as an error naming the plugin; the session still opens."""

    class AsyncRestore:
        lash_plugin_name = "async-restore"

        @hookimpl
        async def restore_state(self, state: Any) -> None:
            raise AssertionError("a sync hook is never awaited")

    with caplog.at_level(logging.ERROR, logger="lash.plugins"):
        async with runtime(MemoryStore(), AsyncRestore()) as rt:
            session = await rt.session("s1")
    assert session.head_revision == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("async-restore" in m and "restore_state" in m and "must not be async" in m for m in messages)


async def test_committed_state_is_not_changed_by_later_in_place_mutation() -> None:
    """A plugin mutating its state object in place after a commit does not rewrite the committed state."""

    class InPlace:
        lash_plugin_name = "in-place"

        def __init__(self) -> None:
            self.state: dict[str, int] = {"turns": 0}

        @hookimpl
        def prepare_turn(self) -> None:
            self.state["turns"] += 1

        @hookimpl
        def snapshot_state(self, session_id: str) -> dict[str, int]:
            return self.state

    class FailSecondFinalize:
        lash_plugin_name = "fail-second"

        def __init__(self) -> None:
            self.turns = 0

        @hookimpl
        def finalize_turn(self) -> None:
            self.turns += 1
            if self.turns == 2:
                raise RuntimeError("second turn fails before its commit")

    store = MemoryStore()
    async with runtime(store, InPlace(), FailSecondFinalize(), replies=2) as rt:
        session = await rt.session("s1")
        await session.turn("one").run()
        with pytest.raises(HookError):
            await session.turn("two").run()
    head = await store.load_head("s1")
    assert head is not None
    assert head.head_revision == 1
    assert head.plugin_state["in-place"] == {"turns": 1}
