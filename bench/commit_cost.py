"""Commit cost benchmark: what a durable store costs per turn, and how fast one worker serves.

Run by hand (never as a test)::

    .venv/bin/python bench/commit_cost.py                 # every scenario, each in its own process
    .venv/bin/python bench/commit_cost.py --dsn postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/commit_cost.py --scenario commit --target sqlite-shm   # one, in this process

Scenarios, each in a fresh process, with an instant in-process provider (one text answer
per turn) and the inline effect host:

* ``commit`` on ``sqlite-disk`` (a file under ``/tmp``), ``sqlite-shm`` (under ``/dev/shm``),
  both with the default ``durability = "full"``, and ``postgres`` (a scratch database created
  on the server and dropped afterwards): sessions are seeded to 10, 100 and 1000 turns of
  history, then the next turns are run (``session.turn(...).run()``, a durable foreground turn)
  and measured: the ``commit`` phase latency from the kernel's phase probe, and the database
  transactions of the commit phase and of the whole turn. SQLite transactions are the
  ``BEGIN`` statements the store's connection runs (``database.set_trace``; ``BEGIN
  IMMEDIATE`` = write, ``BEGIN`` = read); PostgreSQL transactions are the store's
  ``Database.run`` calls (one transaction each), cross-checked against the server's
  ``pg_stat_database.xact_commit`` delta for the scratch database;
* ``claim`` on ``sqlite-shm`` and ``postgres``: pending inputs served per second by one
  worker (``lash_core.worker.serve``) with the instant provider: 2000 sessions with one
  pending input each (every input is a turn of its own), and 50 sessions with 40 inputs
  each (a drain merges a session's pending inputs into one turn);
* ``serve`` on ``sqlite-shm`` and ``postgres``: one input served by ``serve`` (one worker,
  one pending input) in sessions of 10 and of 1000 turns of history, with its transactions
  (``serve`` parks a session after each drain, so the next drain opens it again).

Each line also gives the CPU time of the benchmark process (all threads) per turn, which
bounds what one worker can do on an idle core whatever else the machine runs. Prints one JSON
line per measurement, then one describing the machine (with its load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
HISTORY_LENGTHS = (10, 100, 1000)
# Sessions per history length, seeded to that length; MEASURED_TURNS turns are then measured
# at each length, spread over its sessions (10 -> 20, 100 -> 120, 1000 -> 1050 turns at most).
SESSIONS_PER_LENGTH = {10: 20, 100: 10, 1000: 4}
MEASURED_TURNS = int(os.environ.get("LASH_BENCH_MEASURED", "200"))
TARGETS = ("sqlite-disk", "sqlite-shm", "postgres")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Transactions:
    """Timestamped transactions of the store under test (perf_counter clock, like the phase probe)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    def between(self, start: float, end: float) -> Counter[str]:
        return Counter(kind for at, kind in self.events if start <= at <= end)

    def attach_sqlite(self) -> Callable[[str], None]:
        """A ``set_trace`` callback recording every ``BEGIN``, named ``write:``/``read:`` plus the
        store method whose transaction it opens (found on the store thread's stack)."""

        def trace(statement: str) -> None:
            if not statement.startswith("BEGIN"):
                return
            at = time.perf_counter()
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_name not in ("_run", "_run_unlocked", "write"):
                frame = frame.f_back
            operation = frame.f_locals.get("operation") if frame is not None else None
            name = getattr(operation, "__qualname__", "?").split(".<locals>")[0]
            kind = "write" if statement.startswith("BEGIN IMMEDIATE") else "read"
            self.events.append((at, f"{kind}:{name}"))

        return trace

    def attach_postgres(self) -> None:
        from lash_store_postgres._db import Database

        run = Database.run
        events = self.events

        async def counted(db: Any, operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
            events.append((time.perf_counter(), operation))
            return await run(db, operation, fn, *args, **kwargs)

        Database.run = counted  # type: ignore[method-assign]


class Scratch:
    """Where one scenario's store lives, created fresh and removed afterwards."""

    def __init__(self, target: str, dsn: str) -> None:
        self.target = target
        self.dsn = dsn
        self.directory: str | None = None
        self.database: str | None = None

    def __enter__(self) -> Scratch:
        if self.target == "postgres":
            import psycopg

            self.database = f"lash_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
        else:
            parent = "/dev/shm" if self.target == "sqlite-shm" else "/tmp"
            self.directory = tempfile.mkdtemp(prefix="lash-bench-", dir=parent)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.database is not None:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def scratch_dsn(self) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.dsn)
        params["dbname"] = self.database
        return make_conninfo(**params)

    def store_config(self) -> dict[str, Any]:
        if self.target == "postgres":
            return {
                "type": "postgres",
                "settings": {"dsn": self.scratch_dsn, "schema": "lash", "max_pool_size": 8},
            }
        assert self.directory is not None
        return {"type": "sqlite", "settings": {"path": os.path.join(self.directory, "sessions.db")}}

    def xact_commit(self) -> int:
        """The server's committed-transaction counter of the scratch database."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (self.database,)
            ).fetchone()
        return int(row[0]) if row else 0


def _runtime(scratch: Scratch, probe: Any = None) -> Any:
    from lash_core.model import LlmResponse, LlmTextPart, TerminalReason, TokenUsage
    from lash_core.testing import scripted_runtime

    if scratch.target == "postgres":
        from lash_store_postgres import plugin as store_plugin
    else:
        from lash_store_sqlite import plugin as store_plugin

    answer = LlmResponse(
        (LlmTextPart("done"),),
        TokenUsage(input_tokens=12, output_tokens=3),
        TerminalReason.STOP,
        model="bench",
    )

    class InstantProvider:
        async def complete(self, request: Any, on_event: Any = None) -> LlmResponse:
            return answer

    return scripted_runtime(
        InstantProvider(),
        plugins=[store_plugin],
        config={"store": scratch.store_config(), "owner_id": "bench"},
        phase_probe=probe,
    )


async def _commit_scenario(target: str, dsn: str) -> list[dict[str, Any]]:
    import anyio

    results: list[dict[str, Any]] = []
    transactions = Transactions()
    connections = Counter[str]()
    if target == "postgres":
        transactions.attach_postgres()
        _count_connections(connections)
    commits: list[tuple[float, float]] = []

    def probe(name: str, started: float, ended: float) -> None:
        if name == "commit":
            commits.append((started, ended))

    session_ids = {
        length: [f"h{length}-{n}" for n in range(SESSIONS_PER_LENGTH[length])] for length in HISTORY_LENGTHS
    }
    with Scratch(target, dsn) as scratch:
        # Seed with one runtime, measure with another: on PostgreSQL the seeding connections are
        # closed before the server's counter is read (a backend reports its statistics lazily,
        # at the latest when it exits).
        seed_started = time.perf_counter()
        async with _runtime(scratch) as runtime:

            async def seed(session_id: str, turns: int) -> None:
                session = await runtime.session(session_id)
                for _ in range(turns):
                    await session.turn("hi").run()

            async with anyio.create_task_group() as group:
                for length, ids in session_ids.items():
                    for session_id in ids:
                        group.start_soon(seed, session_id, length)
        seed_seconds = time.perf_counter() - seed_started
        seeded = sum(length * len(ids) for length, ids in session_ids.items())
        server: dict[str, Any] = {}
        if target == "postgres":
            await anyio.sleep(1.0)
            xact_before = scratch.xact_commit()
            runs_before = len(transactions.events)
            connections.clear()

        latencies: dict[int, list[float]] = {length: [] for length in HISTORY_LENGTHS}
        turn_times: dict[int, list[float]] = {length: [] for length in HISTORY_LENGTHS}
        commit_tx: dict[int, Counter[str]] = {length: Counter() for length in HISTORY_LENGTHS}
        turn_tx: dict[int, Counter[str]] = {length: Counter() for length in HISTORY_LENGTHS}
        cpu: dict[int, float] = dict.fromkeys(HISTORY_LENGTHS, 0.0)
        async with _runtime(scratch, probe) as runtime:
            if target != "postgres":
                await runtime.store.database.set_trace(transactions.attach_sqlite())
            sessions = {
                length: [await runtime.session(session_id) for session_id in ids]
                for length, ids in session_ids.items()
            }
            # Interleaved (one turn of each length in turn), so load on the machine hits all alike.
            for round_number in range(MEASURED_TURNS):
                for length in HISTORY_LENGTHS:
                    group_sessions = sessions[length]
                    session = group_sessions[round_number % len(group_sessions)]
                    cpu_started = time.process_time()
                    started = time.perf_counter()
                    await session.turn("hi").run()
                    ended = time.perf_counter()
                    cpu[length] += time.process_time() - cpu_started
                    commit_started, commit_ended = commits[-1]
                    latencies[length].append((commit_ended - commit_started) * 1e6)
                    turn_times[length].append((ended - started) * 1e6)
                    commit_tx[length] += transactions.between(commit_started, commit_ended)
                    turn_tx[length] += transactions.between(started, ended)
        if target == "postgres":
            await anyio.sleep(1.0)
            # The server's count over the measuring runtime's life, less one set-up statement per
            # pooled connection and the counter read before it, per store transaction (1.0 when
            # the server runs nothing but the store's transactions).
            server_delta = scratch.xact_commit() - xact_before
            runs = len(transactions.events) - runs_before
            server = {
                "server_xact_commit": server_delta,
                "store_transactions": runs,
                "pool_connections": sum(connections.values()),
                "server_xact_per_store_transaction": round(
                    (server_delta - sum(connections.values()) - 1) / runs, 2
                ),
            }
        for length in HISTORY_LENGTHS:
            measured = len(latencies[length])
            samples = latencies[length]
            results.append(
                {
                    "scenario": "commit",
                    "target": target,
                    "history_turns": length,
                    "sessions": len(session_ids[length]),
                    "measured_turns": measured,
                    "commit_median_us": round(statistics.median(samples), 1),
                    "commit_p90_us": round(_percentile(samples, 0.9), 1),
                    "commit_p99_us": round(_percentile(samples, 0.99), 1),
                    "turn_median_us": round(statistics.median(turn_times[length]), 1),
                    "turn_cpu_us": round(cpu[length] / measured * 1e6, 1),
                    "commit_transactions_per_turn": round(sum(commit_tx[length].values()) / measured, 2),
                    "turn_transactions_per_turn": round(sum(turn_tx[length].values()) / measured, 2),
                    "turn_transactions": {
                        kind: round(count / measured, 2) for kind, count in sorted(turn_tx[length].items())
                    },
                    "seed_turns_per_s": round(seeded / seed_seconds, 1),
                    **server,
                }
            )
    return results


def _count_connections(counter: Counter[str]) -> None:
    """Count the connections the PostgreSQL store's pools open (each runs one set-up statement)."""
    from lash_store_postgres._db import Database

    configure = Database._configure

    def counted(db: Any, conn: Any) -> None:
        counter["connections"] += 1
        configure(db, conn)

    Database._configure = counted  # type: ignore[method-assign]


