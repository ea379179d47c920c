"""The Messages request body built from an LlmRequest: history, replay, attachments, tools."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings, tool_use_id

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    Cleared,
    FailureOutcome,
    LlmRequest,
    LlmResponse,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    SuccessOutcome,
    ToolCallOutput,
    ToolChoice,
    ToolFailure,
    ToolFailureClass,
    ToolSpec,
)
from lash_core.testing.wire import WireTransport, load_corpus_case
from lash_core.turn.driver import response_message

WIRE = Path(__file__).parent / "fixtures" / "wire"
PNG = AttachmentRef("att-png", "image/png", 3, "dot.png")
PDF = AttachmentRef("att-pdf", "application/pdf", 4, "report.pdf")
TXT = AttachmentRef("att-txt", "text/plain", 5, "notes.txt")
DATA = {"att-png": b"png", "att-pdf": b"%PDF", "att-txt": "héllo".encode()}
VISION = ModelSpec(
    "claude-sonnet-4-5",
    cache_dialect="none",
    attachment_media_types=("image/*", "application/pdf", "text/plain"),
)
WEATHER = ToolSpec(
    "get_weather",
    "Weather in a city.",
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
OK = ToolCallOutput(SuccessOutcome("18C"))
FAILED = ToolCallOutput(FailureOutcome(ToolFailure(ToolFailureClass.EXECUTION, "boom", "boom")))
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+VKHzVhBdv1aVjhDx4dGQ+aRtbIgTBrJWaB4GlA=="


def user(text: str, *extra: Part, mid: str = "u1", role: Role = Role.USER) -> Message:
    return Message(mid, role, (Part(f"{mid}.p0", PartKind.TEXT, text), *extra))


def request(*messages: Message, model: ModelSpec | None = None, **kwargs: Any) -> LlmRequest:
    kwargs.setdefault("attachment_data", DATA)
    return LlmRequest(
        model=model or ModelSpec("claude-sonnet-4-5", cache_dialect="none"),
        system_prompt="Be brief.",
        messages=messages or (user("hi"),),
        **kwargs,
    )


async def body(req: LlmRequest, *, stream: bool = True, **settings: Any) -> dict[str, Any]:
    provider = AnthropicProvider(AnthropicSettings(api_key="sk-ant-test", **settings))
    return await provider.build_body(req, stream=stream)


def failure(exc: pytest.ExceptionInfo[ProviderError]) -> ProviderFailure:
    assert isinstance(exc.value.failure, ProviderFailure)
    return exc.value.failure


def as_message(response: LlmResponse, mid: str = "a1") -> Message:
    """The assistant message the turn driver stores for a response."""
    return response_message(response, mid)


@pytest.mark.anyio
async def test_system_prompt_user_text_and_defaults() -> None:
    """The system prompt is a top-level block; max_tokens is always sent; streaming asks for it."""
    got = await body(request(user("hello")))
    assert got == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32768,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
        "stream": True,
    }
    assert "stream" not in await body(request(user("hello")), stream=False)


@pytest.mark.anyio
async def test_thinking_is_replayed_with_its_signature_before_tool_use() -> None:
    """Assistant output replays in order: thinking (signature byte-exact), redacted thinking, text,
    tool_use with parsed input; reasoning without Anthropic replay state is not sent."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part(
                "a1.p0",
                PartKind.REASONING,
                "Let me check.",
                reasoning_meta={"type": "thinking", "signature": SIGNATURE},
            ),
            Part(
                "a1.p1",
                PartKind.REASONING,
                "",
                reasoning_meta={"type": "redacted_thinking", "data": "EmwKAhgB"},
            ),
            Part(
                "a1.p2",
                PartKind.REASONING,
                "openai summary",
                reasoning_meta={"type": "reasoning", "id": "rs_1"},
            ),
            Part(
                "a1.p3", PartKind.REASONING, "unsigned", reasoning_meta={"type": "thinking", "signature": ""}
            ),
            Part("a1.p4", PartKind.PROSE, "Checking the weather."),
            Part(
                "a1.p5",
                PartKind.TOOL_CALL,
                '{"city": "Paris"}',
                tool_call_id="toolu_01",
                tool_name="get_weather",
            ),
        ),
    )
    results = Message(
        "u2",
        Role.USER,
        (Part("u2.p0", PartKind.TOOL_RESULT, "18C", tool_call_id="toolu_01", tool_output=OK),),
    )
    got = (await body(request(user("weather?"), assistant, results, tools=(WEATHER,))))["messages"]
    assert got[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Let me check.", "signature": SIGNATURE},
            {"type": "redacted_thinking", "data": "EmwKAhgB"},
            {"type": "text", "text": "Checking the weather."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }
    assert got[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}],
    }


