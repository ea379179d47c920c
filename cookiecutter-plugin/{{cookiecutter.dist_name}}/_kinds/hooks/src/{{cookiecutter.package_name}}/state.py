"""The plugin's per-session state: how many turns each session has used of its budget.

State that must survive a restart never lives only in the plugin: ``snapshot_state``
returns it just before each turn commits and lash stores it *in the same atomic commit as
the turn*; when a session is opened (in this process or another, after a crash or on
another worker) lash hands it back through ``restore_state``. So what the plugin counts
and what the session's history holds cannot disagree.

The rules this module follows:

* the snapshot is small JSON data (dicts, lists, strings, numbers) with a format
  ``version``, so a later release can read what an earlier one wrote;
* ``restore_state`` replaces what the plugin knew about the session: the store is the
  truth. A turn that failed before its commit counted here but not in the store; the next
  restore corrects it;
* the state is keyed by session id: one plugin serves every session of every runtime of
  the process.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["STATE_VERSION", "TurnBudgets"]

log = logging.getLogger("{{ cookiecutter.package_name }}")

STATE_VERSION = 1
"""The version of the snapshot format (``{"version": 1, "turns": n}``)."""


class TurnBudgets:
    """Turns used per session. Synchronous and free of I/O, as ``snapshot_state`` and
    ``restore_state`` must be."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def used(self, session_id: str) -> int:
        """Turns the session has used."""
        return self._used.get(session_id, 0)

    def count(self, session_id: str) -> int:
        """Count one more turn of the session; returns the new total."""
        self._used[session_id] = self.used(session_id) + 1
        return self._used[session_id]

    def snapshot(self, session_id: str) -> dict[str, Any] | None:
        """What to commit for the session (``None``: nothing to keep)."""
        if session_id not in self._used:
            return None
        return {"version": STATE_VERSION, "turns": self._used[session_id]}

    def restore(self, session_id: str, state: Any) -> None:
        """Take the session's committed state (``None`` for a new session)."""
        self._used.pop(session_id, None)
        if state is None:
            return
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            # A format this release does not know: say so and start the session afresh
            # rather than guess. (A newer format is a newer release's; downgrade with care.)
            log.warning("session %s: cannot read turn-budget state %r; starting from zero", session_id, state)
            return
        turns = state.get("turns")
        if isinstance(turns, int) and turns >= 0:
            self._used[session_id] = turns

    def clear(self) -> None:
        """Forget every session (tests use it to play a process restart)."""
        self._used.clear()
