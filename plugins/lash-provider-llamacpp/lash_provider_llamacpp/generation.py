"""Generating one answer token by token (blocking; runs in a worker thread).

An answer is either prose or exactly one tool call:

* **no tools offered**: the model writes freely until an end-of-turn token;
* **tools offered, the model chooses** (:class:`ToolOffer` with choice ``auto``): the first
  token is sampled under :data:`~lash_provider_llamacpp.grammar.DECISION`, so it is either
  the start of ``<tool_call>`` or the start of prose. Prose then goes on without any grammar
  and is streamed from its first token; the choice costs nothing but that one constrained
  token;
* **tools offered, no call allowed** (choice ``none``): prose whose first token cannot start
  ``<tool_call>`` (:data:`~lash_provider_llamacpp.grammar.NO_CALL`);
* **a tool call** (chosen, or choice ``required``): the scaffolding of the call is written
  for the model (``<tool_call>\\n{"name": "``), the name is sampled among the offered names
  by the model's probability of each whole name (or written when only one tool is offered),
  ``", "arguments": `` is written, and the arguments are sampled under the tool's schema
  grammar until they form a complete JSON object. The model does not write the closing
  ``}`` and ``</tool_call>``: the call ends there.

Pieces go to ``emit`` as ``("text", s)``, ``("tool", name)`` and ``("arguments", s)``; when
``emit`` returns ``False`` (nobody listens any more) or ``stop`` is set, generation ends with
finish ``"cancelled"``. The scaffolding written for the model counts as output tokens, like
the sampled ones, and ``max_tokens`` caps them together.
"""

from __future__ import annotations

import codecs
import json
import math
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from attrs import frozen

from lash_core.model import ToolChoice, ToolSpec
from lash_provider_llamacpp.chat import ChatMessage
from lash_provider_llamacpp.engine import Generation, LoadedModel, PromptTooLongError, SamplingOptions
from lash_provider_llamacpp.grammar import DECISION, NO_CALL
from lash_provider_llamacpp.tool_format import CALL_OPEN, arguments_prefix, call_prefix

__all__ = ["Emit", "Piece", "ToolOffer", "generate"]

Piece = tuple[Literal["text", "tool", "arguments"], str]
"""What the model produced next: prose text, a tool call's name, or a piece of its arguments."""

Emit = Callable[[Piece], bool]
"""Receives each piece; returns ``False`` when nobody listens any more."""

# Sampling defaults of llama-cpp-python's chat completion, used for every call.
_TOP_K = 40
_TOP_P = 0.95
_MIN_P = 0.05
_REPEAT_PENALTY = 1.0


@frozen
class ToolOffer:
    """The tools shown to the model for this answer, and whether it may (``auto``), must
    (``required``) or must not (``none``) call one."""

    tools: tuple[ToolSpec, ...]
    choice: ToolChoice = ToolChoice.AUTO


def _complete_object(text: str) -> bool:
    body = text.rstrip()
    if not body.endswith("}"):
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


