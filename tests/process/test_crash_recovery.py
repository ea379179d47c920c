"""Crash recovery with real processes: workers killed with SIGKILL at seeded random moments.

A chain of worker processes (``worker_main.py``) serves three sessions of one store while
the test, like three chat users, submits each session's next input once the previous one
completed. Each worker is killed in turn, at a moment drawn from a seeded plan: paused in a
model call, in a tool (after its side effect), inside the commit transaction (after its
writes, before it commits), right after the commit (lease still held), or after a random
delay. The next worker was spawned ahead of time and is started right after the kill.

After every kill, with no worker running, the store is read directly and must show only
whole turns (head revision = turn count = recorded turn commits = the turns in the history;
each turn its input, one call and one result per tool step and its final answer), a
history a provider accepts (every tool call answered exactly once), and every completed
input in exactly one turn, in submission order. The input the killed worker was serving
is not completed (unless it was killed after the commit) and no part of its turn is
visible; the next worker completes it exactly once, not before the dead worker's lease
expired when the dead worker could not be proven dead (an opaque lease owner). Tool side
effects repeat only in processes that were killed; with the journaling effect host, only
when the kill cut the tool call itself.

Each case runs ``LASH_PROCESS_TEST_KILLS`` kills (default 13; four cases: SQLite and
PostgreSQL, inline and journaling effects). ``LASH_PROCESS_TEST_SEED`` changes the plan.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from lash_core.store.inputs import PendingInputState

SESSIONS = ("c0", "c1", "c2")
KILLS_PER_CASE = int(os.environ.get("LASH_PROCESS_TEST_KILLS", "13"))
SEED = os.environ.get("LASH_PROCESS_TEST_SEED", "lash-process-crash-1")
CASE_SECONDS = 150
KILL_KINDS = ("model", "tool", "commit", "committed", "random")
TTL_MS, RENEW_MS = 400, 100


@dataclass(frozen=True)
class Kill:
    """Where one worker dies: paused at the ``nth`` marker of ``phase``, or after ``delay``
    seconds of serving (``phase == "random"``)."""

    phase: str
    nth: int
    delay: float
    opaque: bool
    backend: str

    @property
    def pause(self) -> str:
        return "" if self.phase == "random" else f"{self.phase}:{self.nth}"


def kill_plan(rng: random.Random, kills: int) -> list[Kill]:
    """Every kind of kill at least twice (when there are enough kills), the rest at random."""
    kinds = list(KILL_KINDS) * 2 if kills >= 2 * len(KILL_KINDS) else []
    kinds += rng.choices(KILL_KINDS, k=kills - len(kinds))
    rng.shuffle(kinds)
    return [
        Kill(
            kind,
            rng.randint(1, 3),
            round(rng.uniform(0.02, 0.5), 3),
            rng.random() < 0.5,
            rng.choice(("asyncio", "trio")),
        )
        for kind in kinds
    ]


@dataclass
class Victim:
    """An input a killed worker was serving."""

    label: str
    session_id: str
    killed: str  # the dead worker's owner id
    phase: str  # the kill's phase ("random" or "claimed": not the paused one)
    next_worker: str


@dataclass
class DeadLease:
    """A session lease a killed worker held; turns committed later must come after its expiry."""

    session_id: str
    expires_at_ms: int
    turns_before: set[str] = field(default_factory=set)


def session_of(label_or_entry: str) -> str:
    return label_or_entry.split("#")[0]


async def feed(store: Any, submitted: Any, session_id: str, rng: random.Random, stop: anyio.Event) -> None:
    """Submit the session's inputs one at a time, each once the previous one completed."""
    number = 0
    while not stop.is_set():
        label = f"{session_id}#{number}"
        pending = await submitted.submit(store, session_id, label, rng.choice((0, 1, 1, 2)), source_key=label)
        while True:
            row = await store.get_input(session_id, pending.input_id)
            if row.state is PendingInputState.COMPLETED:
                break
            await anyio.sleep(0.01)
        number += 1


