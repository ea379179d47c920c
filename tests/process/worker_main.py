"""The worker program the process tests spawn (``sys.executable worker_main.py ...``).

It serves a durable store (SQLite file or PostgreSQL schema) with ``lash_core.worker.serve``,
a deterministic offline model and one tool that does real work (appends a line to a file):

* an input's text is ``"<session>#<n> tools=<k>"``; a turn's model calls the tool ``note``
  once per tool step of its inputs (``<label>/<j>``, one call per model call), then answers
  ``"done <label> ... by <owner>"``; everything is computed from the request, so a re-run
  (or a journal replay) of a turn asks and answers the same;
* ``note(entry)`` appends ``"<entry> <pid>"`` to ``--tool-log`` and returns
  ``"noted <entry> by <pid>"``.

Protocol on stdout, one line each (flushed): ``ready`` once composed, ``serving`` once the
store is open, and ``phase <phase> <session> <detail>`` before each phase worth crashing in:

* ``model <session> <label>:<tool results so far>``: in the model call;
* ``tool <session> <entry>``: in the tool, after the line was appended;
* ``commit <session> <turn id>``: inside the store's commit transaction, after all its
  writes, before it commits (on the store's thread);
* ``committed <session> <turn id>``: the commit returned; the lease is not released yet;

and, on PostgreSQL, ``backend <pid>`` for every server connection its pools open (a test
waits for those backends to end after a kill: a COMMIT sent just before it can still land).

``LASH_PROCESS_TEST_PAUSE=<phase>:<n>`` makes the worker print ``paused ...`` instead of
``phase ...`` at the ``n``-th marker of that phase and stop there (until it is killed;
at most two minutes), so a test can kill it in a chosen phase. With
``LASH_PROCESS_TEST_ARM_AFTER=<input id>,...`` counting starts only once turns completing
those inputs committed (so the inputs a killed worker left behind complete first). ``--quiet``
prints only ``ready``, ``serving`` and ``stopped``.

``--standby``: import and compose, print ``ready``, then wait for a line
``go [pause=<phase>:<n>] [arm_after=<input id>,...]`` on stdin (which override the
environment) before opening the store, so a test can spawn the next worker ahead of time
and arm it when it knows its victim. A ``stop`` line (or the end of stdin) stops serving
gracefully: running turns finish and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import threading
import time
from typing import Any

import anyio
import anyio.to_thread

from lash_core import tool
from lash_core.builtin import inline_effects, tool_output_budget
from lash_core.model import (
    LlmRequest,
    LlmResponse,
    LlmToolCallPart,
    PartKind,
    Role,
    TerminalReason,
    TokenUsage,
)
from lash_core.runtime import Runtime
from lash_core.store.contract import CommitResult, TurnCommit
from lash_core.store.leases import LeaseOwner
from lash_core.testing import FunctionProvider, provider_plugin, tools_plugin
from lash_core.worker import serve

PAUSE_ENV = "LASH_PROCESS_TEST_PAUSE"
ARM_AFTER_ENV = "LASH_PROCESS_TEST_ARM_AFTER"
PAUSE_SECONDS = 120.0
PHASES = ("model", "tool", "commit", "committed")

_out_lock = threading.Lock()


class Markers:
    """Phase markers on stdout, and the one pause a test asked for."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.lock = threading.Lock()
        self.seen = dict.fromkeys(PHASES, 0)
        self.configure(os.environ.get(PAUSE_ENV, ""), os.environ.get(ARM_AFTER_ENV, ""))

    def configure(self, pause: str, arm_after: str) -> None:
        """Pause at the ``n``-th marker of a phase (``"<phase>:<n>"``; empty: never), counting
        only once every input of ``arm_after`` (comma-separated input ids) was completed by a
        committed turn."""
        phase, _, nth = pause.partition(":")
        if pause and (phase not in PHASES or not nth.isdigit() or int(nth) < 1):
            raise SystemExit(f"bad pause {pause!r}: expected <phase>:<n> with phase in {PHASES}")
        with self.lock:
            self.pause_phase = phase if pause else None
            self.pause_nth = int(nth) if pause else 0
            self.waiting_for = {input_id for input_id in arm_after.split(",") if input_id}
            self.armed = not self.waiting_for

    def _hit(self, phase: str) -> bool:
        with self.lock:
            if not self.armed:
                return False
            self.seen[phase] += 1
            return phase == self.pause_phase and self.seen[phase] == self.pause_nth

    def mark(self, phase: str, session_id: str, detail: str) -> bool:
        """Report ``phase``; ``True`` when the worker must pause here."""
        pause = self._hit(phase)
        if pause or not self.quiet:
            say("paused" if pause else "phase", phase, session_id, detail)
        return pause

    def arm_if(self, commit: TurnCommit) -> None:
        """Note the inputs ``commit`` completed; arm once every awaited input is among them."""
        with self.lock:
            for ref in commit.completed_input_claims:
                self.waiting_for.difference_update(ref.item_ids)
            self.armed = self.armed or not self.waiting_for

    async def at(self, phase: str, session_id: str, detail: str) -> None:
        """An async phase: report it, and sleep there when asked to pause."""
        if self.mark(phase, session_id, detail):
            await anyio.sleep(PAUSE_SECONDS)

    def at_blocking(self, phase: str, session_id: str, detail: str) -> None:
        """A phase on a store thread: report it, and block the thread when asked to pause."""
        if self.mark(phase, session_id, detail):
            time.sleep(PAUSE_SECONDS)


