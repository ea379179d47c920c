"""Settings of the ``{{ cookiecutter.entry_point_name }}`` store: the ``settings`` of
``store = {type = "{{ cookiecutter.entry_point_name }}", settings = {...}}``.
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import min_len

__all__ = ["{{ cookiecutter.__class_prefix }}Settings"]


@frozen(kw_only=True)
class {{ cookiecutter.__class_prefix }}Settings:
    """Settings of the ``{{ cookiecutter.entry_point_name }}`` store.

    * ``namespace``: the sessions a store sees; every store of the process with the same
      namespace shares them, so they outlive the runtime that wrote them (default
      ``"default"``).
    """

    namespace: str = field(default="default", validator=min_len(1))
