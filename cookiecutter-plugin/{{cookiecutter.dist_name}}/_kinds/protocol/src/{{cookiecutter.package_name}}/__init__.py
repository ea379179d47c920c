"""{{ cookiecutter.plugin_name }}: {{ cookiecutter.description }}.

The plugin registers one protocol, ``{{ cookiecutter.entry_point_name }}``; lash finds it through the
``lash`` entry point (see :mod:`{{ cookiecutter.package_name }}.plugin`).
"""

from {{ cookiecutter.package_name }}.protocol import {{ cookiecutter.__class_prefix }}Protocol
from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings

__all__ = ["{{ cookiecutter.__class_prefix }}Protocol", "{{ cookiecutter.__class_prefix }}Settings"]
