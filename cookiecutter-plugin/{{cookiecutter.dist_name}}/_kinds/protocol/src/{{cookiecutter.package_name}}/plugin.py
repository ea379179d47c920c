"""Entry point of the ``{{ cookiecutter.entry_point_name }}`` plugin (``lash`` entry-point group).

lash imports this module once per process and calls ``register_protocols`` once per runtime it
composes. A session uses the protocol when the configuration says
``protocol = {type = "{{ cookiecutter.entry_point_name }}"}``, or when it is the only protocol installed.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }}.protocol import {{ cookiecutter.__class_prefix }}Protocol
from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

LASH_PLUGIN_API = "{{ cookiecutter.__lash_plugin_api }}"
"""The lash plugin API versions this plugin works with; lash refuses to load it otherwise."""

lash_plugin_name = "{{ cookiecutter.entry_point_name }}"
"""The plugin's name when a host (or a test) hands this module to a runtime directly; as an
installed entry point it is named by its entry point, the same name."""


@hookimpl
def register_protocols(register: Any) -> None:
    """Register the ``{{ cookiecutter.entry_point_name }}`` protocol; lash builds it from its settings when a
    runtime opens (the factory is called with a ``{{ cookiecutter.__class_prefix }}Settings``)."""
    register(
        "{{ cookiecutter.entry_point_name }}",
        {{ cookiecutter.__class_prefix }}Protocol,
        settings={{ cookiecutter.__class_prefix }}Settings,
        description="a tool-calling loop that wraps up after a budget of tool rounds",
    )
