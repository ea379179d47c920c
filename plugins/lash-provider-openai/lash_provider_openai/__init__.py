"""lash model providers for OpenAI: ``openai`` (Chat Completions and every compatible
server) and ``openai-responses`` (the Responses API)."""

from lash_provider_openai._common import AttachmentLoader, normalize_usage
from lash_provider_openai._schema import project_parameters
from lash_provider_openai.chat import OpenAIChatProvider
from lash_provider_openai.responses import OpenAIResponsesProvider
from lash_provider_openai.settings import PRESETS, ChatSettings, OpenAISettings, ResponsesSettings

__all__ = [
    "PRESETS",
    "AttachmentLoader",
    "ChatSettings",
    "OpenAIChatProvider",
    "OpenAIResponsesProvider",
    "OpenAISettings",
    "ResponsesSettings",
    "normalize_usage",
    "project_parameters",
]
