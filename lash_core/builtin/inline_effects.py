"""The ``inline`` effect host: the default; runs effects directly, journals nothing."""

from __future__ import annotations

from typing import Any

from lash_core.effects import InlineEffectHost
from lash_hookspecs import hookimpl


@hookimpl
def register_effect_hosts(register: Any) -> None:
    """Register the ``inline`` effect host."""
    register("inline", lambda settings=None: InlineEffectHost(), description="run effects directly (default)")
