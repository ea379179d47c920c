"""Entry point of the Anthropic provider plugin."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_provider_anthropic.provider import AnthropicProvider
from lash_provider_anthropic.settings import AnthropicSettings


@hookimpl
def register_providers(register: Any) -> None:
    """Register ``anthropic`` (the Anthropic Messages API)."""
    register(
        "anthropic",
        AnthropicProvider,
        settings=AnthropicSettings,
        description="the Anthropic Messages API (Claude): thinking replay, tool use, prompt caching",
    )
