"""The durable runtime path: session execution leases, lease loss, stale heads and crash
recovery, with runtimes ("workers") sharing one durable store.

Every test runs on asyncio and on trio (the ``anyio_backend`` fixture). The store runs on
a :class:`FakeClock`, so a lease expires only when a test moves the clock; the one real
time dependency is the lease renewal task, which sleeps ``lease_renew_interval_ms``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from lash_core import tool
from lash_core.drain import claimed_turn_id
from lash_core.errors import LeaseLost, SessionBusy
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    Cancelled,
    Finished,
    Message,
    ProviderFailureKind,
    Role,
    Stopped,
)
from lash_core.session import Session
from lash_core.store.contract import CommitResult, TurnCommit
from lash_core.store.inputs import ActiveTurn, PendingInput, PendingInputState
from lash_core.store.leases import LeaseFence
from lash_core.testing import (
    DurableMemoryStore,
    FakeClock,
    ScriptedProvider,
    call,
    reply_error,
    reply_text,
    reply_tool_calls,
)
from lash_core.testing.durable import ProcessCrash, durable_runtime, raised

GUARD_SECONDS = 10
# Renewal every 30 ms of real time; the TTL is judged by the store's FakeClock.
FAST_LEASE = {"lease_ttl_ms": 90, "lease_renew_interval_ms": 30}


def user_texts(messages: tuple[Message, ...] | list[Message]) -> list[str]:
    """The texts of the user messages among ``messages``."""
    return [m.text for m in messages if m.role is Role.USER]


def texts(messages: tuple[Message, ...] | list[Message]) -> list[str]:
    """The texts of ``messages``."""
    return [m.text for m in messages]


async def outcome_of(fn: Callable[[], Awaitable[Any]], box: list[Any], done: anyio.Event) -> None:
    """Await ``fn()`` and put its result, or the exception it raised, in ``box``."""
    try:
        box.append(await fn())
    except Exception as exc:
        box.append(exc)
    finally:
        done.set()


class CrashingStore(DurableMemoryStore):
    """A handle on shared memory data whose "process" dies when it commits: the commit
    raises :class:`ProcessCrash` and applies nothing, and after that the handle reaches the
    store no more (its lease is left to expire)."""

    def __init__(self, clock: FakeClock, shared: DurableMemoryStore) -> None:
        super().__init__(clock, data=shared.data)
        self.dead = False

    async def commit(self, commit: TurnCommit) -> CommitResult:
        self.dead = True
        raise ProcessCrash(f"crashed while committing turn {commit.turn_id!r}")

    async def release_lease(self, fence: LeaseFence) -> bool:
        if self.dead:
            return False
        return await super().release_lease(fence)


# -- the lease around a turn -----------------------------------------------------------


@pytest.mark.anyio
async def test_foreground_turn_holds_the_lease_while_it_runs() -> None:
    """While a foreground turn runs, the session's lease is held by the runtime's owner id."""
    store = DurableMemoryStore(FakeClock())
    gate = anyio.Event()
    provider = ScriptedProvider([reply_text("hello", gate=gate)])
    held = provider.replies[0]
    async with durable_runtime(provider, store, owner_id="worker-a") as rt:
        session = await rt.session("s1")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, session.turn("hi").run, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
            lease = await store.load_lease("s1")
            gate.set()
    assert lease is not None
    assert lease.owner.owner_id == "worker-a"
    assert isinstance(box[0], AssembledTurn)


@pytest.mark.anyio
async def test_foreground_turn_releases_the_lease_with_its_commit() -> None:
    """A foreground turn on a durable store commits and leaves the lease free."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider([reply_text("hello")])
    async with durable_runtime(provider, store, owner_id="worker-a") as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert result.outcome == Finished(AssistantMessage("hello"))
    assert result.head_revision == 1
    assert await store.load_lease("s1") is None


@pytest.mark.anyio
async def test_foreground_turn_on_a_session_leased_elsewhere_raises_session_busy() -> None:
    """A foreground turn while another runtime holds the session's lease raises SessionBusy naming the holder."""
    store = DurableMemoryStore(FakeClock())
    gate = anyio.Event()
    provider_a = ScriptedProvider([reply_text("a", gate=gate)])
    provider_b = ScriptedProvider([reply_text("never")])
    held = provider_a.replies[0]
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a") as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b") as rt_b,
    ):
        session_a = await rt_a.session("s1")
        session_b = await rt_b.session("s1")
        async with anyio.create_task_group() as group:
            group.start_soon(session_a.turn("first").run)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
            with pytest.raises(SessionBusy) as caught:
                await session_b.turn("second").run()
            gate.set()
        assert "worker-a" in str(caught.value)
        assert provider_b.calls == 0
        assert not session_b.is_running
        record = await store.load_session("s1")
        assert record is not None
        assert user_texts([n.message for n in record.nodes]) == ["first"]


