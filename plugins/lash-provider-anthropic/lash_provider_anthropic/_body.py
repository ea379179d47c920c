"""Building a Messages API request body from an :class:`~lash_core.model.LlmRequest`.

* ``model``, ``max_tokens`` (required by the API), ``system`` blocks and ``messages``
  (see :mod:`._messages`);
* tools are ``{name, description, input_schema}`` with the schema projected to what the
  API accepts (:mod:`._schema`); ``tool_choice`` auto / none / required becomes
  ``auto`` / ``none`` / ``any``. A history with tool blocks but no tools in this request
  (a summarizing call, say) gets placeholder definitions of the tools it used and
  ``tool_choice: none``, since the API refuses tool blocks without tool definitions;
* reasoning (the request's effort, by the reasoning dialect): ``budget`` sends
  ``thinking: {type: enabled, budget_tokens}`` with the budget of the effort (or the
  effort itself when it is a number), kept below ``max_tokens``; ``adaptive`` sends
  ``thinking: {type: adaptive}`` and ``output_config.effort``; an effort of ``none`` /
  ``off`` / ``disabled`` sends ``thinking: {type: disabled}``; the ``none`` dialect sends
  nothing. While thinking is on no ``temperature`` is sent (the API requires the default)
  and a required tool choice is relaxed to ``auto`` (the API refuses forced tool use with
  thinking);
* structured output: a JSON-schema output spec becomes ``output_config.format``
  (``{type: json_schema, schema}``, objects closed as the API requires; the API always
  constrains the answer, so ``strict`` has no form); the API has no JSON-object mode, so
  such a spec is refused before the body is built (the provider's ``api_output_specs``);
* prompt caching (cache dialect ``anthropic``, the default here, or ``none``):
  ``cache_control`` breakpoints on the last system block, the last tool definition and
  the last block of the last user message.
"""

from __future__ import annotations

import logging
from typing import Any

from lash_core.model import JsonSchemaOutput, LlmRequest, ToolChoice, ToolSpec
from lash_core.providers import invalid_request
from lash_provider_anthropic._messages import convert_history, history_tool_names
from lash_provider_anthropic._schema import project_input_schema, project_output_schema
from lash_provider_anthropic.settings import REASONING_DIALECTS, AnthropicSettings

__all__ = ["CACHE_DIALECTS", "build_body", "tools_array"]

logger = logging.getLogger("lash_provider_anthropic")

CACHE_DIALECTS = (None, "anthropic", "none")
MIN_THINKING_BUDGET = 1024
_CACHEABLE = ("text", "image", "document", "tool_result", "tool_use")
_DISABLE = ("none", "off", "disabled")
_TOOL_CHOICE = {ToolChoice.AUTO: "auto", ToolChoice.NONE: "none", ToolChoice.REQUIRED: "any"}


def tools_array(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    """The ``tools`` array (schemas projected)."""
    return [
        {"name": t.name, "description": t.description, "input_schema": project_input_schema(t.input_schema)}
        for t in tools
    ]


def _placeholder_tools(names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "description": "Not available in this request; listed because the conversation used it.",
            "input_schema": {"type": "object", "properties": {}},
        }
        for name in names or ["unavailable_tool"]
    ]


def _budget(effort: str, settings: AnthropicSettings, model_id: str) -> int:
    budgets = {k.lower(): v for k, v in settings.thinking_budgets.items()}
    if effort.lower() in budgets:
        return budgets[effort.lower()]
    if effort.isdigit():
        return int(effort)
    known = ", ".join(sorted(budgets)) or "none"
    raise invalid_request(
        f"reasoning effort {effort!r} (model {model_id!r}) has no thinking budget; use one of {known}, a "
        "number of tokens, or add it to the provider's thinking_budgets setting",
        "unsupported_effort",
    )


