"""Entry point of the ``{{ cookiecutter.entry_point_name }}`` plugin (``lash`` entry-point group).

lash imports this module once per process and registers it in each runtime it composes;
``register_tools`` then runs once per runtime. Keep it quick and free of I/O: read the
settings, build the tool, register it.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings
from {{ cookiecutter.package_name }}.tool import make_tool

LASH_PLUGIN_API = "{{ cookiecutter.__lash_plugin_api }}"
"""The lash plugin API versions this plugin works with; lash refuses to load it otherwise."""

lash_plugin_name = "{{ cookiecutter.entry_point_name }}"
"""The plugin's name when a host (or a test) hands this module to a runtime directly; as an
installed entry point it is named by its entry point, the same name."""


@hookimpl
def register_tools(register: Any) -> None:
    """Register the ``{{ cookiecutter.entry_point_name }}`` tool, configured by ``[plugins.{{ cookiecutter.entry_point_name }}]``."""
    settings = register.settings({{ cookiecutter.__class_prefix }}Settings)
    register(make_tool(settings))
