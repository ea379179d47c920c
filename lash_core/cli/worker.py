"""``lash worker``: serve the pending input of every session in the store until Ctrl+C."""

from __future__ import annotations

import signal
import sys
from typing import Any

import anyio
import click

from lash_core.cli._common import EXIT_USAGE, compose_runtime, config_option, fail, make_console, run_async
from lash_core.effects import DurabilityTier

__all__ = ["serve_until_interrupted", "worker_command"]


async def _interrupts(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    """First Ctrl+C: stop taking work (running turns finish); second: stop now."""
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                if stop.is_set():
                    scope.cancel()
                    return
                make_console(stderr=True).print("stopping after the running turns (Ctrl+C again to stop now)")
                stop.set()
    except (NotImplementedError, ValueError, RuntimeError):
        await anyio.sleep_forever()


async def serve_until_interrupted(
    runtime: Any, concurrency: int, poll_interval: float, until_idle: bool
) -> int:
    """Serve the store with ``lash_core.worker.serve`` until Ctrl+C (or idle); exit code."""
    from lash_core.worker import serve

    async with runtime:
        if runtime.store.durability is not DurabilityTier.DURABLE:
            fail(
                f"the worker needs a durable store, and store {runtime.config.store.type!r} is not; configure "
                'the sqlite or postgres store ([store] type = "sqlite")',
                EXIT_USAGE,
            )
        err = make_console(stderr=True)
        err.print(
            f"lash worker: serving {runtime.config.store.type} with concurrency {concurrency} (Ctrl+C stops)"
        )
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(_interrupts, stop, group.cancel_scope)
            stats = await serve(
                runtime,
                concurrency=concurrency,
                poll_interval=poll_interval,
                stop=stop,
                exit_when_idle=until_idle,
            )
            group.cancel_scope.cancel()
        err.print(f"lash worker: {stats.turns} turns served, {stats.errors} errors")
        return 0


@click.command("worker")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=4, show_default=True, help="Sessions served at once."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=0.2,
    show_default=True,
    help="Seconds between polls.",
)
@click.option(
    "--until-idle", is_flag=True, help="Exit once no session has pending work (for scripts and tests)."
)
@config_option
def worker_command(concurrency: int, poll_interval: float, until_idle: bool, config: str | None) -> None:
    """Serve the pending input of every session in the store until Ctrl+C.

    Input submitted elsewhere (session.submit(...)) runs here, one turn per session
    at a time; several workers may serve the same store.
    """
    sys.exit(
        run_async(serve_until_interrupted, compose_runtime(config), concurrency, poll_interval, until_idle)
    )
