"""A worker loop: serve the pending input of every session in a store.

``await serve(runtime)`` polls the store for sessions with pending work and drains them,
at most ``concurrency`` sessions at a time and one live turn per session (the session
execution lease makes that hold across processes too). It also looks, every
``takeover_interval`` seconds, for sessions whose lease holder is proven dead (a worker
process on this machine that exited): it takes those over at once instead of waiting for
their leases to expire. Each round gives every waiting
session one turn before any gets a second, so a busy session cannot starve the others.
Several workers (processes or machines) may serve the same store.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import anyio
from attrs import define

from lash_core.errors import LashError
from lash_core.runtime import Runtime
from lash_core.store.leases import holder_proven_dead

__all__ = ["WorkerStats", "serve"]

log = logging.getLogger("lash.worker")


@define
class WorkerStats:
    """What a worker did."""

    turns: int = 0
    errors: int = 0


async def serve(
    runtime: Runtime,
    *,
    concurrency: int = 4,
    poll_interval: float = 0.2,
    stop: anyio.Event | None = None,
    exit_when_idle: bool = False,
    max_open_sessions: int = 256,
    takeover_interval: float = 1.0,
) -> WorkerStats:
    """Serve pending input until ``stop`` is set (or, with ``exit_when_idle``, until no
    session has pending work). A failing session is logged and retried next round.

    The ``max_open_sessions`` most recently served sessions stay open (a session's next turn
    then only checks the store's head instead of reloading its history); older ones are
    parked."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    stop = stop or anyio.Event()
    stats = WorkerStats()
    limiter = anyio.CapacityLimiter(concurrency)
    active: set[str] = set()
    recent: OrderedDict[str, None] = OrderedDict()
    rotation = 0
    next_takeover_scan = 0.0

    async def sessions_to_serve() -> list[str]:
        nonlocal next_takeover_scan
        found = set(await runtime.store.list_sessions_with_pending_work())
        if anyio.current_time() >= next_takeover_scan:
            next_takeover_scan = anyio.current_time() + takeover_interval
            for lease in await runtime.store.list_live_leases():
                if holder_proven_dead(lease.owner, runtime.lease_owner):
                    found.add(lease.session_id)
        return sorted(s for s in found if s not in active)

    async def serve_one(session_id: str) -> None:
        try:
            async with limiter:
                turns = await runtime.drain(session_id, max_turns=1)
                stats.turns += len(turns)
        except LashError as exc:
            stats.errors += 1
            log.warning("session %s: %s", session_id, exc)
        finally:
            active.discard(session_id)
            recent[session_id] = None
            recent.move_to_end(session_id)
            while len(recent) > max_open_sessions:
                oldest, _ = recent.popitem(last=False)
                if oldest not in active:
                    runtime.park(oldest)

    async with anyio.create_task_group() as group:
        while not stop.is_set():
            waiting = await sessions_to_serve()
            if waiting:
                rotation %= len(waiting)
                for session_id in waiting[rotation:] + waiting[:rotation]:
                    active.add(session_id)
                    group.start_soon(serve_one, session_id)
                rotation += 1
            elif exit_when_idle and not active:
                break
            with anyio.move_on_after(poll_interval):
                await stop.wait()
        # Stopping is graceful: turns already running finish and commit.
    return stats
