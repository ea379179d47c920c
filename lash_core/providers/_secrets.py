"""API keys: where they come from and how they are kept out of errors, logs and traces.

A provider's settings carry ``api_key`` (a plain key, or ``$env:NAME`` when the host did
not resolve it already) and the vendor's usual environment variable as a fallback.
Everything a provider turns into text that leaves it (error messages, raw bodies, retry
reasons, log lines) goes through a :class:`Redactor` that knows the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["REDACTED", "Redactor", "resolve_api_key"]

REDACTED = "[REDACTED]"

_ENV_PREFIX = "$env:"
# Credential shapes that never belong in an error text, whoever echoed them: bearer
# tokens and vendor-style secret keys (sk-..., sk-ant-..., sk-or-v1-...).
_PATTERNS = (
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
)


def resolve_api_key(
    value: str | None, env_var: str | None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The API key to use: ``value`` when it is a plain key, the variable it names when
    it is ``$env:NAME``, else the vendor's usual variable ``env_var``; ``None`` when
    nothing is set. Empty strings count as unset."""
    env = os.environ if environ is None else environ
    if value:
        if value.startswith(_ENV_PREFIX):
            return env.get(value[len(_ENV_PREFIX) :].strip()) or None
        return value
    if env_var:
        return env.get(env_var) or None
    return None


class Redactor:
    """Replaces known secrets (and anything shaped like a bearer token or secret key)
    with ``[REDACTED]``. Calling it on text returns the cleaned text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        """Also redact ``secret`` from now on."""
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_replacement, text)
        return text


def _replacement(match: re.Match[str]) -> str:
    if match.lastindex:
        return f"{match.group(1)} {REDACTED}"
    return REDACTED
