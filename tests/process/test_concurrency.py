"""Concurrency with real processes: three workers serving one store.

Three ``worker_main.py`` processes (two on asyncio, one on trio) serve 20 sessions while
the test submits 200 inputs at random sessions, some of them twice with the same source
key (while still pending, or after they completed). Every input must run exactly once
(one committed turn holds it, its tool steps ran once, the workers ran exactly the
committed turns), and each session's committed history must hold its inputs in
submission order. On SQLite (one file, three processes) and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

import anyio
import pytest

from lash_core.store.inputs import PendingInputState

SESSIONS = [f"s{number:02d}" for number in range(20)]
INPUTS = 200
RESUBMITTED = 30
WORKERS = 3
SEED = os.environ.get("LASH_PROCESS_TEST_SEED", "lash-process-concurrency-1")
CASE_SECONDS = 150
# Nobody is killed here: a lease long enough that a starved machine does not lose it mid-turn
# (a lost lease cancels the turn after its tools ran, and another worker runs them again).
LEASE_TTL_MS, RENEW_MS = 5000, 500
_STOPPED = re.compile(r"^stopped turns=(\d+) errors=(\d+)$")


@pytest.mark.anyio
async def test_three_workers_run_every_input_once_in_submission_order(
    store_target: Any, workers: Any, checker: Any, helpers: Any
) -> None:
    """3 worker processes, 20 sessions, 200 inputs (30 submitted twice): each input runs once,
    each session's turns hold its inputs in submission order."""
    rng = random.Random(f"{SEED}:{store_target.kind}")
    counters = dict.fromkeys(SESSIONS, 0)
    submissions: list[tuple[str, str, int]] = []  # (session, label, tools)
    for _ in range(INPUTS):
        session_id = rng.choice(SESSIONS)
        submissions.append((session_id, f"{session_id}#{counters[session_id]}", rng.choice((0, 0, 1, 2))))
        counters[session_id] += 1
    # Each resubmission goes somewhere after its original: soon (likely still pending) or much later.
    events: list[tuple[str, str, int]] = list(submissions)
    for original in rng.sample(range(INPUTS), RESUBMITTED):
        position = min(len(events), events.index(submissions[original]) + 1 + rng.choice((0, 1, 50, 150)))
        events.insert(position, submissions[original])
    submitted = helpers.Submitted()

    with anyio.fail_after(CASE_SECONDS):
        async with store_target.opened() as store, workers:
            backends = ("asyncio", "trio", "asyncio")
            pool = [
                await workers.spawn(
                    f"w{n}",
                    backend=backends[n],
                    concurrency=4,
                    quiet=True,
                    ttl_ms=LEASE_TTL_MS,
                    renew_ms=RENEW_MS,
                )
                for n in range(WORKERS)
            ]
            for worker in pool:
                await worker.go()
            for session_id, label, tools in events:
                await submitted.submit(store, session_id, label, tools, source_key=f"key-{label}")
                if rng.random() < 0.2:
                    await anyio.sleep(rng.uniform(0, 0.02))  # let the workers interleave with submission
            assert len(submitted.input_ids) == INPUTS

            with anyio.fail_after(90):
                for session_id, labels in submitted.order.items():
                    for label in labels:
                        while True:
                            row = await store.get_input(session_id, submitted.input_ids[label])
                            if row.state is PendingInputState.COMPLETED:
                                break
                            await anyio.sleep(0.02)
            ran = errors = 0
            for worker in pool:
                await worker.stop()
                stopped = _STOPPED.match(worker.lines[-1])
                assert stopped is not None, f"{worker.name} ended with {worker.lines[-1:]}"
                ran += int(stopped[1])
                errors += int(stopped[2])
                assert int(stopped[2]) == 0, f"{worker.name} had failing turns:\n{worker.stderr_tail()}"
            snapshot = await checker.check(store_target, store, submitted)

    # The checker: each session's committed inputs are its submission order, every completed
    # input is in exactly one committed turn, every turn whole.
    committed = snapshot.committed_labels()
    assert len(committed) == len(set(committed)) == INPUTS
    assert snapshot.completed() == set(submitted.input_ids)
    for session_id, labels in submitted.order.items():
        in_history = [label for _, turn_labels in snapshot.turns[session_id] for label in turn_labels]
        assert in_history == labels, f"{session_id}: history order {in_history} != submission order {labels}"
    turns = sum(len(session_turns) for session_turns in snapshot.turns.values())
    assert ran == turns, f"the workers ran {ran} turns, {turns} are committed"
    # Every tool step ran once, in the process whose result was committed.
    appended = helpers.read_tool_log(workers.tool_log)
    assert {entry: [pid] for entry, pid in snapshot.tool_results.items()} == appended
    assert len(snapshot.owners) >= 2, f"only {dict(snapshot.owners)} served turns"
    print(
        f"\n{store_target.kind}: {INPUTS} inputs (+{RESUBMITTED} resubmitted) in {turns} turns; "
        f"turns per worker {dict(sorted(snapshot.owners.items()))}"
    )
