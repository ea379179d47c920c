"""Settings of the OpenAI providers (attrs classes the host's config is structured into).

``api_key`` is a plain key or ``$env:NAME``; when it is unset the vendor's usual variable
(``OPENAI_API_KEY``, or ``OPENROUTER_API_KEY`` with the ``openrouter`` preset, or
``api_key_env``) is read. A custom ``base_url`` (vLLM, Ollama, llama.cpp server...) may
run without a key; the default endpoints refuse to. The key is never shown in ``repr``.
"""

from __future__ import annotations

from attrs import field, frozen

from lash_core.providers import RateLimitPolicy, RetryPolicy, Timeouts, one_of, positive_tokens_or_none

__all__ = ["PRESETS", "ChatSettings", "Endpoint", "OpenAISettings", "ResponsesSettings"]

OPENAI_BASE_URL = "https://api.openai.com/v1"


@frozen
class Endpoint:
    """Defaults a preset gives: base URL, key variable, reasoning dialect, max-tokens field."""

    base_url: str
    api_key_env: str
    reasoning_dialect: str
    max_tokens_field: str


PRESETS: dict[str | None, Endpoint] = {
    None: Endpoint(OPENAI_BASE_URL, "OPENAI_API_KEY", "openai", "max_completion_tokens"),
    "openrouter": Endpoint("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "openrouter", "max_tokens"),
}


@frozen
class OpenAISettings:
    """What both OpenAI providers share.

    * ``preset``: ``None`` (OpenAI itself) or ``"openrouter"`` (OpenRouter's base URL, key
      variable and reasoning shape);
    * ``base_url``: any OpenAI-compatible server (``http://localhost:8000/v1`` for vLLM,
      ``http://localhost:11434/v1`` for Ollama, ``http://localhost:8080/v1`` for llama.cpp);
    * ``headers``: extra HTTP headers (e.g. OpenRouter's ``HTTP-Referer`` / ``X-Title``);
    * ``timeouts`` / ``retry`` / ``rate_limit``: the shared provider timeouts, retry ladder and
      client-side rate limits (concurrency, requests and tokens per window; unlimited by default);
    * ``max_output_tokens``: a cap applied on top of the model spec's output capacity;
    * ``strict_tools``: send every tool in strict mode (schemas projected to the strict subset);
    * ``parallel_tool_calls``: send the flag when set;
    * ``expose_reasoning``: stream reasoning text (and ask the Responses API for summaries).
    """

    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    base_url: str | None = None
    preset: str | None = field(default=None, validator=one_of(*PRESETS))
    organization: str | None = None
    project: str | None = None
    headers: dict[str, str] = field(factory=dict, repr=False)
    timeouts: Timeouts = field(factory=Timeouts)
    retry: RetryPolicy = field(factory=RetryPolicy)
    rate_limit: RateLimitPolicy = field(factory=RateLimitPolicy)
    max_output_tokens: int | None = field(default=None, validator=positive_tokens_or_none)
    strict_tools: bool = False
    parallel_tool_calls: bool | None = None
    expose_reasoning: bool = True

    @property
    def endpoint(self) -> Endpoint:
        """The preset's defaults."""
        return PRESETS[self.preset]

    @property
    def resolved_base_url(self) -> str:
        """``base_url``, else the preset's."""
        return self.base_url or self.endpoint.base_url

    @property
    def key_required(self) -> bool:
        """True for the vendors' own endpoints (no custom ``base_url``)."""
        return self.base_url is None


@frozen
class ChatSettings(OpenAISettings):
    """Settings of the ``openai`` (Chat Completions) provider.

    * ``max_tokens_field``: ``max_completion_tokens`` (the default for OpenAI itself),
      ``max_tokens`` (the default with a custom ``base_url`` and for OpenRouter) or ``none``
      (never send a cap);
    * ``stream_usage``: ask for a final usage chunk (``stream_options.include_usage``);
    * ``stream_termination``: what proves a stream complete: ``done`` (the ``[DONE]``
      marker, default), ``finish_reason`` (any finish reason) or ``eof`` (nothing; for
      servers that just close the stream);
    * ``tool_call_content``: what ``content`` an assistant message with tool calls and no
      prose carries: ``null`` (OpenAI's form, default) or ``empty`` (an empty string, for
      compatible servers that refuse null there, such as llama.cpp's server).
    """

    max_tokens_field: str | None = field(
        default=None, validator=one_of(None, "max_tokens", "max_completion_tokens", "none")
    )
    stream_usage: bool = True
    stream_termination: str = field(default="done", validator=one_of("done", "finish_reason", "eof"))
    tool_call_content: str = field(default="null", validator=one_of("null", "empty"))


@frozen
class ResponsesSettings(OpenAISettings):
    """Settings of the ``openai-responses`` provider.

    * ``store``: let OpenAI store responses (default ``False``: reasoning is replayed from
      its encrypted content instead);
    * ``reasoning_summary``: the summary detail asked for when reasoning is exposed
      (``auto``, ``concise``, ``detailed``; ``None`` to ask for none);
    * ``prompt_cache_key``: send the session id as ``prompt_cache_key``;
    * ``prompt_cache_retention``: e.g. ``"24h"`` for extended prompt caching;
    * ``text_verbosity``: ``low`` / ``medium`` / ``high`` when set.
    """

    store: bool = False
    reasoning_summary: str | None = field(
        default="auto", validator=one_of(None, "auto", "concise", "detailed")
    )
    prompt_cache_key: bool = True
    prompt_cache_retention: str | None = None
    text_verbosity: str | None = field(default=None, validator=one_of(None, "low", "medium", "high"))