@pytest.mark.anyio
async def test_a_recorded_thinking_tool_turn_round_trips() -> None:
    """The recorded thinking + tool_use response, stored as the driver stores it, replays as the
    API expects: the thinking block first with its exact signature, then tool_use with input {}."""
    case = load_corpus_case(WIRE / "anthropic-stream-thinking-tool-use")
    script = case.to_script(match=())
    script.exchanges[0].request["path"] = "/v1/messages"
    async with httpx.AsyncClient(transport=WireTransport(script)) as client:
        provider = AnthropicProvider(AnthropicSettings(api_key="sk-ant-test"), client=client)
        response = await provider.complete(request(user("use the tool")))
    call = response.tool_calls[0]
    results = Message(
        "u2",
        Role.USER,
        (Part("u2.p0", PartKind.TOOL_RESULT, "1.0.0", tool_call_id=call.call_id, tool_output=OK),),
    )
    tool = ToolSpec(
        "fixed_version", "Return a fixed test version string", {"type": "object", "properties": {}}
    )
    got = await body(request(user("use the tool"), as_message(response), results, tools=(tool,)))
    thinking = case.expected["thinking"][0]
    assert got["messages"][1]["content"] == [
        {"type": "thinking", "thinking": thinking["thinking"], "signature": thinking["signature"]},
        {"type": "tool_use", "id": "toolu_01825dXWLSoJwCst1qTsiWdb", "name": "fixed_version", "input": {}},
    ]
    assert got["messages"][2]["content"][0]["tool_use_id"] == "toolu_01825dXWLSoJwCst1qTsiWdb"
    assert got["tools"] == [
        {
            "name": "fixed_version",
            "description": "Return a fixed test version string",
            "input_schema": case.request["tools"][0]["input_schema"],
        }
    ]


