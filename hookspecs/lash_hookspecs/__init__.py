"""The hook specifications of lash.

A plugin is any Python object (usually a module) with functions decorated by
:data:`hookimpl` and named like the specs below; it is found through the ``lash``
entry-point group::

    [project.entry-points.lash]
    my_plugin = "my_package.plugin"

Two families:

* **registration hooks** (sync, called once when a runtime is composed) hand the plugin a
  ``register`` callable for providers, stores, tools, protocols, effect hosts, trace sinks
  and CLI commands. Names are the host's: a duplicate name is an error naming both plugins.
* **turn-phase hooks** (may be ``async def``) run during turns. The kernel calls them in
  pluggy's order (last registered first, ``tryfirst``/``trylast`` honoured), awaits each
  result, and applies the hook's calling convention:

  - ``collect``: every implementation runs; the non-``None`` results are gathered in order;
  - ``first``: implementations run until one returns non-``None``;
  - ``pipeline``: each implementation receives the previous one's output (``None`` keeps it);
  - ``observe``: every implementation runs; an error is logged and isolated.

Each spec's docstring states **When**, **Args**, **Returns**, **Calling**, **Async** and
**Errors**. Hook names carry no ``lash_`` prefix: the ``lash`` marker namespaces them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

__all__ = [
    "CALLING_CONVENTIONS",
    "PROJECT_NAME",
    "REGISTRATION_HOOKS",
    "TURN_PHASE_HOOKS",
    "calling",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "lash"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

CALLING_CONVENTIONS = ("register", "collect", "first", "pipeline", "observe")

F = TypeVar("F", bound=Callable[..., Any])


def calling(convention: str, *, may_be_async: bool) -> Callable[[F], F]:
    """Record a spec's calling convention and whether implementations may be async."""
    if convention not in CALLING_CONVENTIONS:
        raise ValueError(f"unknown calling convention {convention!r}")

    def mark(fn: F) -> F:
        fn.lash_calling = convention  # type: ignore[attr-defined]
        fn.lash_async = may_be_async  # type: ignore[attr-defined]
        return fn

    return mark


from lash_hookspecs import registration as registration  # noqa: E402
from lash_hookspecs import turn_phases as turn_phases  # noqa: E402

REGISTRATION_HOOKS: tuple[str, ...] = tuple(registration.HOOKS)
TURN_PHASE_HOOKS: tuple[str, ...] = tuple(turn_phases.HOOKS)
