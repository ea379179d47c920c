"""Entry point of the ``{{ cookiecutter.entry_point_name }}`` plugin (``lash`` entry-point group).

lash imports this module once per process and calls ``register_stores`` once per runtime it
composes. A runtime uses the store when the configuration says
``store = {type = "{{ cookiecutter.entry_point_name }}"}``; it builds the store (the factory below, with the
structured settings) when it opens, opens it, and closes it with the runtime.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings
from {{ cookiecutter.package_name }}.store import {{ cookiecutter.__class_prefix }}Store

LASH_PLUGIN_API = "{{ cookiecutter.__lash_plugin_api }}"
"""The lash plugin API versions this plugin works with; lash refuses to load it otherwise."""

lash_plugin_name = "{{ cookiecutter.entry_point_name }}"
"""The plugin's name when a host (or a test) hands this module to a runtime directly; as an
installed entry point it is named by its entry point, the same name."""


@hookimpl
def register_stores(register: Any) -> None:
    """Register the ``{{ cookiecutter.entry_point_name }}`` store."""
    register(
        "{{ cookiecutter.entry_point_name }}",
        {{ cookiecutter.__class_prefix }}Store,
        settings={{ cookiecutter.__class_prefix }}Settings,
        description="sessions in process memory, shared by namespace (lost on exit)",
    )
