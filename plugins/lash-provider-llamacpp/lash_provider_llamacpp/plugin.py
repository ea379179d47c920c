"""Entry point of the llamacpp provider plugin."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_provider_llamacpp.provider import LlamaCppProvider, LlamaCppSettings


@hookimpl
def register_providers(register: Any) -> None:
    """Register the ``llamacpp`` provider."""
    register(
        "llamacpp",
        LlamaCppProvider,
        settings=LlamaCppSettings,
        description="in-process llama-cpp-python provider (default model: SmolLM2-135M-Instruct)",
    )