class _Answer:
    """One answer in progress: the output budget, the stop flag and the finish reason."""

    def __init__(
        self,
        model: LoadedModel,
        options: SamplingOptions,
        stop: threading.Event,
        emit: Emit,
        prompt_tokens: int,
        budget: int,
    ) -> None:
        self.model = model
        self.options = options
        self.stop = stop
        self.emit = emit
        self.prompt_tokens = prompt_tokens
        self.budget = budget
        self.limit = "length" if budget == options.max_tokens else "context"
        self.output = 0
        self.finish: str | None = None
        self.rng = random.Random(options.seed)

    def result(self, text: str = "", tool_name: str | None = None, arguments: str = "") -> Generation:
        return Generation(
            text, self.prompt_tokens, self.output, self.finish or self.limit, tool_name, arguments
        )

    def send(self, piece: Piece) -> bool:
        if self.emit(piece):
            return True
        self.finish = "cancelled"
        return False

    def sample(self, tokens: list[int], grammar: str | None) -> Iterator[int]:
        """Tokens sampled after ``tokens`` (under ``grammar``), each counted as output. An
        end-of-generation token is yielded (uncounted) and ends the iteration; so do the stop
        flag and the budget, which set :attr:`finish`."""
        if self.stop.is_set():
            self.finish = "cancelled"
            return
        if self.output >= self.budget:
            self.finish = self.limit
            return
        llama_grammar = None
        if grammar is not None:
            from llama_cpp import LlamaGrammar

            llama_grammar = LlamaGrammar.from_string(grammar, verbose=False)
        stream = self.model.llama.generate(
            tokens,
            top_k=_TOP_K,
            top_p=_TOP_P,
            min_p=_MIN_P,
            temp=self.options.temperature,
            repeat_penalty=_REPEAT_PENALTY,
            grammar=llama_grammar,
        )
        try:
            for token in stream:
                if self.stop.is_set():
                    self.finish = "cancelled"
                    return
                if self.model.is_end(token):
                    yield token
                    return
                self.output += 1
                yield token
                if self.output >= self.budget:
                    self.finish = self.limit
                    return
        finally:
            stream.close()

    def prose(self, tokens: list[int], first: int | None = None) -> Generation:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []

        def take(token: int) -> bool:
            text = decoder.decode(self.model.piece(token))
            if text:
                pieces.append(text)
                return self.send(("text", text))
            return True

        if first is not None:
            if not take(first):
                return self.result("".join(pieces))
            tokens = [*tokens, first]
            if self.output >= self.budget:
                self.finish = self.limit
        if self.finish is None:
            for token in self.sample(tokens, None):
                if self.model.is_end(token):
                    self.finish = "stop"
                    break
                if not take(token):
                    break
        if self.finish != "cancelled":
            tail = decoder.decode(b"", final=True)
            if tail:
                pieces.append(tail)
                self.emit(("text", tail))
        return self.result("".join(pieces))

    def first(self, tokens: list[int], grammar: str) -> int | None:
        """The first token, sampled under ``grammar`` (``None``: the answer ended)."""
        for token in self.sample(tokens, grammar):
            if self.model.is_end(token):
                self.finish = "stop"
                return None
            return token
        return None

    def written(self, text: str) -> list[int] | None:
        """The tokens of prompt plus what was written for the model (``None``: over budget)."""
        tokens = self.model.tokenize(text)
        self.output = min(len(tokens) - self.prompt_tokens, self.budget)
        if self.output >= self.budget:
            self.finish = self.limit
            return None
        return tokens

    def choose_name(self, tokens: list[int], names: Sequence[str]) -> str | None:
        """The tool's name, sampled among ``names`` by the model's probability of each whole
        name (its own tokens, then the closing quote), at the temperature (greedy at 0).

        Scoring whole names matters: under a character grammar the model could start ``grep``
        with the one-letter token ``g``, which is likely after almost anything, and be forced
        through the rest of a name it never preferred. Each distinct prefix of the names'
        tokens is evaluated once.
        """
        quote = self.model.tokenize('"')
        sequences = {name: self.model.tokenize(name) + quote for name in names}
        if self.output + max(len(sequence) for sequence in sequences.values()) >= self.budget:
            self.finish = self.limit  # scoring the names would run past the budget (or the window)
            return None
        logprobs: dict[tuple[int, ...], Any] = {}
        scores: dict[str, float] = {}
        for name, sequence in sequences.items():
            score = 0.0
            for step, token in enumerate(sequence):
                prefix = tuple(sequence[:step])
                if prefix not in logprobs:
                    if self.stop.is_set():
                        self.finish = "cancelled"
                        return None
                    logprobs[prefix] = self.model.next_logprobs([*tokens, *prefix])
                score += float(logprobs[prefix][token])
            scores[name] = score
        return self.pick(scores)

    def pick(self, scores: dict[str, float]) -> str:
        """A key of ``scores`` (log-probabilities), sampled at the temperature (greedy at 0)."""
        names = list(scores)
        temperature = self.options.temperature
        best = max(scores.values())
        if temperature <= 0:
            return names[[scores[name] for name in names].index(best)]
        weights = [math.exp((scores[name] - best) / temperature) for name in names]
        return self.rng.choices(names, weights)[0]

    def tool_call(self, prompt: str, tools: Sequence[ToolSpec]) -> Generation:
        written = prompt + call_prefix()
        tokens = self.written(written)
        if tokens is None:
            return self.result()
        names = [tool.name for tool in tools]
        name = names[0] if len(names) == 1 else self.choose_name(tokens, names)
        if name is None:
            return self.result()
        tokens = self.written(written + arguments_prefix(name))
        if tokens is None or not self.send(("tool", name)):
            return self.result(tool_name=name)
        tool = next(tool for tool in tools if tool.name == name)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        for token in self.sample(tokens, self.model.arguments_grammar(tool)):
            if self.model.is_end(token):  # the grammar is complete: only an end token was allowed
                self.finish = "tool_call"
                break
            text = decoder.decode(self.model.piece(token))
            if text:
                pieces.append(text)
                if not self.send(("arguments", text)):
                    break
                if _complete_object("".join(pieces)):
                    self.finish = "tool_call"
                    break
        return self.result(tool_name=name, arguments="".join(pieces))


def generate(
    model: LoadedModel,
    chat: Sequence[ChatMessage],
    options: SamplingOptions,
    emit: Emit,
    stop: threading.Event,
    offer: ToolOffer | None = None,
) -> Generation:
    """Generate an answer to ``chat``, prose or (when ``offer`` has tools) one tool call; see
    the module docs. Raises :class:`PromptTooLongError` when the prompt leaves no room for
    output. The caller holds :attr:`LoadedModel.lock`.
    """
    llama = model.llama
    prompt = model.prompt_text(chat)
    tokens = model.tokenize(prompt)
    room = model.n_ctx - len(tokens)
    if room <= 0:
        raise PromptTooLongError(len(tokens), model.n_ctx)
    if options.seed is not None:
        # Reusing the cached prompt prefix evaluates it in other batches, which changes the
        # logits slightly; a seeded call starts from a clean context so that it repeats exactly.
        llama.reset()
        llama.set_seed(options.seed)
    else:
        llama.set_seed(random.getrandbits(32))
    answer = _Answer(model, options, stop, emit, len(tokens), min(options.max_tokens, room))
    if stop.is_set():
        answer.finish = "cancelled"
        return answer.result()
    if offer is None or not offer.tools:
        return answer.prose(tokens)
    if offer.choice is not ToolChoice.REQUIRED:
        first = answer.first(tokens, DECISION if offer.choice is ToolChoice.AUTO else NO_CALL)
        if first is None:
            return answer.result()
        if not model.piece(first).startswith(CALL_OPEN[:1].encode()):
            return answer.prose(tokens, first)
    return answer.tool_call(prompt, offer.tools)
