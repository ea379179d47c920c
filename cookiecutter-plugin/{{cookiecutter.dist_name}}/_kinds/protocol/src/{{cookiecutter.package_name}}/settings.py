"""Settings of the ``{{ cookiecutter.entry_point_name }}`` protocol: the ``settings`` of
``protocol = {type = "{{ cookiecutter.entry_point_name }}", settings = {...}}``.
"""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge, min_len

__all__ = ["{{ cookiecutter.__class_prefix }}Settings"]


@frozen(kw_only=True)
class {{ cookiecutter.__class_prefix }}Settings:
    """Settings of the ``{{ cookiecutter.entry_point_name }}`` protocol.

    * ``max_tool_rounds``: rounds of tool calls a turn may make; after the last one the model
      is called once more without tools, to answer with what it has (default 8);
    * ``wrap_up_note``: the system note that asks the model to answer then.
    """

    max_tool_rounds: int = field(default=8, validator=ge(1))
    wrap_up_note: str = field(
        default="You have used every tool call this turn allows. Answer now with what you have.",
        validator=min_len(1),
    )
