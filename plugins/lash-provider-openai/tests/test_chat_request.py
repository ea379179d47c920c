"""The Chat Completions request body built from an LlmRequest."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    Cleared,
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

IMAGE = AttachmentRef("att-1", "image/png", 3, "dot.png")
PDF = AttachmentRef("att-2", "application/pdf", 4, "doc.pdf")
WEATHER = ToolSpec(
    "get_weather",
    "Weather in a city.",
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "city": {"type": "string", "default": "Paris"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city"],
    },
)


def user(text: str, *extra: Part, mid: str = "u1", role: Role = Role.USER) -> Message:
    return Message(mid, role, (Part(f"{mid}.p0", PartKind.TEXT, text), *extra))


def request(*messages: Message, model: ModelSpec | None = None, **kwargs: Any) -> LlmRequest:
    return LlmRequest(
        model=model or ModelSpec("gpt-4o"),
        system_prompt="Be brief.",
        messages=messages or (user("hi"),),
        **kwargs,
    )


async def load(ref: AttachmentRef) -> bytes:
    return {"att-1": b"png", "att-2": b"%PDF"}[ref.attachment_id]


async def body(req: LlmRequest, *, stream: bool = True, **settings: Any) -> dict[str, Any]:
    provider = OpenAIChatProvider(ChatSettings(api_key="sk-test", **settings), attachment_loader=load)
    return await provider.build_body(req, stream=stream)


def failure(exc: pytest.ExceptionInfo[ProviderError]) -> ProviderFailure:
    assert isinstance(exc.value.failure, ProviderFailure)
    return exc.value.failure


@pytest.mark.anyio
async def test_system_prompt_and_user_text() -> None:
    """The system prompt leads; a lone text part is a plain string; streaming asks for usage."""
    got = await body(request(user("hello")))
    assert got == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert "stream" not in await body(request(user("hello")), stream=False)


@pytest.mark.anyio
async def test_tool_calls_and_results_round_trip() -> None:
    """Assistant tool calls carry raw arguments (content null); results follow as tool messages."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part("a1.p0", PartKind.REASONING, "thinking", reasoning_meta={"type": "reasoning"}),
            Part(
                "a1.p1",
                PartKind.TOOL_CALL,
                '{"city":"Paris"}',
                tool_call_id="call_1",
                tool_name="get_weather",
            ),
            Part(
                "a1.p2",
                PartKind.TOOL_CALL,
                "{}",
                tool_call_id="call_2",
                tool_name="get_time",
                prune_state=Cleared(),
            ),
        ),
    )
    results = Message(
        "u2",
        Role.USER,
        (
            Part("u2.p0", PartKind.TOOL_RESULT, "18C", tool_call_id="call_1", tool_name="get_weather"),
            Part("u2.p1", PartKind.TOOL_RESULT, "12:00", tool_call_id="call_2", tool_name="get_time"),
            Part("u2.p2", PartKind.TEXT, "and tomorrow?"),
        ),
    )
    got = (await body(request(user("weather?"), assistant, results)))["messages"][2:]
    assert got == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
        {"role": "user", "content": "and tomorrow?"},
    ]


@pytest.mark.anyio
async def test_events_system_messages_and_pruned_parts() -> None:
    """Events are marked user text, system messages stay in place, pruned parts show their marker."""
    event = user("build finished", mid="e1", role=Role.EVENT)
    system = user("Now answer in French.", mid="s1", role=Role.SYSTEM)
    pruned = Message("u3", Role.USER, (Part("u3.p0", PartKind.TEXT, "secret", prune_state=Cleared()),))
    got = (await body(request(event, system, pruned)))["messages"][1:]
    assert got == [
        {"role": "user", "content": "[event] build finished"},
        {"role": "system", "content": "Now answer in French."},
        {"role": "user", "content": "[content cleared]"},
    ]


@pytest.mark.anyio
async def test_images_and_pdfs_become_data_urls() -> None:
    """Listed attachment types are loaded once and sent as image_url / file parts."""
    spec = ModelSpec("gpt-4o", attachment_media_types=("image/*", "application/pdf"))
    message = user(
        "look",
        Part("u1.p1", PartKind.ATTACHMENT, attachment=IMAGE),
        Part("u1.p2", PartKind.ATTACHMENT, attachment=PDF),
    )
    got = (await body(request(message, model=spec)))["messages"][1]["content"]
    assert got == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,cG5n"}},
        {
            "type": "file",
            "file": {"filename": "doc.pdf", "file_data": "data:application/pdf;base64,JVBERg=="},
        },
    ]


