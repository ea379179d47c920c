"""Settings of the ``anthropic`` provider (an attrs class the host's config is structured into).

``api_key`` is a plain key or ``$env:NAME``; when it is unset ``ANTHROPIC_API_KEY`` (or
``api_key_env``) is read. A custom ``base_url`` (a gateway or proxy that speaks the
Messages API) may run without a key; Anthropic's own endpoint refuses to. The key is never
shown in ``repr``.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import field, frozen

from lash_core.providers import (
    RateLimitPolicy,
    RetryPolicy,
    Timeouts,
    one_of,
    positive_tokens,
    positive_tokens_or_none,
)

__all__ = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_THINKING_BUDGETS",
    "REASONING_DIALECTS",
    "AnthropicSettings",
]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 32_768
REASONING_DIALECTS = ("budget", "adaptive", "none")

DEFAULT_THINKING_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16_384,
    "xhigh": 32_768,
    "max": 32_768,
}
"""Thinking budgets (tokens) per reasoning effort for the ``budget`` reasoning dialect."""


def _budgets(_: object, attribute: attrs.Attribute[Any], value: dict[str, int]) -> None:
    for effort, tokens in value.items():
        if not isinstance(tokens, int) or tokens < 1024:
            raise ValueError(
                f"{attribute.name}[{effort!r}] must be at least 1024 tokens, the API's smallest thinking "
                f"budget (got {tokens!r})"
            )


@frozen
class AnthropicSettings:
    """Settings of the ``anthropic`` provider.

    * ``base_url``: ``https://api.anthropic.com`` unless set (requests go to
      ``{base_url}/v1/messages``);
    * ``anthropic_version``: the ``anthropic-version`` header;
    * ``betas``: values sent in the ``anthropic-beta`` header (e.g.
      ``interleaved-thinking-2025-05-14``);
    * ``headers``: extra HTTP headers (values of credential-like headers are redacted like the key);
    * ``timeouts`` / ``retry`` / ``rate_limit``: the shared provider timeouts, retry ladder and
      client-side rate limits (concurrency, requests and tokens per window; unlimited by default);
    * ``default_max_tokens``: ``max_tokens`` (required by the API) when the model spec gives no
      output cap; ``max_output_tokens``: a cap applied on top of the model spec's;
    * ``reasoning_dialect``: how a reasoning effort is sent when the model spec names no dialect:
      ``budget`` (``thinking.budget_tokens`` from ``thinking_budgets``), ``adaptive``
      (``thinking.type: adaptive`` plus ``output_config.effort``) or ``none`` (nothing);
    * ``thinking_display``: ``thinking.display`` when set (``summarized`` or ``omitted``);
    * ``expose_reasoning``: stream thinking text as reasoning deltas (it is kept for replay either way);
    * ``cache_ttl``: the ``ttl`` of prompt-cache breakpoints (``5m`` or ``1h``; unset: the API's
      default, five minutes).
    """

    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    base_url: str | None = None
    anthropic_version: str = ANTHROPIC_VERSION
    betas: tuple[str, ...] = ()
    headers: dict[str, str] = field(factory=dict, repr=False)
    timeouts: Timeouts = field(factory=Timeouts)
    retry: RetryPolicy = field(factory=RetryPolicy)
    rate_limit: RateLimitPolicy = field(factory=RateLimitPolicy)
    default_max_tokens: int = field(default=DEFAULT_MAX_TOKENS, validator=positive_tokens)
    max_output_tokens: int | None = field(default=None, validator=positive_tokens_or_none)
    reasoning_dialect: str = field(default="budget", validator=one_of(*REASONING_DIALECTS))
    thinking_budgets: dict[str, int] = field(
        factory=lambda: dict(DEFAULT_THINKING_BUDGETS), validator=_budgets
    )
    thinking_display: str | None = field(default=None, validator=one_of(None, "summarized", "omitted"))
    expose_reasoning: bool = True
    cache_ttl: str | None = field(default=None, validator=one_of(None, "5m", "1h"))

    @property
    def resolved_base_url(self) -> str:
        """``base_url``, else Anthropic's."""
        return self.base_url or ANTHROPIC_BASE_URL

    @property
    def resolved_key_env(self) -> str:
        """The environment variable read when ``api_key`` is unset."""
        return self.api_key_env or "ANTHROPIC_API_KEY"

    @property
    def key_required(self) -> bool:
        """True for Anthropic's own endpoint (no custom ``base_url``)."""
        return self.base_url is None