@pytest.mark.anyio
async def test_tool_results_map_to_tool_result_blocks() -> None:
    """Results come first in their message; failures set is_error; pruned content shows its marker;
    a pruned call replays with input {}; foreign ids are mapped the same way on both sides."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part(
                "a1.p0",
                PartKind.TOOL_CALL,
                '{"city":"Oslo"}',
                tool_call_id="call:1/x",
                tool_name="get_weather",
            ),
            Part(
                "a1.p1",
                PartKind.TOOL_CALL,
                "{}",
                tool_call_id="call_2",
                tool_name="get_weather",
                prune_state=Cleared(),
            ),
            Part("a1.p2", PartKind.TOOL_CALL, "not json", tool_call_id="call_3", tool_name="get_weather"),
        ),
    )
    results = Message(
        "u2",
        Role.USER,
        (
            Part("u2.p0", PartKind.TEXT, "and tomorrow?"),
            Part("u2.p1", PartKind.TOOL_RESULT, "boom", tool_call_id="call:1/x", tool_output=FAILED),
            Part(
                "u2.p2",
                PartKind.TOOL_RESULT,
                "12C",
                tool_call_id="call_2",
                tool_output=OK,
                prune_state=Cleared(),
            ),
            Part("u2.p3", PartKind.TOOL_RESULT, "", tool_call_id="call_3", tool_output=OK),
        ),
    )
    got = (await body(request(user("weather?"), assistant, results, tools=(WEATHER,))))["messages"]
    mapped = tool_use_id("call:1/x")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", mapped) and mapped == tool_use_id("call:1/x") != "call:1/x"
    assert [b["input"] for b in got[1]["content"]] == [{"city": "Oslo"}, {}, {}]
    assert got[1]["content"][0]["id"] == mapped
    assert got[2]["content"] == [
        {"type": "tool_result", "tool_use_id": mapped, "content": "boom", "is_error": True},
        {"type": "tool_result", "tool_use_id": "call_2", "content": "[content cleared]"},
        {"type": "tool_result", "tool_use_id": "call_3"},
        {"type": "text", "text": "and tomorrow?"},
    ]


def test_tool_use_ids_are_kept_or_mapped_into_the_allowed_shape() -> None:
    """Valid ids pass through; others (too long, other characters, empty) map to a stable valid id."""
    assert tool_use_id("toolu_01A-b") == "toolu_01A-b"
    for raw in ("x" * 80, "functions.get_weather:0", "", None, "é"):
        mapped = tool_use_id(raw)
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", mapped) and mapped == tool_use_id(raw)
    assert tool_use_id("a.b") != tool_use_id("a:b")


@pytest.mark.anyio
async def test_images_and_documents() -> None:
    """Images are base64 image blocks; PDFs base64 documents; plain text a text document; titles
    come from the attachment names."""
    parts = (
        Part("u1.p1", PartKind.ATTACHMENT, attachment=PNG),
        Part("u1.p2", PartKind.ATTACHMENT, attachment=PDF),
        Part("u1.p3", PartKind.ATTACHMENT, attachment=TXT),
    )
    got = (await body(request(user("look", *parts), model=VISION)))["messages"][0]["content"]
    assert got[:4] == [
        {"type": "text", "text": "look"},
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(b"png").decode(),
            },
        },
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64.b64encode(b"%PDF").decode(),
            },
            "title": "report.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
            "title": "notes.txt",
        },
    ]


@pytest.mark.anyio
async def test_attachment_bytes_come_from_the_request_or_the_loader() -> None:
    """Bytes are read from ``attachment_data``; the loader is the fallback; neither is an error."""
    loaded: list[str] = []

    async def loader(ref: AttachmentRef) -> bytes:
        loaded.append(ref.attachment_id)
        return b"from-loader"

    message = user("look", Part("u1.p1", PartKind.ATTACHMENT, attachment=PNG))
    provider = AnthropicProvider(AnthropicSettings(api_key="k"), attachment_loader=loader)
    got = await provider.build_body(request(message, model=VISION, attachment_data={}), stream=False)
    assert got["messages"][0]["content"][1]["source"]["data"] == base64.b64encode(b"from-loader").decode()
    assert loaded == ["att-png"]
    with pytest.raises(ProviderError) as caught:
        await body(request(message, model=VISION, attachment_data={}))
    assert failure(caught).code == "attachment_data_missing"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ref", "accepted"),
    [
        (PNG, ()),
        (PDF, ("image/*",)),
        (AttachmentRef("att-wav", "audio/wav", 9, "a.wav"), ("audio/*",)),
    ],
    ids=["model-lists-nothing", "model-lists-images-only", "api-cannot-carry-audio"],
)
async def test_an_unsupported_attachment_fails_before_any_request(
    ref: AttachmentRef, accepted: tuple[str, ...]
) -> None:
    """A media type the model spec does not list (or the API cannot carry) is a validation error
    raised before anything is sent."""
    transport = WireTransport()
    message = user("look", Part("u1.p1", PartKind.ATTACHMENT, attachment=ref))
    model = ModelSpec("claude-sonnet-4-5", attachment_media_types=accepted)
    async with httpx.AsyncClient(transport=transport) as client:
        provider = AnthropicProvider(AnthropicSettings(api_key="k"), client=client)
        with pytest.raises(ProviderError, match=ref.media_type) as caught:
            await provider.complete(request(message, model=model, attachment_data={ref.attachment_id: b"x"}))
    got = failure(caught)
    assert (got.kind, got.code, got.retryable) == (
        ProviderFailureKind.VALIDATION,
        "unsupported_attachment",
        False,
    )
    assert transport.requests == []


@pytest.mark.anyio
async def test_tools_schemas_and_tool_choice() -> None:
    """Tools carry projected schemas ($schema dropped, top-level anyOf folded); tool choices map to
    auto / none / any."""
    either = ToolSpec(
        "lookup",
        "Look up by id or name.",
        {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "full": {"type": "boolean"}},
                    "required": ["id", "full"],
                },
                {"$ref": "#/$defs/by_name"},
            ],
            "$defs": {
                "by_name": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name", "full"],
                }
            },
        },
    )
    got = await body(request(tools=(WEATHER, either)))
    assert got["tools"][0] == {
        "name": "get_weather",
        "description": "Weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
    schema = got["tools"][1]["input_schema"]
    assert "anyOf" not in schema and schema["type"] == "object"
    assert set(schema["properties"]) == {"id", "full", "name"} and schema["required"] == ["full"]
    assert got["tool_choice"] == {"type": "auto"}
    for choice, wire in ((ToolChoice.NONE, "none"), (ToolChoice.REQUIRED, "any")):
        assert (await body(request(tools=(WEATHER,), tool_choice=choice)))["tool_choice"] == {"type": wire}
    assert "tools" not in await body(request()) and "tool_choice" not in await body(request())


@pytest.mark.anyio
async def test_a_history_with_tool_blocks_but_no_tools_gets_placeholders() -> None:
    """The API refuses tool blocks without tool definitions: the tools the history used are defined
    as placeholders and the model may not call any."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (Part("a1.p0", PartKind.TOOL_CALL, "{}", tool_call_id="t1", tool_name="get_weather"),),
    )
    results = Message("u2", Role.USER, (Part("u2.p0", PartKind.TOOL_RESULT, "18C", tool_call_id="t1"),))
    got = await body(request(user("weather?"), assistant, results, user("summarize", mid="u3")))
    assert [t["name"] for t in got["tools"]] == ["get_weather"] and got["tool_choice"] == {"type": "none"}
    assert got["messages"][2]["content"][0]["type"] == "tool_result"
    assert got["messages"][2]["content"][1] == {"type": "text", "text": "summarize"}