@pytest.mark.anyio
@pytest.mark.parametrize("effects", ["inline", "journal"])
async def test_killed_workers_leave_whole_turns_and_the_next_worker_completes_their_input_once(
    store_target: Any, workers: Any, checker: Any, helpers: Any, effects: str
) -> None:
    """SIGKILLed workers (mid-model-call, mid-tool, mid-commit, after the commit, at random
    moments) leave only whole turns; every input completes exactly once, in order."""
    case = f"{SEED}:{store_target.kind}:{effects}"
    rng = random.Random(case)
    plan = kill_plan(rng, KILLS_PER_CASE)
    submitted = helpers.Submitted()
    victims: list[Victim] = []
    dead_leases: list[DeadLease] = []
    paused_at: dict[int, tuple[str, str, str]] = {}  # killed pid -> (phase, session, detail)
    killed_pids: set[int] = set()
    history: list[str] = []
    stop_feeding = anyio.Event()

    def spawn_for(index: int) -> Any:
        kill = plan[index] if index < len(plan) else Kill("none", 0, 0, False, "asyncio")
        return workers.spawn(
            f"w{index}",
            opaque=kill.opaque,
            effects=effects,
            backend=kill.backend,
            concurrency=3,
            ttl_ms=TTL_MS,
            renew_ms=RENEW_MS,
        )

    def context() -> str:
        return f"case {case}, kills so far: {history}"

    async def wait_completed(labels: list[str]) -> None:
        for label in labels:
            while True:
                row = await store.get_input(session_of(label), submitted.input_ids[label])
                if row.state is PendingInputState.COMPLETED:
                    break
                await anyio.sleep(0.01)

    def check_after_kill(snapshot: Any) -> None:
        committed_turns = {
            (session_id, turn_id) for session_id, turns in snapshot.turns.items() for turn_id, _ in turns
        }
        for dead in dead_leases:
            for session_id, turn_id in committed_turns:
                if session_id == dead.session_id and turn_id not in dead.turns_before:
                    at = snapshot.commit_times[(session_id, turn_id)]
                    assert at >= dead.expires_at_ms, (
                        f"turn {turn_id} of {session_id} committed at {at}, before the dead worker's lease "
                        f"expired at {dead.expires_at_ms}; {context()}"
                    )

    with anyio.fail_after(CASE_SECONDS):
        async with store_target.opened() as store, workers:
            async with anyio.create_task_group() as feeders:
                for number, session_id in enumerate(SESSIONS):
                    session_rng = random.Random(f"{case}:feed:{number}")
                    feeders.start_soon(feed, store, submitted, session_id, session_rng, stop_feeding)
                worker = await spawn_for(0)
                for index, kill in enumerate(plan):
                    outstanding = [v.label for v in victims if v.next_worker == worker.name]
                    await worker.go(
                        pause=kill.pause,
                        arm_after=",".join(submitted.input_ids[label] for label in outstanding),
                    )
                    standby = await spawn_for(index + 1)
                    marker: tuple[str, str, str] | None = None
                    if kill.phase == "random":
                        with anyio.fail_after(60):
                            await wait_completed(outstanding)
                        await anyio.sleep(kill.delay)
                    else:
                        line = await worker.wait_line(lambda text: text.startswith("paused "), within=60)
                        _, phase, session_id, detail = worker.lines[line].split()
                        marker = (phase, session_id, detail)
                        paused_at[worker.pid] = marker
                    await worker.kill()
                    await store_target.settle(worker)
                    killed_pids.add(worker.pid)
                    history.append(f"{worker.name}@{marker or ('random', kill.delay)}")

                    # The dead worker's leases, read first (they expire within the TTL).
                    leases = {session_id: await store.load_lease(session_id) for session_id in SESSIONS}
                    for session_id, lease in leases.items():
                        if lease is not None and lease.owner.owner_id == worker.name and kill.opaque:
                            record = await store.load_session(session_id)
                            turns_before = {node.turn_id for node in (record.nodes if record else ())}
                            dead_leases.append(DeadLease(session_id, lease.expires_at_ms, turns_before))
                    snapshot = await checker.check(store_target, store, submitted)
                    check_after_kill(snapshot)

                    # The inputs the previous kill left behind were completed by this worker, once.
                    for victim in victims:
                        if victim.next_worker == worker.name and marker is not None:
                            assert snapshot.states[victim.label] is PendingInputState.COMPLETED, (
                                f"{victim.label} left by {victim.killed} was not completed by {worker.name}; "
                                f"{context()}"
                            )
                    # The input being served when the worker died.
                    if marker is not None:
                        phase, session_id, detail = marker
                        label = (
                            submitted.label_of_turn(detail)
                            if phase in ("commit", "committed")
                            else detail.split(":")[0].split("/")[0]
                        )
                        in_history = [
                            t for t, labels in snapshot.turns.get(session_id, []) if label in labels
                        ]
                        if phase == "committed":
                            assert snapshot.states[label] is PendingInputState.COMPLETED and in_history, (
                                f"{label}: killed after its commit, yet not committed; {context()}"
                            )
                        else:
                            assert snapshot.states[label] is not PendingInputState.COMPLETED, context()
                            assert not in_history, f"{label}: a partial turn is visible; {context()}"
                            assert label in snapshot.claimed, (
                                f"{label} is not under the dead claim; {context()}"
                            )
                            victims.append(Victim(label, session_id, worker.name, phase, standby.name))
                    for label in sorted(snapshot.claimed):
                        if not any(v.label == label and v.next_worker == standby.name for v in victims):
                            victims.append(
                                Victim(label, session_of(label), worker.name, "claimed", standby.name)
                            )
                    worker = standby

                # The last worker serves without a pause until every input completed.
                await worker.go()
                stop_feeding.set()
            with anyio.fail_after(60):
                await wait_completed([label for labels in submitted.order.values() for label in labels])
            await worker.stop()

            snapshot = await checker.check(store_target, store, submitted)
            check_after_kill(snapshot)

    # Every input completed exactly once, in submission order (the checker), each victim by
    # the worker started after the kill.
    assert snapshot.completed() == set(submitted.input_ids), context()
    answered_by = snapshot.answered
    for victim in victims:
        if effects == "inline" or victim.phase in ("model", "tool"):
            assert answered_by[victim.label] == victim.next_worker, (
                f"{victim.label} (left by {victim.killed} at {victim.phase}) was answered by "
                f"{answered_by[victim.label]}, not {victim.next_worker}; {context()}"
            )
        elif victim.phase == "commit":
            # The journal replays every effect of a turn killed in its commit: the dead worker's answer.
            assert answered_by[victim.label] == victim.killed, context()

    # Tool side effects: the committed result is the last execution; earlier executions were
    # in killed processes (or ones that lost a lease on a starved machine, which cancels the
    # turn); with the journal, a kill elsewhere in the turn does not repeat a finished call.
    appended = helpers.read_tool_log(workers.tool_log)
    assert set(appended) == set(snapshot.tool_results), "tool entries were run but never committed"
    lost_lease = {worker.pid for worker in workers.spawned if worker.lost_a_lease()}
    for entry, pid in snapshot.tool_results.items():
        pids = appended[entry]
        assert pids[-1] == pid, f"{entry}: appended by {pids}, the committed result came from {pid}"
        for earlier in pids[:-1]:
            assert earlier in killed_pids | lost_lease, (
                f"{entry}: repeated by {earlier}, which was not killed"
            )
            marker = paused_at.get(earlier)
            if effects == "journal" and marker is not None and marker[1] == session_of(entry):
                assert earlier in lost_lease or (marker[0], marker[2]) == ("tool", entry), (
                    f"{entry}: re-run after {earlier} was killed at {marker}; the journal should have replayed it"
                )

    kinds = [kill.phase for kill in plan]
    print(
        f"\n{case}: {len(plan)} kills ({', '.join(f'{k}={kinds.count(k)}' for k in KILL_KINDS)}), "
        f"{len(submitted.input_ids)} inputs, {sum(len(t) for t in snapshot.turns.values())} turns, "
        f"{len(victims)} interrupted inputs re-served"
    )