def say(*words: object) -> None:
    """One protocol line on stdout."""
    with _out_lock:
        sys.stdout.write(" ".join(str(w) for w in words) + "\n")
        sys.stdout.flush()


def parse_input(text: str) -> tuple[str, int]:
    """``"c1#3 tools=2"`` -> ``("c1#3", 2)``."""
    label, _, tools = text.partition(" tools=")
    return label, int(tools or 0)


def make_model(markers: Markers, owner: str) -> FunctionProvider:
    """The deterministic offline model (see the module docs)."""

    async def answer(request: LlmRequest) -> LlmResponse | str:
        messages = request.messages
        start = max(
            i
            for i, m in enumerate(messages)
            if m.role is Role.USER and any(p.kind is PartKind.TEXT for p in m.parts)
        )
        inputs = [parse_input(p.content) for p in messages[start].parts if p.kind is PartKind.TEXT]
        steps = [f"{label}/{j}" for label, count in inputs for j in range(count)]
        done = sum(1 for m in messages[start:] for p in m.parts if p.kind is PartKind.TOOL_RESULT)
        first = inputs[0][0]
        await markers.at("model", first.split("#")[0], f"{first}:{done}")
        usage = TokenUsage(input_tokens=10, output_tokens=2)
        if done < len(steps):
            entry = steps[done]
            part = LlmToolCallPart(f"call-{entry}", "note", json.dumps({"entry": entry}))
            return LlmResponse((part,), usage, TerminalReason.TOOL_USE, model="offline")
        return "done " + " ".join(label for label, _ in inputs) + f" by {owner}"

    return FunctionProvider(answer)


def make_tool(markers: Markers, log_path: str) -> Any:
    pid = os.getpid()

    @tool
    async def note(entry: str) -> str:
        """Note an entry in the log file."""
        with open(log_path, "a", encoding="utf-8") as log:  # noqa: ASYNC230 - the tool's real work, tiny
            log.write(f"{entry} {pid}\n")
        await markers.at("tool", entry.split("#")[0], entry)
        return f"noted {entry} by {pid}"

    return note


def instrument_commits(store_kind: str, markers: Markers) -> None:
    """Report (and maybe pause in) the commit transaction, after its writes, before it commits."""
    if store_kind == "sqlite":
        from lash_store_sqlite.store import SqliteStore

        original = SqliteStore._commit

        def sqlite_commit(self: Any, conn: Any, commit: TurnCommit, nodes: Any) -> CommitResult:
            result = original(self, conn, commit, nodes)
            markers.at_blocking("commit", commit.session_id, commit.turn_id)
            return result

        SqliteStore._commit = sqlite_commit  # type: ignore[method-assign]
    else:
        from lash_store_postgres import _commit

        original_pg = _commit.commit

        def postgres_commit(tx: Any, commit: TurnCommit) -> CommitResult:
            result = original_pg(tx, commit)
            markers.at_blocking("commit", commit.session_id, commit.turn_id)
            return result

        _commit.commit = postgres_commit

        from lash_store_postgres._db import Database

        configure = Database._configure

        def announce(self: Any, conn: Any) -> None:
            configure(self, conn)
            say("backend", conn.info.backend_pid)  # the test waits for these to end after a kill

        Database._configure = announce  # type: ignore[method-assign]


