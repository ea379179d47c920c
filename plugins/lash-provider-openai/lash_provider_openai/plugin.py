"""Entry point of the OpenAI provider plugin."""

from __future__ import annotations

from typing import Any

from lash_hookspecs import hookimpl
from lash_provider_openai.chat import OpenAIChatProvider
from lash_provider_openai.responses import OpenAIResponsesProvider
from lash_provider_openai.settings import ChatSettings, ResponsesSettings


@hookimpl
def register_providers(register: Any) -> None:
    """Register ``openai`` (Chat Completions and compatible servers) and ``openai-responses``."""
    register(
        "openai",
        OpenAIChatProvider,
        settings=ChatSettings,
        description="OpenAI Chat Completions, OpenRouter and OpenAI-compatible servers (vLLM, Ollama, llama.cpp)",
    )
    register(
        "openai-responses",
        OpenAIResponsesProvider,
        settings=ResponsesSettings,
        description="the OpenAI Responses API (reasoning replay, function calls)",
    )
