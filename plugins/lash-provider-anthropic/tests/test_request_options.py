"""Request options: max_tokens, temperature, thinking from the reasoning effort and dialect,
structured output, and prompt-cache breakpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    JsonObjectOutput,
    JsonSchemaOutput,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    ToolChoice,
    ToolSpec,
)
from lash_core.testing.wire import WireTransport

TOOL_A = ToolSpec("a", "A.", {"type": "object", "properties": {}})
TOOL_B = ToolSpec("b", "B.", {"type": "object", "properties": {}})
EPHEMERAL = {"type": "ephemeral"}


def user(text: str, *extra: Part, mid: str = "u1") -> Message:
    return Message(mid, Role.USER, (Part(f"{mid}.p0", PartKind.TEXT, text), *extra))


def request(*messages: Message, model: ModelSpec | None = None, **kwargs: Any) -> LlmRequest:
    return LlmRequest(
        model=model or ModelSpec("claude-sonnet-4-5", cache_dialect="none"),
        system_prompt="Be brief.",
        messages=messages or (user("hi"),),
        **kwargs,
    )


async def body(req: LlmRequest, **settings: Any) -> dict[str, Any]:
    provider = AnthropicProvider(AnthropicSettings(api_key="sk-ant-test", **settings))
    return await provider.build_body(req, stream=False)


def failure(exc: pytest.ExceptionInfo[ProviderError]) -> ProviderFailure:
    assert isinstance(exc.value.failure, ProviderFailure)
    return exc.value.failure


def markers(value: Any, path: str = "") -> list[str]:
    """Paths of every ``cache_control`` in a body."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            found += [path] if key == "cache_control" else markers(sub, f"{path}.{key}")
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += markers(sub, f"{path}[{index}]")
    return found


@pytest.mark.anyio
async def test_max_tokens_comes_from_the_model_spec_then_the_settings() -> None:
    """The request's output cap (the model spec's) is sent, lowered by max_output_tokens; without
    either the default_max_tokens setting is sent, since the API requires max_tokens."""
    assert (await body(request(max_output_tokens=16_384)))["max_tokens"] == 16_384
    assert (await body(request(max_output_tokens=16_384), max_output_tokens=4096))["max_tokens"] == 4096
    assert (await body(request(), max_output_tokens=4096))["max_tokens"] == 4096
    assert (await body(request()))["max_tokens"] == 32_768
    assert (await body(request(), default_max_tokens=8192))["max_tokens"] == 8192