def compose(args: argparse.Namespace, markers: Markers) -> Runtime:
    plugins: dict[str, object] = {
        "inline_effects": inline_effects,
        "tool_output_budget": tool_output_budget,
    }
    if args.store == "sqlite":
        import lash_store_sqlite.plugin as store_plugin

        store: dict[str, Any] = {"type": "sqlite", "settings": {"path": args.path}}
        journal: dict[str, Any] = {"type": "sqlite-journal", "settings": {"path": args.path}}
    else:
        import lash_store_postgres.plugin as store_plugin

        settings = {
            "dsn": args.dsn,
            "schema": args.schema,
            "min_pool_size": 1,
            "max_pool_size": args.max_pool,
            "connect_timeout_s": 5.0,
        }
        store = {"type": "postgres", "settings": settings}
        journal = {"type": "postgres-journal", "settings": settings}
    from lash_protocol_standard import plugin as standard

    plugins["store"] = store_plugin
    plugins["standard"] = standard
    plugins["offline-model"] = provider_plugin(make_model(markers, args.owner_id))
    plugins["tools"] = tools_plugin(make_tool(markers, args.tool_log))
    config: dict[str, Any] = {
        "model": {"id": "offline", "context_window_tokens": 1_000_000},
        "provider": "default",
        "providers": {"default": {"type": "scripted"}},
        "store": store,
        "owner_id": args.owner_id,
        "lease_ttl_ms": args.ttl_ms,
        "lease_renew_interval_ms": args.renew_ms,
    }
    if args.effects == "journal":
        config["effect_host"] = journal
    runtime = Runtime(config, plugins=plugins, load_entry_points=False)
    if args.opaque:
        # No local-process liveness: peers cannot prove this worker dead and wait out its lease.
        runtime.lease_owner = LeaseOwner(args.owner_id, secrets.token_hex(8), None)
    return runtime


async def main(args: argparse.Namespace) -> None:
    markers = Markers(args.quiet)
    instrument_commits(args.store, markers)
    runtime = compose(args, markers)
    say("ready")
    stop = anyio.Event()
    if args.standby:
        words = (await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)).split()
        if not words or words[0] != "go":
            return
        params = dict(word.partition("=")[::2] for word in words[1:])
        markers.configure(params.get("pause", ""), params.get("arm_after", ""))

    async def watch_stdin() -> None:
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line or line.strip() == "stop":
                stop.set()
                return

    async with runtime:
        original_commit = runtime.store.commit

        async def commit(turn_commit: TurnCommit) -> CommitResult:
            result = await original_commit(turn_commit)
            await markers.at("committed", turn_commit.session_id, turn_commit.turn_id)
            markers.arm_if(turn_commit)  # count from the next marker on
            return result

        runtime.store.commit = commit  # type: ignore[method-assign]
        say("serving")
        async with anyio.create_task_group() as group:
            group.start_soon(watch_stdin)
            stats = await serve(runtime, concurrency=args.concurrency, poll_interval=args.poll, stop=stop)
            group.cancel_scope.cancel()
    say("stopped", f"turns={stats.turns}", f"errors={stats.errors}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--path", help="the SQLite database file")
    parser.add_argument("--dsn", help="the PostgreSQL connection string")
    parser.add_argument("--schema", help="the PostgreSQL schema")
    parser.add_argument("--max-pool", type=int, default=4)
    parser.add_argument("--owner-id", required=True)
    parser.add_argument("--opaque", action="store_true", help="lease owner without local-process liveness")
    parser.add_argument("--effects", choices=["inline", "journal"], default="inline")
    parser.add_argument("--ttl-ms", type=int, default=400)
    parser.add_argument("--renew-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.01)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--tool-log", required=True)
    parser.add_argument("--standby", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    anyio.run(main, arguments, backend=arguments.backend)