@pytest.mark.anyio
async def test_cancelled_foreground_turn_commits_cancelled_and_frees_the_lease() -> None:
    """Cancelling a durable turn held in its model call commits Stopped(Cancelled), not LeaseLost, and frees the lease."""
    store = DurableMemoryStore(FakeClock())
    provider = ScriptedProvider([reply_text("never", gate=anyio.Event())])
    held = provider.replies[0]
    async with durable_runtime(provider, store, owner_id="worker-a") as rt:
        session = await rt.session("s1")
        turn = session.turn("hi")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, turn.run, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
                turn.cancel()
                await done.wait()
        assert isinstance(box[0], AssembledTurn)
        assert box[0].outcome == Stopped(Cancelled())
        assert box[0].head_revision == 1
        assert await store.load_lease("s1") is None


# -- lease loss ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lost_lease_cancels_the_foreground_turn_and_commits_nothing() -> None:
    """When renewal fails (the lease expired by the store clock), the held turn raises LeaseLost and commits nothing."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    provider = ScriptedProvider([reply_text("never seen", gate=anyio.Event())])
    held = provider.replies[0]
    async with durable_runtime(provider, store, owner_id="worker-a", config=FAST_LEASE) as rt:
        session = await rt.session("s1")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, session.turn("hi").run, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
                clock.advance(1.0)  # past the 90 ms TTL: the next renewal (<= 30 ms away) fails
                await done.wait()
        assert isinstance(box[0], LeaseLost)
        assert "nothing was committed" in str(box[0])
        assert await store.load_session("s1") is None
        assert not session.is_running


@pytest.mark.anyio
async def test_input_of_a_drain_that_lost_its_lease_is_served_by_the_next_worker() -> None:
    """A drain whose lease expires raises LeaseLost without committing; another worker then runs the input once."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    provider_a = ScriptedProvider([reply_text("from a", gate=anyio.Event())])
    provider_b = ScriptedProvider([reply_text("from b")])
    held = provider_a.replies[0]
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", config=FAST_LEASE) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", config=FAST_LEASE) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        pending = await session_a.submit("do the job")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, session_a.drain, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
                clock.advance(1.0)
                await done.wait()
        assert isinstance(box[0], LeaseLost)
        assert await store.load_session("s1") is None

        turns = await rt_b.drain("s1")

        assert [t.outcome for t in turns] == [Finished(AssistantMessage("from b"))]
        assert turns[0].turn_id == f"input-{pending.input_id}"
        stored = await store.get_input("s1", pending.input_id)
        assert stored is not None and stored.state is PendingInputState.COMPLETED
        record = await store.load_session("s1")
        assert record is not None
        assert texts([n.message for n in record.nodes]) == ["do the job", "from b"]
        assert (provider_a.calls, provider_b.calls) == (1, 1)


@pytest.mark.anyio
async def test_turn_resuming_after_a_takeover_cannot_commit() -> None:
    """A turn whose lease another worker took over (and used) gets LeaseLost when it resumes, not a second commit."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    gate = anyio.Event()
    provider_a = ScriptedProvider([reply_text("from a", gate=gate)])
    provider_b = ScriptedProvider([reply_text("from b")])
    held = provider_a.replies[0]
    # Renewal is slow in real time (1 s): the stale turn meets the fence in the store first.
    slow = {"lease_ttl_ms": 3_000, "lease_renew_interval_ms": 1_000}
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", config=slow) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", config=slow) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        await session_a.submit("do the job")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, session_a.drain, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await held.started.wait()
                clock.advance(10.0)  # worker-a's lease is expired by the store clock
                taken_over = await rt_b.drain("s1")
                gate.set()
                await done.wait()
        assert [t.outcome for t in taken_over] == [Finished(AssistantMessage("from b"))]
        assert isinstance(box[0], LeaseLost)
        record = await store.load_session("s1")
        assert record is not None
        assert record.head.head_revision == 1
        assert texts([n.message for n in record.nodes]) == ["do the job", "from b"]


@pytest.mark.anyio
async def test_fenced_commit_refuses_a_turn_whose_lease_was_taken_over() -> None:
    """A turn reaching its commit after another worker took its lease over raises LeaseLost and leaves the head alone."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    gate = anyio.Event()
    # A provider error ends the turn without a checkpoint, so the commit is its first fenced write.
    failing = reply_error(ProviderFailureKind.TRANSPORT, "boom")
    failing.gate = gate
    provider_a = ScriptedProvider([failing])
    provider_b = ScriptedProvider([reply_text("b")])
    slow = {"lease_ttl_ms": 3_000, "lease_renew_interval_ms": 1_000}
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", config=slow) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", config=slow) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        box: list[Any] = []
        done = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(outcome_of, session_a.turn("from a").run, box, done)
            with anyio.fail_after(GUARD_SECONDS):
                await failing.started.wait()
                clock.advance(10.0)
                session_b = await rt_b.session("s1")
                await session_b.turn("from b").run()
                gate.set()
                await done.wait()
        assert isinstance(box[0], LeaseLost)
        head = await store.load_head("s1")
        assert head is not None and head.head_revision == 1
        assert session_a.head_revision == 0


