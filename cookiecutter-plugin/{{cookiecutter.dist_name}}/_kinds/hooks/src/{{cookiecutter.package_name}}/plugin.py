"""Entry point of the ``{{ cookiecutter.entry_point_name }}`` plugin (``lash`` entry-point group): a turn budget.

Each session may run ``{{ cookiecutter.__env_prefix }}_TURNS`` turns (environment variable, default 100);
the turn after that is stopped before the model is called, with the user's message kept.

The hooks, in the order a turn meets them:

* ``prepare_turn`` (before the model is called): refuses the turn with ``AbortTurn`` when
  the budget is used up, else counts it and reports ``turn n of N`` as a status event;
* ``snapshot_state`` (just before the commit): the count, committed atomically with the turn;
* ``turn_persisted`` (after the commit): side effects that must follow a durable commit,
  here a log line when a session is close to its budget. It runs only after a successful
  commit, and is skipped when the process dies in between: never keep state only here;
* ``restore_state`` (when a session is opened): the committed count comes back.

lash imports this module once per process and registers it in each runtime, so the hooks
below serve every session of every runtime: per-session state is keyed by session id
(:class:`~{{ cookiecutter.package_name }}.state.TurnBudgets`), and nothing here does I/O.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from lash_core.hooks import AbortTurn, EmitEvent, SessionHookContext, TurnHookContext
from lash_core.model import AssembledTurn
from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }}.state import TurnBudgets

LASH_PLUGIN_API = "{{ cookiecutter.__lash_plugin_api }}"
"""The lash plugin API versions this plugin works with; lash refuses to load it otherwise."""

lash_plugin_name = "{{ cookiecutter.entry_point_name }}"
"""The plugin's name when a host (or a test) hands this module to a runtime directly; as an
installed entry point it is named by its entry point, the same name. It is also the key of
the plugin's state in the store."""

BUDGET_VARIABLE = "{{ cookiecutter.__env_prefix }}_TURNS"
DEFAULT_BUDGET = 100
WARN_REMAINING = 3
"""``turn_persisted`` logs a warning when a session has this many turns left, or fewer."""

BUDGETS = TurnBudgets()
"""Turns used per session, for every runtime of this process."""

log = logging.getLogger("{{ cookiecutter.package_name }}")


def budget() -> int:
    """Turns a session may run: ``{{ cookiecutter.__env_prefix }}_TURNS``, else ``DEFAULT_BUDGET``."""
    value = os.environ.get(BUDGET_VARIABLE, "").strip()
    try:
        return max(int(value), 0) if value else DEFAULT_BUDGET
    except ValueError:
        log.warning("%s=%r is not a number of turns; using %d", BUDGET_VARIABLE, value, DEFAULT_BUDGET)
        return DEFAULT_BUDGET


@hookimpl
def prepare_turn(ctx: TurnHookContext) -> Any:
    """Refuse the turn when the session's budget is used up; else count it."""
    limit = budget()
    if BUDGETS.used(ctx.session_id) >= limit:
        return AbortTurn(
            "turn_budget",
            f"this session has used its {limit} turns; start a new session to go on",
        )
    turn = BUDGETS.count(ctx.session_id)
    return EmitEvent.status("{{ cookiecutter.entry_point_name }}", f"turn {turn} of {limit}")


@hookimpl
def snapshot_state(session_id: str) -> Any:
    """The session's count, committed with the turn."""
    return BUDGETS.snapshot(session_id)


@hookimpl
def restore_state(session_id: str, state: Any) -> None:
    """The session's committed count, when the session is opened."""
    BUDGETS.restore(session_id, state)


@hookimpl
def turn_persisted(ctx: SessionHookContext, turn: AssembledTurn) -> None:
    """After the commit: warn when the session is close to its budget."""
    remaining = budget() - BUDGETS.used(ctx.session_id)
    if remaining <= WARN_REMAINING:
        log.warning(
            "session %s has %d turn(s) left of its budget (turn %s committed)",
            ctx.session_id,
            max(remaining, 0),
            turn.turn_id,
        )
