"""lash model provider for the Anthropic Messages API: ``anthropic``."""

from lash_provider_anthropic._messages import tool_use_id
from lash_provider_anthropic._parse import normalize_usage
from lash_provider_anthropic._schema import project_input_schema
from lash_provider_anthropic.provider import API_MEDIA_TYPES, AnthropicProvider, AttachmentLoader
from lash_provider_anthropic.settings import DEFAULT_THINKING_BUDGETS, AnthropicSettings

__all__ = [
    "API_MEDIA_TYPES",
    "DEFAULT_THINKING_BUDGETS",
    "AnthropicProvider",
    "AnthropicSettings",
    "AttachmentLoader",
    "normalize_usage",
    "project_input_schema",
    "tool_use_id",
]
