"""Process tests: real worker processes (``worker_main.py``) serving a real store.

Fixtures:

* ``store_target``: the store the workers share, parametrized over ``sqlite`` (a file in the
  test's temp directory) and ``postgres`` (a fresh schema of the server at
  ``LASH_TEST_POSTGRES_DSN``, default ``postgresql://postgres@127.0.0.1:5432/test``,
  dropped afterwards; skipped when the server is unreachable, failed under
  ``LASH_REQUIRE_SERVICES=1``);
* ``workers``: a :class:`WorkerPool` spawning ``worker_main.py`` processes; enter it with
  ``async with workers:``. Every process it spawned is killed when it exits, and again
  (synchronously) at fixture teardown;
* ``checker``: :class:`HistoryChecker`, which reads the store directly and checks what
  every test here relies on (intact committed turns, valid tool pairing, exactly-once
  inputs in submission order);
* ``helpers``: :class:`Submitted` (what a test submitted) and :func:`read_tool_log`, for the
  test modules (with ``--import-mode=importlib`` they cannot import from this file).

These tests run on asyncio only (the workers alternate asyncio and trio themselves).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from lash_core.drain import claimed_turn_id
from lash_core.model import Message, PartKind, Role, TurnInput
from lash_core.store.contract import SessionRecord, SessionStore
from lash_core.store.inputs import PendingInput, PendingInputDraft, PendingInputState
from lash_core.testing.services import service_missing

WORKER_MAIN = Path(__file__).with_name("worker_main.py")
DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/test"
LINE_LIMIT = 1 << 16


@pytest.fixture
def anyio_backend() -> str:
    """The test process runs on asyncio; the workers it spawns alternate asyncio and trio."""
    return "asyncio"


# -- the store the workers share ---------------------------------------------------------


class StoreTarget:
    """Where the workers' store lives, and direct access to it from the test."""

    def __init__(self, kind: str, *, path: Path | None = None, dsn: str = "", schema: str = "") -> None:
        self.kind = kind
        self.path = path
        self.dsn = dsn
        self.schema = schema

    def __repr__(self) -> str:
        return f"StoreTarget({self.kind}: {self.path or self.schema})"

    def worker_args(self) -> list[str]:
        """The ``worker_main.py`` arguments that point a worker at this store."""
        if self.kind == "sqlite":
            return ["--store", "sqlite", "--path", str(self.path)]
        return ["--store", "postgres", "--dsn", self.dsn, "--schema", self.schema]

    def make_store(self) -> SessionStore:
        """An unopened store object over this database (the test's own handle)."""
        if self.kind == "sqlite":
            from lash_store_sqlite import SqliteStore, SqliteStoreSettings

            return SqliteStore(SqliteStoreSettings(path=str(self.path)))
        from lash_store_postgres import PostgresSettings, PostgresStore

        return PostgresStore(
            PostgresSettings(
                dsn=self.dsn, schema=self.schema, min_pool_size=1, max_pool_size=4, connect_timeout_s=5.0
            )
        )

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[SessionStore]:
        """The test's own store handle, open (creating the schema the first time)."""
        store = self.make_store()
        with anyio.fail_after(30):
            await store.open()
        try:
            yield store
        finally:
            with anyio.CancelScope(shield=True):
                await store.close()

    async def settle(self, worker: Worker) -> None:
        """Wait until no transaction of the killed ``worker`` can still land: a SIGKILLed client
        may have sent its COMMIT, which the PostgreSQL server runs after the kill. Returns once
        every server backend the worker opened (it prints their pids) is gone. A SQLite writer
        dies with its process: nothing to wait for."""
        if self.kind != "postgres":
            return
        await worker.wait_closed()
        pids = worker.backend_pids()

        def alive() -> int:
            import psycopg

            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
                ).fetchone()
            return int(row[0]) if row else 0

        with anyio.fail_after(15):
            while pids:
                if not await anyio.to_thread.run_sync(alive):
                    return
                await anyio.sleep(0.01)

    def turn_commits(self) -> list[tuple[str, str, int]]:
        """``(session_id, turn_id, committed_at_ms)`` of every recorded turn commit, read
        with plain SQL (not through the store)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                return [
                    (r[0], r[1], int(r[2]))
                    for r in conn.execute("SELECT session_id, turn_id, committed_at_ms FROM turn_commits")
                ]
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                f"SELECT session_id, turn_id, floor(extract(epoch FROM committed_at) * 1000)::bigint "
                f'FROM "{self.schema}".turn_commits'
            ).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]


@pytest.fixture(scope="session")
def _postgres_probe() -> tuple[str, BaseException | None]:
    dsn = os.environ.get("LASH_TEST_POSTGRES_DSN") or DEFAULT_TEST_DSN
    try:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # ImportError without the plugin, psycopg.Error without a server
        return dsn, exc
    return dsn, None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def store_target(
    request: pytest.FixtureRequest, tmp_path: Path, _postgres_probe: tuple[str, BaseException | None]
) -> Iterator[StoreTarget]:
    """The shared store: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield StoreTarget("sqlite", path=tmp_path / "sessions.db")
        return
    dsn, error = _postgres_probe
    if error is not None:
        service_missing(
            f"the PostgreSQL server is missing: none is reachable at LASH_TEST_POSTGRES_DSN={dsn!r} "
            f"({str(error).strip()}); start one or point LASH_TEST_POSTGRES_DSN at one"
        )
    schema = f"lash_proc_{uuid.uuid4().hex[:12]}"
    yield StoreTarget("postgres", dsn=dsn, schema=schema)
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        # Workers are gone by now (the ``workers`` fixture is torn down first); end stragglers anyway.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'lash-store-postgres' AND pid <> pg_backend_pid() "
            "AND query LIKE %s",
            (f'%"{schema}"%',),
        )
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- worker processes ---------------------------------------------------------------------