def _thinking(
    request: LlmRequest, settings: AnthropicSettings, dialect: str, max_tokens: int
) -> dict[str, Any]:
    effort = (request.reasoning_effort or "").strip()
    if not effort or dialect == "none":
        return {}
    if effort.lower() in _DISABLE:
        return {"thinking": {"type": "disabled"}}
    thinking: dict[str, Any]
    fields: dict[str, Any] = {}
    if dialect == "adaptive":
        thinking = {"type": "adaptive"}
        fields["output_config"] = {"effort": effort}
    else:
        budget = _budget(effort, settings, request.model.id)
        if budget >= max_tokens:
            capped = max(MIN_THINKING_BUDGET, max_tokens // 2)
            if capped >= max_tokens:
                raise invalid_request(
                    f"max_tokens {max_tokens} leaves no room for thinking (the smallest budget is "
                    f"{MIN_THINKING_BUDGET} tokens and must stay below max_tokens); raise the model spec's "
                    "output_token_capacity or turn reasoning off",
                    "max_tokens_too_small_for_thinking",
                )
            logger.debug("thinking budget %d capped to %d (max_tokens %d)", budget, capped, max_tokens)
            budget = capped
        thinking = {"type": "enabled", "budget_tokens": budget}
    if settings.thinking_display:
        thinking["display"] = settings.thinking_display
    return {"thinking": thinking, **fields}


def _marker(settings: AnthropicSettings) -> dict[str, str]:
    marker = {"type": "ephemeral"}
    if settings.cache_ttl:
        marker["ttl"] = settings.cache_ttl
    return marker


def _apply_cache(body: dict[str, Any], settings: AnthropicSettings) -> None:
    if body.get("system"):
        body["system"][-1]["cache_control"] = _marker(settings)
    if body.get("tools"):
        body["tools"][-1]["cache_control"] = _marker(settings)
    for message in reversed(body["messages"]):
        if message["role"] != "user":
            continue
        for block in reversed(message["content"]):
            if block["type"] in _CACHEABLE:
                block["cache_control"] = _marker(settings)
                return
        return


def _check_dialects(request: LlmRequest, reasoning_dialect: str) -> None:
    cache = request.model.cache_dialect
    if cache not in CACHE_DIALECTS:
        raise invalid_request(
            f"cache dialect {cache!r} (model {request.model.id!r}) has no form in the Anthropic Messages API; "
            "use anthropic (cache_control breakpoints) or none",
            "unsupported_cache_dialect",
        )
    if reasoning_dialect not in REASONING_DIALECTS:
        raise invalid_request(
            f"reasoning dialect {reasoning_dialect!r} (model {request.model.id!r}) cannot be sent through the "
            "Anthropic Messages API; set the model spec's reasoning_dialect to budget, adaptive or none",
            "reasoning_encoding_unrepresentable",
        )


def build_body(
    request: LlmRequest,
    settings: AnthropicSettings,
    *,
    stream: bool,
    attachments: dict[str, bytes],
    max_tokens: int,
) -> dict[str, Any]:
    """The request body (see the module docs); raises a validation error before anything is
    sent when the request cannot be expressed."""
    reasoning_dialect = request.model.reasoning_dialect or settings.reasoning_dialect
    _check_dialects(request, reasoning_dialect)
    system, messages = convert_history(request, attachments)
    if not messages:
        raise invalid_request(
            "the request has no user or assistant content to send (the Messages API needs at least one "
            "message); add a user message",
            "empty_messages",
        )
    body: dict[str, Any] = {"model": request.model.id, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = messages
    choice: str | None = None
    if request.tools:
        body["tools"] = tools_array(request.tools)
        choice = _TOOL_CHOICE[request.tool_choice]
    else:
        used = history_tool_names(messages)
        if used is not None:
            body["tools"] = _placeholder_tools(used)
            choice = "none"
    thinking = _thinking(request, settings, reasoning_dialect, max_tokens)
    thinking_on = thinking.get("thinking", {}).get("type") in ("enabled", "adaptive")
    if thinking_on and choice == "any":
        logger.warning(
            "model %r: a required tool choice cannot be combined with thinking; sending tool_choice auto",
            request.model.id,
        )
        choice = "auto"
    if choice is not None:
        body["tool_choice"] = {"type": choice}
    body.update(thinking)
    if isinstance(request.output_spec, JsonSchemaOutput):
        output_config = body.setdefault("output_config", {})
        output_config["format"] = {
            "type": "json_schema",
            "schema": project_output_schema(request.output_spec.schema),
        }
    if request.temperature is not None and not thinking_on:
        body["temperature"] = request.temperature
    if request.model.cache_dialect != "none":
        _apply_cache(body, settings)
    if stream:
        body["stream"] = True
    return body