@pytest.mark.anyio
async def test_an_unlisted_attachment_type_fails_before_any_request() -> None:
    """A media type the model spec does not list is a validation error; nothing is sent."""
    transport = WireTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenAIChatProvider(ChatSettings(api_key="sk-test"), client=client, attachment_loader=load)
        message = user("look", Part("u1.p1", PartKind.ATTACHMENT, attachment=IMAGE))
        with pytest.raises(ProviderError) as caught:
            await provider.complete(request(message))
    assert transport.requests == []
    got = failure(caught)
    assert got.kind is ProviderFailureKind.VALIDATION and got.code == "unsupported_attachment"
    assert "dot.png" in got.message and "attachment_media_types" in got.message


@pytest.mark.anyio
async def test_types_chat_cannot_carry_and_a_missing_loader_are_clear_errors() -> None:
    """Text files cannot go through Chat; attachments without a loader name the fix."""
    text_ref = AttachmentRef("att-3", "text/plain", 2, "notes.txt")
    spec = ModelSpec("gpt-4o", attachment_media_types=("*/*",))
    with pytest.raises(ProviderError, match="cannot be sent through Chat Completions"):
        await body(request(user("x", Part("u1.p1", PartKind.ATTACHMENT, attachment=text_ref)), model=spec))
    provider = OpenAIChatProvider(ChatSettings(api_key="sk-test"))
    with pytest.raises(ProviderError, match="attachment_loader"):
        await provider.build_body(
            request(user("x", Part("u1.p1", PartKind.ATTACHMENT, attachment=IMAGE)), model=spec), stream=False
        )


