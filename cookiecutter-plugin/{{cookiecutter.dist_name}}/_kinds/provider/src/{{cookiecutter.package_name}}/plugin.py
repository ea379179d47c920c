"""Entry point of the ``{{ cookiecutter.entry_point_name }}`` plugin (``lash`` entry-point group).

lash imports this module once per process and calls ``register_providers`` once per runtime it
composes; the runtime builds a provider from its settings the first time a session uses it.
So this module stays light: the provider (and httpx) is imported by the factory, not here,
and nothing connects before the first model call.
"""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

LASH_PLUGIN_API = "{{ cookiecutter.__lash_plugin_api }}"
"""The lash plugin API versions this plugin works with; lash refuses to load it otherwise."""

lash_plugin_name = "{{ cookiecutter.entry_point_name }}"
"""The plugin's name when a host (or a test) hands this module to a runtime directly; as an
installed entry point it is named by its entry point, the same name."""


def build_provider(settings: {{ cookiecutter.__class_prefix }}Settings) -> Any:
    """The provider for one ``[providers.<id>]`` entry (called by the runtime, on first use)."""
    from {{ cookiecutter.package_name }}.provider import {{ cookiecutter.__class_prefix }}Provider

    return {{ cookiecutter.__class_prefix }}Provider(settings)


@hookimpl
def register_providers(register: Any) -> None:
    """Register the ``{{ cookiecutter.entry_point_name }}`` provider type."""
    register(
        "{{ cookiecutter.entry_point_name }}",
        build_provider,
        settings={{ cookiecutter.__class_prefix }}Settings,
        description="{{ cookiecutter.plugin_name }} chat API over HTTP (streaming, tools, reasoning)",
    )
