"""{{ cookiecutter.plugin_name }}: {{ cookiecutter.description }}.

A runtime plugin: it registers nothing, it takes part in turns through turn-phase hooks
(see :mod:`{{ cookiecutter.package_name }}.plugin`) and keeps per-session state that survives restarts
(see :mod:`{{ cookiecutter.package_name }}.state`).
"""

from {{ cookiecutter.package_name }}.state import STATE_VERSION, TurnBudgets

__all__ = ["STATE_VERSION", "TurnBudgets"]
