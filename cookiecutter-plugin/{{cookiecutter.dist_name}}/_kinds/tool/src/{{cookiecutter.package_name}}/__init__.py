"""{{ cookiecutter.plugin_name }}: {{ cookiecutter.description }}.

The plugin registers one tool, ``{{ cookiecutter.entry_point_name }}``; lash finds it through the
``lash`` entry point (see :mod:`{{ cookiecutter.package_name }}.plugin`).
"""

from {{ cookiecutter.package_name }}.settings import {{ cookiecutter.__class_prefix }}Settings
from {{ cookiecutter.package_name }}.tool import TOOL_NAME, count_text, make_tool

__all__ = ["TOOL_NAME", "{{ cookiecutter.__class_prefix }}Settings", "count_text", "make_tool"]
