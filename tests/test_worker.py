"""The worker loop: ``serve`` drains every session's pending input, in order, exactly once,
also when several workers serve one durable store.

Every test runs on asyncio and on trio (the ``anyio_backend`` fixture).
"""

from __future__ import annotations

from collections import Counter

import anyio
import anyio.lowlevel
import pytest

from lash_core.model import LlmRequest, Role, TurnInput
from lash_core.runtime import Runtime
from lash_core.store.inputs import PendingInputDraft, PendingInputState
from lash_core.store.leases import LeaseAcquired, LeaseOwner
from lash_core.testing import DurableMemoryStore, FakeClock, FunctionProvider
from lash_core.testing.durable import durable_runtime
from lash_core.worker import WorkerStats, serve

GUARD_SECONDS = 20
SESSIONS = [f"s{i}" for i in range(5)]
POLL = 0.005


def last_user_items(request: LlmRequest) -> list[str]:
    """The text items of the last user message the model was sent."""
    user = [m for m in request.messages if m.role is Role.USER][-1]
    return [part.content for part in user.parts]


async def committed_user_items(store: DurableMemoryStore, session_id: str) -> list[list[str]]:
    """The parts of every committed user message of the session, in history order."""
    record = await store.load_session(session_id)
    assert record is not None
    return [[p.content for p in n.message.parts] for n in record.nodes if n.message.role is Role.USER]


async def submit_all(store: DurableMemoryStore, per_session: int) -> list[str]:
    """Enqueue ``per_session`` next-turn inputs "<session>-<n>" for every session; their ids."""
    ids = []
    for index in range(per_session):
        for session_id in SESSIONS:
            pending = await store.enqueue_input(
                PendingInputDraft(session_id, TurnInput.text(f"{session_id}-{index}"))
            )
            ids.append(pending.input_id)
    return ids


async def input_state(store: DurableMemoryStore, input_id: str) -> PendingInputState:
    """The state of input ``input_id`` (looked up in every session)."""
    for session_id in SESSIONS:
        found = await store.get_input(session_id, input_id)
        if found is not None:
            return found.state
    raise AssertionError(f"no input {input_id!r}")


def chaining_provider(store: DurableMemoryStore, per_session: int, seen: list[str]) -> FunctionProvider:
    """A model that records the inputs it sees and, while answering "<s>-<n>", submits
    "<s>-<n+1>" (up to ``per_session`` inputs): every input becomes a turn of its own, and
    a session's next input arrives while its previous turn runs."""

    async def answer(request: LlmRequest) -> str:
        items = last_user_items(request)
        seen.extend(items)
        session_id, index = items[-1].rsplit("-", 1)
        if int(index) + 1 < per_session:
            await store.enqueue_input(
                PendingInputDraft(session_id, TurnInput.text(f"{session_id}-{int(index) + 1}"))
            )
        await anyio.lowlevel.checkpoint()  # let other sessions (and workers) interleave
        return f"answered {items[-1]}"

    return FunctionProvider(answer)


@pytest.mark.anyio
async def test_serve_runs_each_sessions_pending_inputs_once_in_submission_order() -> None:
    """serve(exit_when_idle) runs every pending input of 5 sessions once, merged per session in submission order."""
    store = DurableMemoryStore(FakeClock())
    seen: list[str] = []

    def answer(request: LlmRequest) -> str:
        seen.extend(last_user_items(request))
        return "ok"

    ids = await submit_all(store, per_session=3)
    async with durable_runtime(FunctionProvider(answer), store) as rt:
        with anyio.fail_after(GUARD_SECONDS):
            stats = await serve(rt, exit_when_idle=True, poll_interval=POLL)

    assert (stats.turns, stats.errors) == (5, 0)
    assert sorted(seen) == sorted(f"{s}-{i}" for s in SESSIONS for i in range(3))
    for session_id in SESSIONS:
        assert await committed_user_items(store, session_id) == [[f"{session_id}-{i}" for i in range(3)]]
    assert [await input_state(store, i) for i in ids] == [PendingInputState.COMPLETED] * len(ids)
    assert await store.list_sessions_with_pending_work() == []


