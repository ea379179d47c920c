"""What every ``lash`` command shares: exit codes, consoles, composing the runtime, errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import anyio
import click
from rich.console import Console

from lash_core.errors import ConfigError, LashError, PluginRegistrationError

__all__ = [
    "EXIT_HOST",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "compose_runtime",
    "config_option",
    "fail",
    "make_console",
    "run_async",
    "translate_errors",
]

EXIT_OK = 0
"""The command did what was asked (a turn finished)."""
EXIT_STOPPED = 1
"""A turn stopped before finishing (cancelled, provider error...), or a check failed."""
EXIT_USAGE = 2
"""Bad usage or configuration: fix the command line or ``lash.toml``."""
EXIT_HOST = 3
"""The host could not do it: the session is busy, the store failed..."""

T = TypeVar("T")


def make_console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): colours only on a terminal and without ``NO_COLOR``."""
    stream = sys.stderr if stderr else sys.stdout
    no_color = bool(os.environ.get("NO_COLOR")) or not stream.isatty()
    # No ``file``: rich then writes to the current sys.stdout / sys.stderr, so output goes
    # through prompt_toolkit's patch_stdout while a chat prompt is shown.
    return Console(
        no_color=no_color,
        color_system=None if no_color else "auto",
        highlight=False,
        soft_wrap=True,
        stderr=stderr,
    )


def fail(message: str, code: int) -> NoReturn:
    """Print ``lash: message`` on stderr and exit with ``code``."""
    click.echo(f"lash: {message}", err=True)
    sys.exit(code)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn lash errors into messages and exit codes: configuration problems exit 2,
    host errors (busy session, store failures) exit 3."""
    try:
        yield
    except (ConfigError, PluginRegistrationError) as exc:
        fail(str(exc), EXIT_USAGE)
    except LashError as exc:
        fail(str(exc), EXIT_HOST)
    except BaseExceptionGroup as group:
        leaf = _single_leaf(group)
        if isinstance(leaf, ConfigError | PluginRegistrationError):
            fail(str(leaf), EXIT_USAGE)
        if isinstance(leaf, LashError):
            fail(str(leaf), EXIT_HOST)
        raise


def _single_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups (task groups wrap errors)."""
    current: BaseException = group
    while isinstance(current, BaseExceptionGroup):
        if len(current.exceptions) != 1:
            return None
        current = current.exceptions[0]
    return current


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function on asyncio (prompt_toolkit needs it), lash errors translated."""
    with translate_errors():
        return anyio.run(fn, *args, backend="asyncio")


def compose_runtime(config: str | None, **kwargs: Any) -> Any:
    """The runtime of a command: :meth:`Runtime.from_config` over ``--config``,
    ``$LASH_CONFIG``, ``./lash.toml`` or the embedded defaults (the one way to build one)."""
    from lash_core.runtime import Runtime

    with translate_errors():
        return Runtime.from_config(config, **kwargs)


config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="The configuration file (default: $LASH_CONFIG, else ./lash.toml, else the built-in defaults).",
)
"""The ``--config FILE`` option of every command that composes a runtime."""