@pytest.mark.anyio
async def test_system_messages_events_and_role_alternation() -> None:
    """Leading system messages join the system blocks; later ones become marked user text; events
    are marked user text; adjacent same-role messages merge; empty text is dropped."""
    messages = (
        Message("s0", Role.SYSTEM, (Part("s0.p0", PartKind.TEXT, "Project rules."),)),
        user("first"),
        user("   ", mid="u1b"),
        Message("s1", Role.SYSTEM, (Part("s1.p0", PartKind.TEXT, "Budget is low."),)),
        Message("e1", Role.EVENT, (Part("e1.p0", PartKind.TEXT, "job 7 finished"),)),
        Message("a1", Role.ASSISTANT, (Part("a1.p0", PartKind.PROSE, "Noted.  \n"),)),
    )
    got = await body(request(*messages))
    assert got["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Project rules."},
    ]
    assert got["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "first"},
                {"type": "text", "text": "[system] Budget is low."},
                {"type": "text", "text": "[event] job 7 finished"},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
    ]


@pytest.mark.anyio
async def test_a_request_with_nothing_to_send_is_refused() -> None:
    """No user or assistant content: a validation error instead of a 400 from the API."""
    with pytest.raises(ProviderError) as caught:
        await body(request(user("  ")))
    assert failure(caught).code == "empty_messages"