@pytest.mark.anyio
async def test_temperature_is_sent_without_thinking_only() -> None:
    """Temperature goes out as is, except while thinking is on (the API requires its default)."""
    assert (await body(request(temperature=0.2)))["temperature"] == 0.2
    thinking = await body(request(temperature=0.2, reasoning_effort="low"))
    assert "temperature" not in thinking and thinking["thinking"]["type"] == "enabled"
    disabled = await body(request(temperature=0.2, reasoning_effort="none"))
    assert disabled["temperature"] == 0.2 and disabled["thinking"] == {"type": "disabled"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("effort", "budget"),
    [("minimal", 1024), ("low", 2048), ("medium", 8192), ("HIGH", 16_384), ("5000", 5000)],
)
async def test_budget_thinking_from_the_effort(effort: str, budget: int) -> None:
    """The budget dialect (the default) sends thinking.budget_tokens from the effort's budget, or
    the effort itself when it is a number."""
    got = await body(request(reasoning_effort=effort))
    assert got["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert "output_config" not in got


@pytest.mark.anyio
async def test_the_budget_stays_below_max_tokens() -> None:
    """A budget at or above max_tokens is capped to half of it; a max_tokens too small for the
    smallest budget is a validation error before anything is sent."""
    got = await body(request(reasoning_effort="high", max_output_tokens=8192))
    assert got["thinking"]["budget_tokens"] == 4096 and got["max_tokens"] == 8192
    with pytest.raises(ProviderError) as caught:
        await body(request(reasoning_effort="low", max_output_tokens=1024))
    assert failure(caught).code == "max_tokens_too_small_for_thinking"


@pytest.mark.anyio
async def test_thinking_budgets_and_display_are_settings() -> None:
    """Budgets per effort and thinking.display come from the settings."""
    got = await body(
        request(reasoning_effort="deep"), thinking_budgets={"deep": 12_000}, thinking_display="omitted"
    )
    assert got["thinking"] == {"type": "enabled", "budget_tokens": 12_000, "display": "omitted"}
    with pytest.raises(ProviderError) as caught:
        await body(request(reasoning_effort="medium"), thinking_budgets={"deep": 12_000})
    assert failure(caught).code == "unsupported_effort" and "deep" in failure(caught).message
    with pytest.raises(ValueError, match="at least 1024"):
        AnthropicSettings(thinking_budgets={"low": 100})


@pytest.mark.anyio
async def test_adaptive_thinking_sends_the_effort() -> None:
    """The adaptive dialect (model spec or setting) sends thinking.type adaptive and output_config.effort."""
    model = ModelSpec("claude-opus-4-7", cache_dialect="none", reasoning_dialect="adaptive")
    got = await body(request(reasoning_effort="high", model=model))
    assert got["thinking"] == {"type": "adaptive"} and got["output_config"] == {"effort": "high"}
    by_setting = await body(request(reasoning_effort="max"), reasoning_dialect="adaptive")
    assert by_setting["output_config"] == {"effort": "max"}
    off = await body(request(reasoning_effort="off", model=model))
    assert off["thinking"] == {"type": "disabled"} and "output_config" not in off


@pytest.mark.anyio
async def test_reasoning_dialect_none_and_unknown_dialects() -> None:
    """The none dialect sends nothing; a dialect this API cannot express is a validation error."""
    quiet = await body(
        request(reasoning_effort="high", model=ModelSpec("m", cache_dialect="none", reasoning_dialect="none"))
    )
    assert "thinking" not in quiet and "output_config" not in quiet
    assert "thinking" not in await body(request())
    with pytest.raises(ProviderError, match="reasoning_dialect") as caught:
        await body(request(reasoning_effort="high", model=ModelSpec("m", reasoning_dialect="openai")))
    got = failure(caught)
    assert (got.kind, got.code) == (ProviderFailureKind.VALIDATION, "reasoning_encoding_unrepresentable")
    with pytest.raises(ValueError, match="reasoning_dialect"):
        AnthropicSettings(reasoning_dialect="openrouter")


@pytest.mark.anyio
async def test_a_required_tool_choice_is_relaxed_while_thinking() -> None:
    """Forced tool use cannot be combined with thinking: tool_choice auto is sent instead."""
    got = await body(request(tools=(TOOL_A,), tool_choice=ToolChoice.REQUIRED, reasoning_effort="low"))
    assert got["tool_choice"] == {"type": "auto"}
    plain = await body(request(tools=(TOOL_A,), tool_choice=ToolChoice.REQUIRED))
    assert plain["tool_choice"] == {"type": "any"}


@pytest.mark.anyio
async def test_a_json_schema_output_spec_becomes_output_config_format() -> None:
    """A schema goes out as ``output_config.format`` (json_schema), ``$schema`` dropped and every
    object closed as the API requires; an explicit additionalProperties is left to the API."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "stops": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
            "extra": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["city"],
    }
    got = await body(request(output_spec=JsonSchemaOutput("trip", schema)))
    assert got["output_config"] == {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "stops": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                            "additionalProperties": False,
                        },
                    },
                    "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        }
    }
    assert "$schema" in schema and "output_config" not in await body(request())


@pytest.mark.anyio
async def test_the_output_format_sits_beside_the_adaptive_effort() -> None:
    """With adaptive thinking, ``output_config`` carries both the effort and the format."""
    model = ModelSpec("claude-opus-4-7", cache_dialect="none", reasoning_dialect="adaptive")
    spec = JsonSchemaOutput("answer", {"type": "object", "properties": {}})
    got = await body(request(reasoning_effort="high", model=model, output_spec=spec))
    assert got["output_config"] == {
        "effort": "high",
        "format": {
            "type": "json_schema",
            "schema": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }


@pytest.mark.anyio
async def test_json_mode_without_a_schema_fails_before_any_request() -> None:
    """The Messages API has no JSON-object mode: such a spec is a validation error, nothing sent."""
    transport = WireTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        provider = AnthropicProvider(AnthropicSettings(api_key="sk-ant-test"), client=client)
        with pytest.raises(ProviderError) as caught:
            await provider.complete(request(output_spec=JsonObjectOutput()))
    assert transport.requests == []
    got = failure(caught)
    assert (got.kind, got.code) == (ProviderFailureKind.VALIDATION, "unsupported_output_spec")
    assert "Anthropic Messages API does not support a json_object output spec" in got.message
    assert "it supports: json_schema" in got.message


@pytest.mark.anyio
async def test_cache_breakpoints_on_system_tools_and_the_last_user_turn() -> None:
    """The anthropic dialect (and an unset one) marks the last system block, the last tool and the
    last block of the last user message; assistant messages are never marked."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part("a1.p0", PartKind.PROSE, "calling"),
            Part("a1.p1", PartKind.TOOL_CALL, "{}", tool_call_id="t1", tool_name="a"),
        ),
    )
    results = Message("u2", Role.USER, (Part("u2.p0", PartKind.TOOL_RESULT, "done", tool_call_id="t1"),))
    messages = (user("first"), assistant, results)
    for dialect in ("anthropic", None):
        got = await body(
            request(*messages, tools=(TOOL_A, TOOL_B), model=ModelSpec("m", cache_dialect=dialect))
        )
        assert sorted(markers(got)) == [".messages[2].content[0]", ".system[0]", ".tools[1]"]
        assert got["system"][0]["cache_control"] == EPHEMERAL
        assert got["messages"][2]["content"][0]["type"] == "tool_result"
    assert markers(await body(request(*messages, tools=(TOOL_A,)))) == []


@pytest.mark.anyio
async def test_cache_breakpoint_on_a_trailing_attachment_and_with_a_ttl() -> None:
    """The last block of the last user message may be an image; cache_ttl adds a ttl to every marker."""
    ref = AttachmentRef("img", "image/png", 3)
    message = user("look", Part("u1.p1", PartKind.ATTACHMENT, attachment=ref))
    model = ModelSpec("m", cache_dialect="anthropic", attachment_media_types=("image/*",))
    got = await body(request(message, model=model, attachment_data={"img": b"png"}), cache_ttl="1h")
    assert markers(got) == [".system[0]", ".messages[0].content[1]"]
    assert got["messages"][0]["content"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


@pytest.mark.anyio
@pytest.mark.parametrize("dialect", ["openai", "gemini"])
async def test_other_cache_dialects_are_refused(dialect: str) -> None:
    """Cache dialects of other APIs cannot be expressed here: a validation error naming the choices."""
    with pytest.raises(ProviderError, match="anthropic") as caught:
        await body(request(model=ModelSpec("m", cache_dialect=dialect)))
    assert failure(caught).code == "unsupported_cache_dialect"
