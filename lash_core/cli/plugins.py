"""``lash plugins``: what is installed, and the root group that adds plugin commands."""

from __future__ import annotations

import json
import sys

import click

from lash_core.cli._common import EXIT_USAGE
from lash_core.errors import LashError
from lash_core.plugins.manager import create_plugin_manager
from lash_core.plugins.registry import build_registry
from lash_core.plugins.report import plugins_report

__all__ = ["LashGroup", "plugins_command"]


class LashGroup(click.Group):
    """The root group: built-in commands plus those plugins register (``register_commands``)."""

    def _plugin_commands(self) -> dict[str, click.Command]:
        cached: dict[str, click.Command] | None = getattr(self, "_cached_plugin_commands", None)
        if cached is None:
            try:
                registry = build_registry(create_plugin_manager())
                cached = {name: command for name, (_, command) in registry.commands.items()}
            except LashError as exc:
                click.echo(f"lash: plugin commands unavailable: {exc}", err=True)
                cached = {}
            self._cached_plugin_commands = cached
        return cached

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin command names, sorted."""
        return sorted({*super().list_commands(ctx), *self._plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command, else a plugin's."""
        return super().get_command(ctx, cmd_name) or self._plugin_commands().get(cmd_name)


@click.command("plugins")
def plugins_command() -> None:
    """Print the installed plugins, their hooks and what they registered, as JSON."""
    try:
        loaded = create_plugin_manager()
        registry = build_registry(loaded)
    except LashError as exc:
        click.echo(f"lash: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps(plugins_report(loaded, registry), indent=2))
