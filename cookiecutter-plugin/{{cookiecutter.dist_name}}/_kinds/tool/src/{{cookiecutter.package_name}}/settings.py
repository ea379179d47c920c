"""Settings of the ``{{ cookiecutter.entry_point_name }}`` plugin: the ``[plugins.{{ cookiecutter.entry_point_name }}]`` table.

lash structures the table into :class:`{{ cookiecutter.__class_prefix }}Settings` (unknown keys and wrong
types are errors naming the key) and ``lash config schema`` documents it from the docstring.
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge

__all__ = ["{{ cookiecutter.__class_prefix }}Settings"]


@frozen(kw_only=True)
class {{ cookiecutter.__class_prefix }}Settings:
    """Settings of the ``{{ cookiecutter.entry_point_name }}`` tool.

    * ``max_chars``: the longest text the tool accepts, in characters; a longer one is an error
      result the model can act on (default 100000).
    """

    max_chars: int = field(default=100_000, validator=ge(1))