@pytest.mark.anyio
async def test_serve_runs_input_arriving_during_a_turn_as_a_later_turn_in_order() -> None:
    """Input submitted while a session's turn runs becomes its next turn; stats.turns counts every turn."""
    store = DurableMemoryStore(FakeClock())
    seen: list[str] = []
    await submit_all(store, per_session=1)
    async with durable_runtime(chaining_provider(store, 4, seen), store) as rt:
        with anyio.fail_after(GUARD_SECONDS):
            stats = await serve(rt, concurrency=2, exit_when_idle=True, poll_interval=POLL)

    assert (stats.turns, stats.errors) == (20, 0)
    assert Counter(seen) == Counter(f"{s}-{i}" for s in SESSIONS for i in range(4))
    for session_id in SESSIONS:
        assert await committed_user_items(store, session_id) == [[f"{session_id}-{i}"] for i in range(4)]


@pytest.mark.anyio
async def test_two_workers_serving_one_store_never_run_an_input_twice() -> None:
    """Two runtimes serving the same store concurrently run every input exactly once, in per-session order."""
    store = DurableMemoryStore(FakeClock())
    seen_a: list[str] = []
    seen_b: list[str] = []
    await submit_all(store, per_session=1)
    async with (
        durable_runtime(chaining_provider(store, 4, seen_a), store, owner_id="worker-a") as rt_a,
        durable_runtime(chaining_provider(store, 4, seen_b), store, owner_id="worker-b") as rt_b,
    ):
        stats: dict[str, WorkerStats] = {}

        async def run(name: str, runtime: Runtime) -> None:
            stats[name] = await serve(runtime, exit_when_idle=True, poll_interval=POLL)

        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as group:
                group.start_soon(run, "a", rt_a)
                group.start_soon(run, "b", rt_b)

    expected = Counter(f"{s}-{i}" for s in SESSIONS for i in range(4))
    assert Counter(seen_a) + Counter(seen_b) == expected
    assert stats["a"].turns + stats["b"].turns == 20
    assert min(stats["a"].turns, stats["b"].turns) > 0  # both workers served
    assert stats["a"].errors == stats["b"].errors == 0
    for session_id in SESSIONS:
        assert await committed_user_items(store, session_id) == [[f"{session_id}-{i}"] for i in range(4)]


@pytest.mark.anyio
async def test_serve_picks_up_input_a_dead_worker_claimed_once_its_lease_expired() -> None:
    """Input claimed under a dead worker's lease is skipped while that lease lives and served once after it expires."""
    clock = FakeClock()
    store = DurableMemoryStore(clock)
    seen: list[str] = []

    def answer(request: LlmRequest) -> str:
        seen.extend(last_user_items(request))
        return "ok"

    await submit_all(store, per_session=1)
    dead = await store.try_claim_lease("s0", LeaseOwner("dead-worker", "gone"))
    assert isinstance(dead, LeaseAcquired)
    abandoned = await store.claim_next_turn_inputs(dead.lease.fence)
    assert abandoned is not None
    async with durable_runtime(FunctionProvider(answer), store) as rt:
        with anyio.fail_after(GUARD_SECONDS):
            before = await serve(rt, exit_when_idle=True, poll_interval=POLL)
            clock.advance(31.0)  # past the dead worker's 30 s TTL
            after = await serve(rt, exit_when_idle=True, poll_interval=POLL)

    assert (before.turns, after.turns) == (4, 1)
    assert Counter(seen) == Counter(f"{s}-0" for s in SESSIONS)
    record = await store.load_session("s0")
    assert record is not None
    assert {node.turn_id for node in record.nodes} == {f"input-{abandoned.inputs[0].input_id}"}
    assert await input_state(store, abandoned.inputs[0].input_id) is PendingInputState.COMPLETED


@pytest.mark.anyio
async def test_serve_keeps_at_most_max_open_sessions_open() -> None:
    """Served sessions stay open (no history reload next turn) up to max_open_sessions; older ones are parked."""
    store = DurableMemoryStore(FakeClock())
    await submit_all(store, per_session=1)
    async with durable_runtime(FunctionProvider(lambda request: "ok"), store) as rt:
        with anyio.fail_after(GUARD_SECONDS):
            stats = await serve(rt, exit_when_idle=True, poll_interval=POLL, max_open_sessions=2)
        open_ids = rt.open_session_ids()
    assert stats.turns == len(SESSIONS)
    assert len(open_ids) == 2
    assert set(open_ids) <= set(SESSIONS)
