"""The ``lash`` command line.

Every command that runs turns composes its runtime the one way there is,
:meth:`lash_core.runtime.Runtime.from_config` over ``--config``, ``$LASH_CONFIG``,
``./lash.toml`` or the embedded defaults.

* ``lash run "prompt"``: one turn, streamed; the exit code is the outcome class;
* ``lash chat``: an interactive session;
* ``lash sessions list | show | export | delete``: the stored sessions;
* ``lash trace show SESSION``: a session's trace as a timeline;
* ``lash doctor [--online]``: check the installation;
* ``lash worker``: serve pending input from the store;
* ``lash config schema | check``: the configuration's JSON Schema, and checking a file;
* ``lash plugins``: the installed plugins as JSON; plugins add commands of their own.

Exit codes: 0 success (a finished turn), 1 a stopped turn or a failed check, 2 usage or
configuration error, 3 host error (busy session, store failure).
"""

from __future__ import annotations

import click

from lash_core.cli._common import EXIT_HOST, EXIT_OK, EXIT_STOPPED, EXIT_USAGE
from lash_core.cli.chat import chat_command
from lash_core.cli.config_cmd import config_group
from lash_core.cli.doctor import doctor_command
from lash_core.cli.plugins import LashGroup, plugins_command
from lash_core.cli.run import run_command
from lash_core.cli.sessions import sessions_group
from lash_core.cli.trace import trace_group
from lash_core.cli.worker import worker_command

__all__ = ["EXIT_HOST", "EXIT_OK", "EXIT_STOPPED", "EXIT_USAGE", "LashGroup", "main"]


@click.group(cls=LashGroup)
@click.version_option(package_name="lash-core")
def main() -> None:
    """lash: a runtime for durable LLM agents."""


for _command in (
    chat_command,
    config_group,
    doctor_command,
    plugins_command,
    run_command,
    sessions_group,
    trace_group,
    worker_command,
):
    main.add_command(_command)