# -- recovery of what a dead worker held ------------------------------------------------


async def _completed_within(store: Any, submitted: Any, labels: list[str], seconds: float) -> bool:
    with anyio.move_on_after(seconds):
        for label in labels:
            while True:
                row = await store.get_input(session_of(label), submitted.input_ids[label])
                if row.state is PendingInputState.COMPLETED:
                    break
                await anyio.sleep(0.02)
        return True
    return False


@pytest.mark.anyio
async def test_input_queued_behind_a_crashed_turn_runs_after_it_with_the_journaling_host(
    store_target: Any, workers: Any, checker: Any, helpers: Any
) -> None:
    """A worker killed inside a tool call of input A; B is submitted meanwhile; the next
    worker (journaling host) must complete A and B."""
    submitted = helpers.Submitted()
    with anyio.fail_after(60):
        async with store_target.opened() as store, workers:
            first = await workers.spawn("w0", effects="journal", ttl_ms=TTL_MS, renew_ms=RENEW_MS)
            second = await workers.spawn("w1", effects="journal", ttl_ms=TTL_MS, renew_ms=RENEW_MS)
            await submitted.submit(store, "c0", "c0#0", 1)
            await first.go(pause="tool:1")
            await first.wait_line(lambda text: text.startswith("paused tool c0 c0#0/0"))
            await first.kill()
            await store_target.settle(first)
            await submitted.submit(store, "c0", "c0#1", 0)
            await second.go()
            done = await _completed_within(store, submitted, ["c0#0", "c0#1"], 3 * TTL_MS / 1000 + 1)
            assert done, f"A and B did not complete:\n{second.stderr_tail(3)}"
            await checker.check(store_target, store, submitted)


@pytest.mark.anyio
async def test_a_dead_local_worker_is_taken_over_before_its_lease_expires(
    store_target: Any, workers: Any, checker: Any, helpers: Any
) -> None:
    """A worker on this machine killed (and reaped) mid-turn, lease TTL 4 s: the next worker
    proves it dead and completes the input well before the lease would expire."""
    submitted = helpers.Submitted()
    with anyio.fail_after(60):
        async with store_target.opened() as store, workers:
            first = await workers.spawn("w0", ttl_ms=4000, renew_ms=1000)
            second = await workers.spawn("w1", ttl_ms=4000, renew_ms=1000)
            await submitted.submit(store, "c0", "c0#0", 1)
            await first.go(pause="tool:1")
            await first.wait_line(lambda text: text.startswith("paused tool"))
            await first.kill()
            await store_target.settle(first)
            await second.go()
            assert await _completed_within(store, submitted, ["c0#0"], 2.0), "still waiting for the lease"
            await checker.check(store_target, store, submitted)
