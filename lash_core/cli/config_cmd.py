"""``lash config schema`` and ``lash config check [FILE]``."""

from __future__ import annotations

import json
import sys

import click

from lash_core.cli._common import EXIT_OK, EXIT_STOPPED, make_console

__all__ = ["config_group"]


@click.group("config")
def config_group() -> None:
    """The configuration file: its schema, and checking one."""


@config_group.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of lash.toml for the installed plugins."""
    from lash_core.config_schema import build_config_schema

    click.echo(json.dumps(build_config_schema(), indent=2))


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check_command(file: str | None) -> None:
    """Check FILE (default: $LASH_CONFIG, else ./lash.toml, else the built-in defaults).

    Every problem is printed with its key path; the exit code is 0 when the configuration
    is valid and 1 when it is not.
    """
    from lash_core.config_file import check_config

    origin, problems = check_config(file)
    out = make_console()
    if not problems:
        out.print(f"[green]ok[/]: {origin} is valid")
        sys.exit(EXIT_OK)
    err = make_console(stderr=True)
    err.print(f"[red]{origin}: {len(problems)} problem{'s' if len(problems) != 1 else ''}[/]")
    for problem in problems:
        err.print(f"  {problem}", markup=False)
    sys.exit(EXIT_STOPPED)
