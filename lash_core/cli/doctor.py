"""``lash doctor [--online]``: is this installation able to run turns?

Checks, in order: the configuration is valid; every plugin loads (failures listed); the
runtime composes; the store opens (its schema is current) and answers; the provider is
built, and with ``--online`` answers a one-token request.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click
from rich.console import Console
from rich.markup import escape

from lash_core.cli._common import EXIT_OK, EXIT_STOPPED, config_option, make_console
from lash_core.errors import LashError

__all__ = ["doctor_command", "run_checks"]


class _Report:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.failed = 0

    def ok(self, what: str, detail: str = "") -> None:
        self.console.print(f"[green]✓[/] {escape(what)}" + (f" [dim]{escape(detail)}[/]" if detail else ""))

    def bad(self, what: str, detail: str) -> None:
        self.failed += 1
        self.console.print(f"[red]✗[/] {escape(what)}: {escape(detail)}")

    def skip(self, what: str, detail: str) -> None:
        self.console.print(f"[yellow]-[/] {escape(what)} [dim]{escape(detail)}[/]")


async def _probe_provider(runtime: Any) -> str:
    """Send a one-token request through the configured provider; the answer's size."""
    from lash_core.model import LlmRequest, Message, Part, PartKind, Role

    provider = runtime.provider(runtime.config.provider)
    request = LlmRequest(
        model=runtime.config.model,
        system_prompt="",
        messages=(Message("doctor-1", Role.USER, (Part("doctor-1.p0", PartKind.TEXT, "Say OK."),)),),
        max_output_tokens=1,
        session_id="lash-doctor",
        request_id="lash-doctor",
    )
    with anyio.fail_after(120):
        response = await provider.complete(request)
    return f"answered ({response.usage.input_tokens} in, {response.usage.output_tokens} out tokens)"


async def run_checks(config: str | None, online: bool, console: Console) -> int:
    """Run every check, printing one line each; 0 when all pass, else 1."""
    from lash_core.config_file import check_config
    from lash_core.plugins.manager import create_plugin_manager
    from lash_core.plugins.registry import build_registry
    from lash_core.runtime import Runtime

    report = _Report(console)
    origin, problems = check_config(config)
    if problems:
        report.bad(f"configuration {origin}", f"{len(problems)} problems")
        for problem in problems:
            console.print(f"    {escape(problem)}")
    else:
        report.ok(f"configuration {origin}", "valid")
    loaded = create_plugin_manager()
    registry = build_registry(loaded)
    for name, info in sorted(loaded.plugins.items()):
        failure = next((e for e in registry.errors if e.plugin == name), None)
        if failure is None:
            report.ok(f"plugin {name}", f"{info.distribution or info.module} {info.version or ''}".strip())
    for error in registry.errors:
        report.bad(f"plugin {error.plugin}", f"{type(error.error).__name__}: {error.error}")
    if problems:
        return EXIT_STOPPED
    try:
        runtime = Runtime.from_config(config)
    except LashError as exc:
        report.bad("runtime", str(exc))
        return EXIT_STOPPED
    cfg = runtime.config
    try:
        async with runtime:
            sessions = await runtime.store.list_sessions()
            report.ok(f"store {cfg.store.type}", f"open, schema current, {len(sessions)} sessions")
            await _check_provider(runtime, online, report)
    except LashError as exc:
        report.bad(f"store {cfg.store.type}", str(exc))
    return EXIT_OK if report.failed == 0 else EXIT_STOPPED


async def _check_provider(runtime: Any, online: bool, report: _Report) -> None:
    cfg = runtime.config
    what = f"provider {cfg.provider} ({cfg.providers[cfg.provider].type}, model {cfg.model.id})"
    try:
        runtime.provider(cfg.provider)
    except LashError as exc:
        report.bad(what, str(exc))
        return
    if not online:
        report.skip(what, "built; not contacted (add --online to send a one-token request)")
        return
    try:
        report.ok(what, await _probe_provider(runtime))
    except TimeoutError:
        report.bad(what, "no answer within 120 s")
    except LashError as exc:
        report.bad(what, str(exc))


@click.command("doctor")
@config_option
@click.option("--online", is_flag=True, help="Also send the provider a one-token request.")
def doctor_command(config: str | None, online: bool) -> None:
    """Check the configuration, the plugins, the store and the provider."""
    sys.exit(anyio.run(run_checks, config, online, make_console(), backend="asyncio"))