# -- stale heads -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_turn_on_a_stale_handle_reloads_and_extends_the_other_workers_history() -> None:
    """A session handle another worker moved on reloads before its turn: no HeadConflict, B's turn stays in history."""
    store = DurableMemoryStore(FakeClock())
    provider_a = ScriptedProvider([reply_text("a1")])
    provider_b = ScriptedProvider([reply_text("b1")])
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a") as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b") as rt_b,
    ):
        session_a = await rt_a.session("s1")
        session_b = await rt_b.session("s1")
        await session_b.turn("from b").run()

        result = await session_a.turn("from a").run()

        assert result.head_revision == 2
        assert texts(session_a.history) == ["from b", "b1", "from a", "a1"]
        assert user_texts(provider_a.requests[0].messages) == ["from b", "from a"]
        record = await store.load_session("s1")
        assert record is not None
        assert texts([n.message for n in record.nodes]) == ["from b", "b1", "from a", "a1"]


# -- crash recovery --------------------------------------------------------------------


@pytest.mark.anyio
async def test_inputs_of_a_worker_that_died_before_its_commit_run_once_after_its_lease_expires() -> None:
    """A worker dying in its commit leaves inputs claimed by a dead generation; after the TTL another worker runs them once, same turn id."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    crashing = CrashingStore(clock, store)
    provider_a = ScriptedProvider([reply_text("lost answer")])
    provider_b = ScriptedProvider([reply_text("answer")])
    async with (
        durable_runtime(provider_a, crashing, owner_id="worker-a") as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b") as rt_b,
    ):
        session_a = await rt_a.session("s1")
        first = await session_a.submit("one")
        second = await session_a.submit("two")
        with pytest.raises(BaseException) as caught:
            await session_a.drain()
        assert raised(caught.value, ProcessCrash)

        claimed = await store.get_input("s1", first.input_id)
        assert claimed is not None and claimed.claim is not None
        assert claimed.claim.owner.owner_id == "worker-a"
        assert await rt_b.drain("s1") == []  # the dead worker's lease is still live

        clock.advance(31.0)  # past the default 30 s TTL
        turns = await rt_b.drain("s1")

        assert [t.turn_id for t in turns] == [claimed_turn_id([first.input_id, second.input_id])]
        assert user_texts(turns[0].messages) == ["onetwo"]
        for pending in (first, second):
            stored = await store.get_input("s1", pending.input_id)
            assert stored is not None and stored.state is PendingInputState.COMPLETED
        record = await store.load_session("s1")
        assert record is not None
        assert texts([n.message for n in record.nodes]) == ["onetwo", "answer"]
        assert provider_b.calls == 1
        assert await rt_b.drain("s1") == []


@pytest.mark.anyio
async def test_inputs_of_a_turn_killed_in_a_tool_are_reclaimed_by_the_next_worker() -> None:
    """A turn killed mid-tool commits nothing; the next worker re-claims its inputs and commits them once, same turn id."""
    store = DurableMemoryStore(FakeClock())
    crash = [True]

    @tool
    async def work(item: str) -> str:
        """Do some work."""
        if crash[0]:
            raise ProcessCrash("killed in the middle of a tool")
        return f"did {item}"

    provider_a = ScriptedProvider([reply_tool_calls(call("work", {"item": "x"}))])
    provider_b = ScriptedProvider([reply_tool_calls(call("work", {"item": "x"})), reply_text("all done")])
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", tools=[work]) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", tools=[work]) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        pending = await session_a.submit("work on x")
        with pytest.raises(BaseException) as caught:
            await session_a.drain()
        assert raised(caught.value, ProcessCrash)
        assert await store.load_session("s1") is None
        crash[0] = False

        turns = await rt_b.drain("s1")

        assert [t.turn_id for t in turns] == [f"input-{pending.input_id}"]
        assert turns[0].outcome == Finished(AssistantMessage("all done"))
        stored = await store.get_input("s1", pending.input_id)
        assert stored is not None and stored.state is PendingInputState.COMPLETED
        record = await store.load_session("s1")
        assert record is not None
        assert user_texts([n.message for n in record.nodes]).count("work on x") == 1
        assert await rt_b.drain("s1") == []


# -- active input of a turn that lost its lease -------------------------------------------


async def lose_lease_after_active_input(
    clock: FakeClock, session: Session, run: Callable[[], Awaitable[Any]], provider: ScriptedProvider
) -> tuple[Any, PendingInput]:
    """Run ``run`` (a turn or a drain of ``session``) whose first reply is gated: submit an
    active input meanwhile, let the before-completion checkpoint accept it, and expire the
    lease while the second model call is held. Returns the outcome and the input."""
    first, second = provider.replies[0], provider.replies[1]
    assert first.gate is not None
    box: list[Any] = []
    done = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(outcome_of, run, box, done)
        with anyio.fail_after(GUARD_SECONDS):
            await first.started.wait()
            pending = await session.submit("more", ingress="active_turn")
            first.gate.set()
            await second.started.wait()
            clock.advance(1.0)
            await done.wait()
    return box[0], pending


@pytest.mark.anyio
async def test_rerun_of_a_drained_turn_that_lost_its_lease_gets_its_active_input_back() -> None:
    """After a drain loses its lease, the next worker re-runs the same turn id and its checkpoint delivers the active input again."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    provider_a = ScriptedProvider(
        [reply_text("a1", gate=anyio.Event()), reply_text("a2", gate=anyio.Event())]
    )
    provider_b = ScriptedProvider([reply_text("b1"), reply_text("b2")])
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", config=FAST_LEASE) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", config=FAST_LEASE) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        queued = await session_a.submit("job")
        outcome, active = await lose_lease_after_active_input(clock, session_a, session_a.drain, provider_a)
        assert isinstance(outcome, LeaseLost)
        assert active.ingress == ActiveTurn(f"input-{queued.input_id}")

        turns = await rt_b.drain("s1")

        assert [t.turn_id for t in turns] == [f"input-{queued.input_id}"]
        assert user_texts(provider_b.requests[-1].messages) == ["job", "more"]
        assert await store.load_head("s1") is not None
        for pending in (queued, active):
            stored = await store.get_input("s1", pending.input_id)
            assert stored is not None and stored.state is PendingInputState.COMPLETED


