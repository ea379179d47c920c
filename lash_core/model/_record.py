"""The base class of every data-model class.

Model classes are ``@frozen(repr=False)`` attrs classes deriving from :class:`Record`,
whose one shared ``__repr__`` replaces generated code (generating a repr per class is a
third of the cost of building each class at import).
"""

from __future__ import annotations

import attrs

__all__ = ["Record"]


class Record:
    """Shared behaviour of model classes: a readable repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in attrs.fields(type(self)))  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({fields})"