async def _claim_scenario(target: str, dsn: str) -> list[dict[str, Any]]:
    from lash_core.model import TurnInput
    from lash_core.store.inputs import PendingInputDraft
    from lash_core.worker import serve

    results: list[dict[str, Any]] = []
    shapes = (("one input per session", 2000, 1), ("40 inputs per session", 50, 40))
    transactions = Transactions()
    if target == "postgres":
        transactions.attach_postgres()
    for label, session_count, per_session in shapes:
        for concurrency in (4, 16):
            with Scratch(target, dsn) as scratch:
                runtime = _runtime(scratch)
                async with runtime:
                    store = runtime.store
                    for index in range(per_session):
                        for number in range(session_count):
                            await store.enqueue_input(
                                PendingInputDraft(f"s{number}", TurnInput.text(f"input {index}"))
                            )
                    if target != "postgres":
                        await store.database.set_trace(transactions.attach_sqlite())
                    transactions.events.clear()
                    started = time.perf_counter()
                    cpu_started = time.process_time()
                    stats = await serve(
                        runtime, concurrency=concurrency, poll_interval=0.005, exit_when_idle=True
                    )
                    elapsed = time.perf_counter() - started
                    cpu = time.process_time() - cpu_started
                    served = session_count * per_session
                    pending = await store.list_sessions_with_pending_work()
                    assert not pending and stats.errors == 0, (pending[:5], stats)
                    if target != "postgres":
                        await store.database.set_trace(None)
                    kinds = transactions.between(started, started + elapsed + 1)
                    results.append(
                        {
                            "scenario": "claim",
                            "target": target,
                            "shape": label,
                            "concurrency": concurrency,
                            "inputs": served,
                            "turns": stats.turns,
                            "seconds": round(elapsed, 3),
                            "inputs_per_s": round(served / elapsed, 1),
                            "turns_per_s": round(stats.turns / elapsed, 1),
                            # CPU time of this process (all its threads) per turn: what bounds the
                            # throughput of one worker on an idle core.
                            "cpu_us_per_turn": round(cpu / stats.turns * 1e6, 1),
                            "transactions_per_turn": round(sum(kinds.values()) / stats.turns, 2),
                            "transactions": {
                                kind: round(count / stats.turns, 2) for kind, count in sorted(kinds.items())
                            },
                        }
                    )
    return results