@pytest.mark.anyio
async def test_active_input_of_a_foreground_turn_that_lost_its_lease_is_served_later() -> None:
    """An active input accepted by a foreground turn that then lost its lease is orphaned (that
    turn never commits); the next turn of the session defers it when it commits, and the next
    drain serves it."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    provider_a = ScriptedProvider(
        [reply_text("a1", gate=anyio.Event()), reply_text("a2", gate=anyio.Event())]
    )
    provider_b = ScriptedProvider([reply_text("b0"), reply_text("b1")])
    async with (
        durable_runtime(provider_a, store, owner_id="worker-a", config=FAST_LEASE) as rt_a,
        durable_runtime(provider_b, store, owner_id="worker-b", config=FAST_LEASE) as rt_b,
    ):
        session_a = await rt_a.session("s1")
        outcome, active = await lose_lease_after_active_input(
            clock, session_a, session_a.turn("hi").run, provider_a
        )
        assert isinstance(outcome, LeaseLost)

        session_b = await rt_b.session("s1")
        await session_b.turn("next").run()
        assert user_texts(provider_b.requests[0].messages) == ["next"]
        stored = await store.get_input("s1", active.input_id)
        assert stored is not None and stored.state is PendingInputState.DEFERRED_NEXT_TURN

        turns = await rt_b.drain("s1")

        assert [user_texts(t.messages) for t in turns] == [["more"]]
        stored = await store.get_input("s1", active.input_id)
        assert stored is not None and stored.state is PendingInputState.COMPLETED
