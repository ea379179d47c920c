"""The model a session talks to and the session's policy."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from lash_core.model._record import Record
from lash_core.model.input import PromptLayer

__all__ = ["ModelSpec", "SessionPolicy"]


@frozen(repr=False)
class ModelSpec(Record):
    """What the host says about the model: capabilities are data, never guessed from the id.

    ``cache_dialect`` and ``reasoning_dialect`` name how a provider marks prompt-cache
    breakpoints and asks for reasoning; ``attachment_media_types`` lists what the model
    accepts (``image/*`` style patterns allowed); ``structured_output`` false says the model
    cannot be asked for structured output (a request with an output spec then fails before
    it is sent).
    """

    id: str
    context_window_tokens: int = 128_000
    output_token_capacity: int | None = None
    reasoning_effort: str | None = None
    cache_dialect: str | None = None
    reasoning_dialect: str | None = None
    attachment_media_types: tuple[str, ...] = ()
    structured_output: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ValueError("ModelSpec.id must not be empty")
        if self.context_window_tokens <= 0:
            raise ValueError("ModelSpec.context_window_tokens must be positive")


@frozen(repr=False)
class SessionPolicy(Record):
    """How a session runs: provider and model, turn limits, system prompt."""

    model: ModelSpec
    provider_id: str
    max_turns: int | None = None
    system_prompt: str = ""
    prompt: PromptLayer | None = None
    autonomous: bool = False
    generation: dict[str, Any] = field(factory=dict)
