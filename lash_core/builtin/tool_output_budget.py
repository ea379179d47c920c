"""Built-in plugin: keeps tool results the model sees within a size budget.

It claims the tool-result projector slot with a :class:`~lash_core.tools.projector.BudgetProjector`
(16 KiB and 400 lines by default): a larger result keeps its head and tail around a
marker line saying what was cut; the full output is stored with the session as is.
Disable this plugin and register another projector to change the policy.
"""

from __future__ import annotations

from typing import Any

from lash_core.tools.projector import BudgetProjector
from lash_hookspecs import hookimpl


@hookimpl
def register_tools(register: Any) -> None:
    """Claim the tool-result projector slot with the default budget."""
    register.result_projector(BudgetProjector())
