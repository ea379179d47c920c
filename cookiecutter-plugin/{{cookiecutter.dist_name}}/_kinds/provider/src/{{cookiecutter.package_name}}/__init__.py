"""{{ cookiecutter.plugin_name }}: {{ cookiecutter.description }}.

The plugin registers one model provider, ``{{ cookiecutter.entry_point_name }}``; lash finds it through the
``lash`` entry point (see :mod:`{{ cookiecutter.package_name }}.plugin`). The provider module is imported
when a provider is first built, not when the plugin loads.
"""

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["{{ cookiecutter.__class_prefix }}Settings"]