async def _serve_history_scenario(target: str, dsn: str) -> list[dict[str, Any]]:
    """A turn served by ``serve`` (one pending input, one worker) at 10 and 1000 turns of history."""
    from lash_core.model import TurnInput
    from lash_core.store.inputs import PendingInputDraft
    from lash_core.worker import serve

    lengths, per_length, rounds = (10, 1000), 2, 20
    transactions = Transactions()
    if target == "postgres":
        transactions.attach_postgres()
    results: list[dict[str, Any]] = []
    with Scratch(target, dsn) as scratch:
        async with _runtime(scratch) as runtime:
            for length in lengths:
                for n in range(per_length):
                    session = await runtime.session(f"h{length}-{n}")
                    for _ in range(length):
                        await session.turn("hi").run()
        times: dict[int, list[float]] = {length: [] for length in lengths}
        kinds: dict[int, Counter[str]] = {length: Counter() for length in lengths}
        async with _runtime(scratch) as runtime:
            if target != "postgres":
                await runtime.store.database.set_trace(transactions.attach_sqlite())
            for round_number in range(rounds):
                for length in lengths:
                    session_id = f"h{length}-{round_number % per_length}"
                    await runtime.store.enqueue_input(PendingInputDraft(session_id, TurnInput.text("hi")))
                    started = time.perf_counter()
                    stats = await serve(runtime, concurrency=1, poll_interval=0.001, exit_when_idle=True)
                    ended = time.perf_counter()
                    assert stats.turns == 1 and stats.errors == 0, stats
                    times[length].append((ended - started) * 1e6)
                    kinds[length] += transactions.between(started, ended)
    for length in lengths:
        results.append(
            {
                "scenario": "serve",
                "target": target,
                "history_turns": length,
                "served_turns": rounds,
                "served_turn_median_us": round(statistics.median(times[length]), 1),
                "transactions_per_turn": round(sum(kinds[length].values()) / rounds, 2),
                "transactions": {
                    kind: round(count / rounds, 2) for kind, count in sorted(kinds[length].items())
                },
            }
        )
    return results


