"""Settings of the ``sqlite`` store and the ``sqlite-journal`` effect host."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

from attrs import field, frozen

__all__ = [
    "MEMORY_PATH",
    "SqliteDurability",
    "SqliteJournalSettings",
    "SqliteStoreSettings",
    "default_database_path",
]

MEMORY_PATH = ":memory:"
"""The ``path`` of a private in-memory database (lost on close; declared inline)."""


class SqliteDurability(Enum):
    """How hard a commit waits for the disk (SQLite's ``synchronous`` setting, in WAL mode).

    * ``full`` (default): ``synchronous=FULL``; the WAL is synced at every commit, so a
      committed turn survives a power loss or an OS crash.
    * ``normal``: ``synchronous=NORMAL``; faster commits that survive a crash of the
      process, but a power loss may roll back the last commits (never corrupts the file).
    """

    FULL = "full"
    NORMAL = "normal"

    @property
    def pragma(self) -> str:
        """The ``PRAGMA synchronous`` value."""
        return "FULL" if self is SqliteDurability.FULL else "NORMAL"


def default_database_path(environ: Any = None) -> str:
    """``$XDG_DATA_HOME/lash/sessions.db``, else ``~/.local/share/lash/sessions.db``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "lash" / "sessions.db")


def _non_negative(instance: object, attribute: Any, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more milliseconds, got {value}")


def _non_empty(instance: object, attribute: Any, value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must name a database file (or be {MEMORY_PATH!r})")


@frozen
class SqliteStoreSettings:
    """Settings of the ``sqlite`` store.

    * ``path``: the database file holding every session (created with its directory
      when missing); ``":memory:"`` for a private in-memory database. Default:
      :func:`default_database_path`.
    * ``durability``: ``full`` (default) or ``normal``, see :class:`SqliteDurability`.
    * ``busy_timeout_ms``: how long a write waits for another connection's write
      transaction before failing (default 15000).
    """

    path: str = field(factory=default_database_path, validator=_non_empty)
    durability: SqliteDurability = field(default=SqliteDurability.FULL, converter=SqliteDurability)
    busy_timeout_ms: int = field(default=15_000, validator=_non_negative)


@frozen
class SqliteJournalSettings:
    """Settings of the ``sqlite-journal`` effect host: the same keys and defaults as the
    store's; point ``path`` at the store's database file so the journal lives beside the
    sessions it belongs to."""

    path: str = field(factory=default_database_path, validator=_non_empty)
    durability: SqliteDurability = field(default=SqliteDurability.FULL, converter=SqliteDurability)
    busy_timeout_ms: int = field(default=15_000, validator=_non_negative)
