"""attrs validators for provider settings, so every vendor plugin words a bad value alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["one_of", "positive_tokens", "positive_tokens_or_none"]


def one_of(*choices: Any) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """A validator accepting exactly ``choices`` (``None`` included only when listed)."""

    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            shown = ", ".join(repr(c) for c in choices)
            raise ValueError(f"{attribute.name} must be one of {shown} (got {value!r})")

    return check


def positive_tokens(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """A validator for a token count that must be positive."""
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of tokens (got {value})")


def positive_tokens_or_none(_: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    """A validator for an optional token count: unset, or positive."""
    if value is not None:
        positive_tokens(_, attribute, value)