@pytest.mark.anyio
async def test_tools_non_strict_and_strict() -> None:
    """Non-strict schemas pass nearly as written; strict ones are projected to the strict subset."""
    loose = (await body(request(tools=(WEATHER,))))["tools"][0]["function"]
    assert loose["parameters"]["properties"]["city"] == {"type": "string", "default": "Paris"}
    assert "strict" not in loose and "$schema" not in loose["parameters"]
    strict = (await body(request(tools=(WEATHER,)), strict_tools=True))["tools"][0]["function"]
    assert strict["strict"] is True
    assert strict["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    }


@pytest.mark.anyio
async def test_an_open_map_schema_is_sent_non_strict() -> None:
    """A schema with open additionalProperties cannot be strict and is sent without ``strict``."""
    spec = ToolSpec(
        "tag", "Tags.", {"type": "object", "additionalProperties": {"type": "string"}}, strict=True
    )
    function = (await body(request(tools=(spec,))))["tools"][0]["function"]
    assert "strict" not in function and function["parameters"]["additionalProperties"] == {"type": "string"}


@pytest.mark.anyio
async def test_output_specs_become_response_format() -> None:
    """JSON mode is ``json_object``; a schema is ``json_schema`` with the schema projected like a
    strict tool's (or nearly as written when not strict)."""
    assert (await body(request(output_spec=JsonObjectOutput())))["response_format"] == {"type": "json_object"}
    strict = await body(request(output_spec=JsonSchemaOutput("weather", WEATHER.input_schema)))
    assert strict["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "weather",
            "schema": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": ["string", "null"], "enum": ["c", "f", None]},
                },
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
    loose = await body(request(output_spec=JsonSchemaOutput("weather", WEATHER.input_schema, strict=False)))
    schema = loose["response_format"]["json_schema"]["schema"]
    assert loose["response_format"]["json_schema"]["strict"] is False
    assert schema["properties"]["city"] == {"type": "string", "default": "Paris"} and "$schema" not in schema
    assert "response_format" not in await body(request())


@pytest.mark.anyio
async def test_an_output_schema_without_a_strict_form_is_sent_non_strict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An open-map schema cannot be strict: it is sent with ``strict: false`` and a warning."""
    spec = JsonSchemaOutput("tags", {"type": "object", "additionalProperties": {"type": "string"}})
    sent = (await body(request(output_spec=spec)))["response_format"]["json_schema"]
    assert sent["strict"] is False and sent["schema"]["additionalProperties"] == {"type": "string"}
    assert "output schema 'tags' has no strict form" in caplog.text


@pytest.mark.anyio
async def test_a_model_spec_without_structured_output_fails_before_any_request() -> None:
    """An output spec on a model whose spec says structured_output = false is refused unsent."""
    transport = WireTransport()
    model = ModelSpec("gpt-3.5-turbo-0301", structured_output=False)
    async with httpx.AsyncClient(transport=transport) as client:
        provider = OpenAIChatProvider(ChatSettings(api_key="sk-test"), client=client)
        with pytest.raises(ProviderError, match="structured_output = false") as caught:
            await provider.complete(request(model=model, output_spec=JsonObjectOutput()))
    assert transport.requests == []
    assert (failure(caught).kind, failure(caught).code) == (
        ProviderFailureKind.VALIDATION,
        "unsupported_output_spec",
    )


@pytest.mark.anyio
async def test_tool_choice_caps_and_sampling() -> None:
    """Tool choice, the output cap (field per endpoint), temperature and parallel calls are sent."""
    req = request(tools=(WEATHER,), tool_choice=ToolChoice.REQUIRED, max_output_tokens=500, temperature=0.2)
    got = await body(req, parallel_tool_calls=False, max_output_tokens=300)
    assert got["tool_choice"] == "required" and got["parallel_tool_calls"] is False
    assert got["max_completion_tokens"] == 300 and got["temperature"] == 0.2
    local = await body(req, base_url="http://localhost:11434/v1")
    assert local["max_tokens"] == 500 and "max_completion_tokens" not in local
    assert "max_tokens" not in await body(req, max_tokens_field="none")


@pytest.mark.anyio
async def test_reasoning_dialects() -> None:
    """Effort goes out as reasoning_effort (openai), reasoning.effort (openrouter) or not at all."""
    assert (await body(request(reasoning_effort="high")))["reasoning_effort"] == "high"
    routed = await body(request(reasoning_effort="high"), preset="openrouter")
    assert routed["reasoning"] == {"effort": "high"} and "reasoning_effort" not in routed
    quiet = await body(request(reasoning_effort="high", model=ModelSpec("m", reasoning_dialect="none")))
    assert "reasoning_effort" not in quiet and "reasoning" not in quiet
    with pytest.raises(ProviderError, match="reasoning_dialect"):
        await body(request(reasoning_effort="high", model=ModelSpec("m", reasoning_dialect="budget")))


@pytest.mark.anyio
async def test_cache_dialects() -> None:
    """anthropic marks system, last tool and last text; gemini only the last text; openai sends a key."""
    assistant = Message("a1", Role.ASSISTANT, (Part("a1.p0", PartKind.PROSE, "earlier answer"),))
    msgs = (user("first"), assistant, user("latest", mid="u2"))
    marker = {"type": "ephemeral"}
    got = await body(request(*msgs, tools=(WEATHER,), model=ModelSpec("claude", cache_dialect="anthropic")))
    assert got["messages"][0]["content"] == [{"type": "text", "text": "Be brief.", "cache_control": marker}]
    assert got["tools"][-1]["cache_control"] == marker
    assert got["messages"][-1]["content"] == [{"type": "text", "text": "latest", "cache_control": marker}]
    assert got["messages"][1]["content"] == "first"
    gemini = await body(request(*msgs, model=ModelSpec("gemini", cache_dialect="gemini")))
    assert gemini["messages"][0]["content"] == "Be brief."
    assert gemini["messages"][-1]["content"][0]["cache_control"] == marker
    keyed = await body(request(*msgs, model=ModelSpec("gpt-4o", cache_dialect="openai"), session_id="s-1"))
    assert keyed["prompt_cache_key"] == "s-1"
    with pytest.raises(ProviderError, match="cache dialect"):
        await body(request(*msgs, model=ModelSpec("x", cache_dialect="mystery")))


@pytest.mark.anyio
async def test_openrouter_reasoning_details_are_replayed() -> None:
    """Reasoning details kept from an OpenRouter answer go back on the assistant message."""
    details = [{"type": "reasoning.encrypted", "data": "opaque"}]
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part("a1.p0", PartKind.REASONING, "", reasoning_meta={"reasoning_details": details}),
            Part("a1.p1", PartKind.PROSE, "answer"),
        ),
    )
    got = (await body(request(user("q"), assistant), preset="openrouter"))["messages"][2]
    assert got == {"role": "assistant", "content": "answer", "reasoning_details": details}
