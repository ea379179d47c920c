"""{{ cookiecutter.plugin_name }}: {{ cookiecutter.description }}.

The plugin registers one session store, ``{{ cookiecutter.entry_point_name }}``; lash finds it through the
``lash`` entry point (see :mod:`{{ cookiecutter.package_name }}.plugin`).
"""

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings
from {{ cookiecutter.package_name }}.store import {{ cookiecutter.__class_prefix }}Store, forget_namespace

__all__ = ["{{ cookiecutter.__class_prefix }}Settings", "{{ cookiecutter.__class_prefix }}Store", "forget_namespace"]