def _postgres_reachable(dsn: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip()}"
    return None


def _machine() -> dict[str, Any]:
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "machine": platform.node(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=["commit", "claim", "serve"], help="run one scenario in this process"
    )
    parser.add_argument("--target", choices=TARGETS, help="with --scenario: the store")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("LASH_BENCH_POSTGRES_DSN")
        or os.environ.get("LASH_TEST_POSTGRES_DSN")
        or DEFAULT_DSN,
        help="a PostgreSQL server where a scratch database may be created (and dropped)",
    )
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    if args.scenario:
        import anyio

        run = {"commit": _commit_scenario, "claim": _claim_scenario, "serve": _serve_history_scenario}[
            args.scenario
        ]
        for result in anyio.run(run, args.target, args.dsn, backend=args.backend):
            print(json.dumps(result), flush=True)
        return
    postgres_problem = _postgres_reachable(args.dsn)
    plan = [("commit", target) for target in TARGETS] + [
        (scenario, target) for scenario in ("claim", "serve") for target in ("sqlite-shm", "postgres")
    ]
    for scenario, target in plan:
        if target == "postgres" and postgres_problem:
            print(
                json.dumps({"scenario": scenario, "target": target, "skipped": postgres_problem}), flush=True
            )
            continue
        command = [
            sys.executable,
            __file__,
            "--scenario",
            scenario,
            "--target",
            target,
            "--dsn",
            args.dsn,
            "--backend",
            args.backend,
        ]
        output = subprocess.check_output(command, text=True)
        for line in output.strip().splitlines():
            if line.startswith("{"):
                print(line, flush=True)
    print(json.dumps({"scenario": "machine", **_machine()}), flush=True)


if __name__ == "__main__":
    main()