class Worker:
    """One spawned ``worker_main.py`` process and the lines it printed."""

    def __init__(self, name: str, process: anyio.abc.Process, stderr_path: Path) -> None:
        self.name = name
        self.process = process
        self.stderr_path = stderr_path
        self.lines: list[str] = []
        self._new_line = anyio.Event()
        self._eof = False
        self._closed = anyio.Event()

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read_lines(self) -> None:
        """Collect stdout lines until the process closes it (run in the pool's task group)."""
        assert self.process.stdout is not None
        stream = BufferedByteReceiveStream(self.process.stdout)
        try:
            while True:
                line = await stream.receive_until(b"\n", LINE_LIMIT)
                self.lines.append(line.decode())
                self._new_line.set()
                self._new_line = anyio.Event()
        except (
            anyio.EndOfStream,
            anyio.IncompleteRead,
            anyio.ClosedResourceError,
            anyio.BrokenResourceError,
        ):
            pass
        finally:
            self._eof = True
            self._new_line.set()
            self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until every line the process printed was read (it closed its stdout)."""
        with anyio.fail_after(30):
            await self._closed.wait()

    def backend_pids(self) -> list[int]:
        """The PostgreSQL backends the worker's connection pools opened."""
        return [int(line.split()[1]) for line in self.lines if line.startswith("backend ")]

    async def wait_line(self, predicate: Callable[[str], bool], *, start: int = 0, within: float = 30) -> int:
        """The index of the first line from ``start`` on that satisfies ``predicate`` (waiting
        at most ``within`` seconds)."""
        with anyio.fail_after(within):
            index = start
            while True:
                while index < len(self.lines):
                    if predicate(self.lines[index]):
                        return index
                    index += 1
                if self._eof:
                    raise AssertionError(
                        f"worker {self.name} (pid {self.pid}) ended (rc={self.process.returncode}) "
                        f"without the expected line; its last lines: {self.lines[-5:]}\n{self.stderr_tail()}"
                    )
                await self._new_line.wait()

    async def go(self, **params: str) -> None:
        """Start a standby worker (``go`` with ``key=value`` parameters) and wait until it serves."""
        await self.wait_line(lambda line: line == "ready", within=60)
        words = ["go", *(f"{key}={value}" for key, value in params.items() if value)]
        assert self.process.stdin is not None
        await self.process.stdin.send((" ".join(words) + "\n").encode())
        await self.wait_line(lambda line: line == "serving", within=60)

    async def stop(self) -> None:
        """Ask the worker to stop serving (it finishes running turns) and wait for it."""
        assert self.process.stdin is not None
        await self.process.stdin.send(b"stop\n")
        with anyio.fail_after(30):
            await self.process.wait()
        assert self.process.returncode == 0, f"worker {self.name} failed:\n{self.stderr_tail()}"

    async def kill(self) -> None:
        """SIGKILL the worker and reap it (a zombie would still look alive to its peers)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        with anyio.fail_after(30):
            await self.process.wait()

    def lost_a_lease(self) -> bool:
        """True when the worker logged that a session's execution lease was lost (its turn was
        cancelled and is run again: a starved machine can miss renewals)."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return False
        return "lease renewal failed" in text or "is no longer live" in text

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"--- stderr of {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])


class WorkerPool:
    """Spawns worker processes against one store; ``async with`` it to collect their output.
    Every spawned process is killed when the block exits (and at fixture teardown)."""

    def __init__(self, target: StoreTarget, directory: Path) -> None:
        self.target = target
        self.directory = directory
        self.tool_log = directory / "tool.log"
        self.spawned: list[Worker] = []
        self._group: anyio.abc.TaskGroup | None = None
        self._count = 0

    async def __aenter__(self) -> WorkerPool:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            for worker in self.spawned:
                if worker.process.returncode is None:
                    worker.process.send_signal(signal.SIGKILL)
            with anyio.move_on_after(30):
                for worker in self.spawned:
                    await worker.process.wait()
        assert self._group is not None
        self._group.cancel_scope.cancel()
        # End the line readers only: an exception of the block propagates as it is, not wrapped
        # in an exception group (so assertion failures read plainly and xfail can match them).
        await self._group.__aexit__(None, None, None)

    async def spawn(
        self,
        owner_id: str | None = None,
        *,
        opaque: bool = False,
        effects: str = "inline",
        backend: str = "asyncio",
        concurrency: int = 4,
        quiet: bool = False,
        ttl_ms: int = 400,
        renew_ms: int = 100,
        extra_env: dict[str, str] | None = None,
    ) -> Worker:
        """Spawn a standby worker (it imports and composes, then waits for :meth:`Worker.go`)."""
        assert self._group is not None, "enter the pool first: async with workers: ..."
        self._count += 1
        name = owner_id or f"worker-{self._count}"
        command = [
            sys.executable,
            str(WORKER_MAIN),
            *self.target.worker_args(),
            "--owner-id",
            name,
            "--effects",
            effects,
            "--backend",
            backend,
            "--concurrency",
            str(concurrency),
            "--ttl-ms",
            str(ttl_ms),
            "--renew-ms",
            str(renew_ms),
            "--tool-log",
            str(self.tool_log),
            "--standby",
        ]
        if opaque:
            command.append("--opaque")
        if quiet:
            command.append("--quiet")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(extra_env or {})}
        stderr_path = self.directory / f"{name}.stderr"
        with stderr_path.open("wb") as stderr:
            process = await anyio.open_process(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
        worker = Worker(name, process, stderr_path)
        self.spawned.append(worker)
        self._group.start_soon(worker.read_lines)
        return worker

    def kill_all_now(self) -> None:
        """Synchronous last resort at teardown."""
        for worker in self.spawned:
            if worker.process.returncode is None:
                try:
                    os.kill(worker.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def workers(store_target: StoreTarget, tmp_path: Path) -> Iterator[WorkerPool]:
    """A pool of worker processes over ``store_target`` (killed at teardown, before the store goes)."""
    pool = WorkerPool(store_target, tmp_path)
    yield pool
    pool.kill_all_now()


# -- reading and checking the committed histories -------------------------------------------

_DONE = re.compile(r"^done (?P<labels>.+) by (?P<owner>\S+)$")
_NOTED = re.compile(r"^noted (?P<entry>\S+) by (?P<pid>\d+)$")


def input_text(label: str, tools: int) -> str:
    """The text of an input the offline model understands (see ``worker_main.py``)."""
    return f"{label} tools={tools}"


class Submitted:
    """What the test submitted: per session, labels in submission order, and their inputs."""

    def __init__(self) -> None:
        self.order: dict[str, list[str]] = {}
        self.tools: dict[str, int] = {}
        self.input_ids: dict[str, str] = {}
        self.label_of: dict[str, str] = {}

    async def submit(
        self, store: SessionStore, session_id: str, label: str, tools: int, *, source_key: str | None = None
    ) -> PendingInput:
        """Enqueue a next-turn input (the same label again must name the same input)."""
        pending = await store.enqueue_input(
            PendingInputDraft(session_id, TurnInput.text(input_text(label, tools)), source_key=source_key)
        )
        known = self.input_ids.get(label)
        if known is None:
            self.order.setdefault(session_id, []).append(label)
            self.tools[label] = tools
            self.input_ids[label] = pending.input_id
            self.label_of[pending.input_id] = label
        else:
            assert pending.input_id == known, f"resubmitting {label} with its source key made a new input"
        return pending

    def turn_id(self, labels: Sequence[str]) -> str:
        """The turn id a drain gives a turn that claimed the inputs ``labels``."""
        return claimed_turn_id([self.input_ids[label] for label in labels])

    def label_of_turn(self, turn_id: str) -> str:
        """The label of the first input of the drained turn ``turn_id``."""
        return next(
            label for input_id, label in self.label_of.items() if turn_id.startswith(f"input-{input_id}")
        )


class Snapshot:
    """The checked state of every session: committed turns and input states."""

    def __init__(self) -> None:
        self.turns: dict[str, list[tuple[str, list[str]]]] = {}  # session -> [(turn_id, labels)]
        self.owners: Counter[str] = Counter()  # owner id -> committed turns it answered
        self.answered: dict[str, str] = {}  # label -> the owner id named in its turn's final answer
        self.tool_results: dict[str, int] = {}  # entry -> pid that produced the committed result
        self.states: dict[str, PendingInputState] = {}  # label -> input state
        self.commit_times: dict[tuple[str, str], int] = {}  # (session, turn) -> committed_at_ms
        self.claimed: set[str] = set()  # labels under a claim (live or dead), not completed

    def completed(self) -> set[str]:
        return {label for label, state in self.states.items() if state is PendingInputState.COMPLETED}

    def committed_labels(self) -> list[str]:
        return [label for turns in self.turns.values() for _, labels in turns for label in labels]


def check_tool_pairing(session_id: str, messages: Sequence[Message]) -> None:
    """What a provider needs: every tool call has exactly one result after it, every result
    answers exactly one earlier call, and no call id repeats."""
    calls: dict[str, int] = {}
    results: Counter[str] = Counter()
    for index, message in enumerate(messages):
        for part in message.parts:
            if part.kind is PartKind.TOOL_CALL:
                assert part.tool_call_id not in calls, (
                    f"{session_id}: tool call id {part.tool_call_id} repeats"
                )
                calls[part.tool_call_id or ""] = index
            elif part.kind is PartKind.TOOL_RESULT:
                call_index = calls.get(part.tool_call_id or "")
                assert call_index is not None and call_index < index, (
                    f"{session_id}: tool result {part.tool_call_id} has no earlier tool call"
                )
                results[part.tool_call_id or ""] += 1
    for call_id in calls:
        assert results[call_id] == 1, f"{session_id}: tool call {call_id} has {results[call_id]} results"


class HistoryChecker:
    """Reads the store directly and checks every committed turn (see :meth:`check`)."""

    async def check(self, target: StoreTarget, store: SessionStore, submitted: Submitted) -> Snapshot:
        """Check, with no worker running (a quiescent store):

        * each session's head: ``head_revision == turn_count`` = the number of turns in the
          history = its recorded turn commits (plain SQL), ``node_count`` = its nodes;
        * each turn's nodes are contiguous and complete: the user message with its inputs,
          then one tool call and its result per tool step, then the final answer; its id
          derives from its first input;
        * the history is valid to send to a provider (tool call / result pairing);
        * every completed input is in exactly one committed turn, every other input in
          none, and each session's committed inputs are a prefix of its submission order.
        """
        snapshot = Snapshot()
        commits: dict[str, set[str]] = {}
        for session_id, turn_id, at_ms in await anyio.to_thread.run_sync(target.turn_commits):
            commits.setdefault(session_id, set()).add(turn_id)
            snapshot.commit_times[(session_id, turn_id)] = at_ms
        for session_id, labels in submitted.order.items():
            for label in labels:
                row = await store.get_input(session_id, submitted.input_ids[label])
                assert row is not None, f"input {label} vanished"
                snapshot.states[label] = row.state
                if row.claim is not None and row.state is not PendingInputState.COMPLETED:
                    snapshot.claimed.add(label)
            record = await store.load_session(session_id)
            snapshot.turns[session_id] = turns = self._check_session(session_id, record, submitted, snapshot)
            in_history = {turn_id for turn_id, _ in turns}
            recorded = commits.get(session_id, set())
            assert in_history == recorded, (
                f"{session_id}: turns only in the history: {in_history - recorded}, "
                f"only recorded as commits: {recorded - in_history}"
            )
            committed = [label for _, turn_labels in turns for label in turn_labels]
            assert committed == labels[: len(committed)], (
                f"{session_id}: committed inputs {committed} are not the submission order {labels}"
            )
            completed = [label for label in labels if snapshot.states[label] is PendingInputState.COMPLETED]
            assert committed == completed, (
                f"{session_id}: committed inputs {committed} differ from the completed inputs {completed}"
            )
        assert set(commits) <= set(submitted.order), f"turn commits of unknown sessions: {set(commits)}"
        return snapshot

    def _check_session(
        self, session_id: str, record: SessionRecord | None, submitted: Submitted, snapshot: Snapshot
    ) -> list[tuple[str, list[str]]]:
        if record is None:
            return []
        head, nodes = record.head, record.nodes
        assert head.node_count == len(nodes), (
            f"{session_id}: head says {head.node_count} nodes, found {len(nodes)}"
        )
        groups: list[tuple[str, list[Message]]] = []
        for node in nodes:
            if groups and groups[-1][0] == node.turn_id:
                groups[-1][1].append(node.message)
            else:
                assert node.turn_id not in {turn_id for turn_id, _ in groups}, (
                    f"{session_id}: the nodes of turn {node.turn_id} are not contiguous"
                )
                groups.append((node.turn_id, [node.message]))
        assert head.turn_count == head.head_revision == len(groups), (
            f"{session_id}: head revision {head.head_revision}, turn count {head.turn_count}, "
            f"{len(groups)} turns in the history"
        )
        check_tool_pairing(session_id, [node.message for node in nodes])
        return [
            self._check_turn(session_id, turn_id, messages, submitted, snapshot)
            for turn_id, messages in groups
        ]

    def _check_turn(
        self, session_id: str, turn_id: str, messages: list[Message], submitted: Submitted, snapshot: Snapshot
    ) -> tuple[str, list[str]]:
        where = f"{session_id} turn {turn_id}"
        user = messages[0]
        assert user.role is Role.USER and all(p.kind is PartKind.TEXT for p in user.parts), (
            f"{where}: no user input first"
        )
        labels = [p.content.partition(" tools=")[0] for p in user.parts]
        for label, part in zip(labels, user.parts, strict=True):
            assert label in submitted.input_ids, f"{where}: unknown input {part.content!r}"
            assert part.content == input_text(label, submitted.tools[label]), (
                f"{where}: altered input {part.content!r}"
            )
        assert turn_id == submitted.turn_id(labels), f"{where}: the turn id does not name its inputs"
        steps = [f"{label}/{j}" for label in labels for j in range(submitted.tools[label])]
        expected_len = 2 + 2 * len(steps)
        assert len(messages) == expected_len, (
            f"{where}: {len(messages)} messages, expected {expected_len} (partial?)"
        )
        for index, entry in enumerate(steps):
            call, result = messages[1 + 2 * index], messages[2 + 2 * index]
            assert call.role is Role.ASSISTANT and [p.kind for p in call.parts] == [PartKind.TOOL_CALL], where
            assert call.parts[0].tool_call_id == f"call-{entry}", f"{where}: call {index} is not {entry}"
            assert [p.kind for p in result.parts] == [PartKind.TOOL_RESULT], where
            noted = _NOTED.match(result.parts[0].content)
            assert noted is not None and noted["entry"] == entry, (
                f"{where}: bad tool result {result.parts[0].content!r}"
            )
            snapshot.tool_results[entry] = int(noted["pid"])
        final = messages[-1]
        done = _DONE.match(final.text) if final.role is Role.ASSISTANT else None
        assert done is not None and done["labels"].split() == labels, (
            f"{where}: bad final answer {final.text!r}"
        )
        snapshot.owners[done["owner"]] += 1
        snapshot.answered.update(dict.fromkeys(labels, done["owner"]))
        return turn_id, labels


@pytest.fixture
def checker() -> HistoryChecker:
    return HistoryChecker()


def read_tool_log(path: Path) -> dict[str, list[int]]:
    """Entry -> the pids that appended it, in order."""
    appended: dict[str, list[int]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            entry, pid = line.split()
            appended.setdefault(entry, []).append(int(pid))
    return appended


@pytest.fixture
def helpers() -> Any:
    """Small helpers for the test modules."""

    class Helpers:
        Submitted = Submitted
        read_tool_log = staticmethod(read_tool_log)
        input_text = staticmethod(input_text)

    return Helpers
