"""The Responses request body, including replay of reasoning items and function calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_openai import OpenAIResponsesProvider, ResponsesSettings

from lash_core.errors import ProviderError
from lash_core.model import (
    AttachmentRef,
    JsonObjectOutput,
    JsonSchemaOutput,
    LlmReasoningPart,
    LlmRequest,
    LlmResponse,
    Message,
    ModelSpec,
    Part,
    PartKind,
    Role,
    ToolSpec,
)
from lash_core.testing.wire import WireTransport, load_corpus_case
from lash_core.turn.driver import response_message

WIRE = Path(__file__).parent / "fixtures" / "wire"
TOOL = ToolSpec("final_result", "Report.", {"type": "object", "properties": {"result": {"type": "integer"}}})


def user(text: str, *extra: Part, mid: str = "u1") -> Message:
    return Message(mid, Role.USER, (Part(f"{mid}.p0", PartKind.TEXT, text), *extra))


def request(*messages: Message, model: ModelSpec | None = None, **kwargs: Any) -> LlmRequest:
    return LlmRequest(
        model=model or ModelSpec("gpt-5"),
        system_prompt="Be brief.",
        messages=messages or (user("hi"),),
        **kwargs,
    )


async def load(ref: AttachmentRef) -> bytes:
    return b"data"


async def body(req: LlmRequest, *, stream: bool = True, **settings: Any) -> dict[str, Any]:
    provider = OpenAIResponsesProvider(
        ResponsesSettings(api_key="sk-test", **settings), attachment_loader=load
    )
    return await provider.build_body(req, stream=stream)


def as_message(response: LlmResponse, mid: str = "a1") -> Message:
    """The assistant message the turn driver stores for a response."""
    return response_message(response, mid)


@pytest.mark.anyio
async def test_instructions_input_and_defaults() -> None:
    """The system prompt is ``instructions``; user text is ``input_text``; store is off."""
    got = await body(request(user("hello"), session_id="s-9"))
    assert got == {
        "model": "gpt-5",
        "instructions": "Be brief.",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
        "stream": True,
        "store": False,
        "prompt_cache_key": "s-9",
    }


@pytest.mark.anyio
async def test_tools_always_state_strictness() -> None:
    """Responses tools are flat and always carry ``strict`` (the API defaults to strict)."""
    got = await body(request(tools=(TOOL,)))
    assert got["tools"] == [
        {
            "type": "function",
            "name": "final_result",
            "description": "Report.",
            "parameters": {"type": "object", "properties": {"result": {"type": "integer"}}},
            "strict": False,
        }
    ]
    strict = (await body(request(tools=(TOOL,)), strict_tools=True))["tools"][0]
    assert strict["strict"] is True and strict["parameters"]["required"] == ["result"]


@pytest.mark.anyio
async def test_reasoning_effort_summary_and_encrypted_content() -> None:
    """An effort asks for a summary (when exposed) and, without store, for encrypted reasoning."""
    got = await body(request(reasoning_effort="low"), max_output_tokens=100, text_verbosity="low")
    assert got["reasoning"] == {"effort": "low", "summary": "auto"}
    assert got["include"] == ["reasoning.encrypted_content"]
    assert got["max_output_tokens"] == 100 and got["text"] == {"verbosity": "low"}
    hidden = await body(request(reasoning_effort="low"), expose_reasoning=False, store=True)
    assert hidden["reasoning"] == {"effort": "low"} and "include" not in hidden and hidden["store"] is True


@pytest.mark.anyio
async def test_output_specs_become_text_format() -> None:
    """JSON mode is ``text.format: {type: json_object}``; a schema is a flat ``json_schema`` format
    (name, projected schema, strict) beside the verbosity."""
    json_mode = await body(request(output_spec=JsonObjectOutput()))
    assert json_mode["text"] == {"format": {"type": "json_object"}}
    spec = JsonSchemaOutput("report", TOOL.input_schema)
    got = await body(request(output_spec=spec), text_verbosity="low")
    assert got["text"] == {
        "format": {
            "type": "json_schema",
            "name": "report",
            "schema": {
                "type": "object",
                "properties": {"result": {"type": ["integer", "null"]}},
                "required": ["result"],
                "additionalProperties": False,
            },
            "strict": True,
        },
        "verbosity": "low",
    }
    loose = await body(request(output_spec=JsonSchemaOutput("report", TOOL.input_schema, strict=False)))
    assert (
        loose["text"]["format"]["schema"] == TOOL.input_schema and loose["text"]["format"]["strict"] is False
    )
    assert "text" not in await body(request())


@pytest.mark.anyio
async def test_cache_dialects() -> None:
    """``none`` drops the cache key; dialects the API cannot express are errors."""
    none = await body(request(model=ModelSpec("gpt-5", cache_dialect="none"), session_id="s"))
    assert "prompt_cache_key" not in none
    retained = await body(request(session_id="s"), prompt_cache_retention="24h")
    assert retained["prompt_cache_retention"] == "24h"
    with pytest.raises(ProviderError, match="cache dialect"):
        await body(request(model=ModelSpec("gpt-5", cache_dialect="anthropic")))


@pytest.mark.anyio
async def test_attachments_become_input_image_and_input_file() -> None:
    """Images are ``input_image``; documents are ``input_file`` with file data."""
    image = AttachmentRef("a", "image/jpeg", 4, "cat.jpg")
    notes = AttachmentRef("b", "text/plain", 4, "notes.txt")
    spec = ModelSpec("gpt-5", attachment_media_types=("image/*", "text/plain"))
    message = user(
        "see",
        Part("u1.p1", PartKind.ATTACHMENT, attachment=image),
        Part("u1.p2", PartKind.ATTACHMENT, attachment=notes),
    )
    content = (await body(request(message, model=spec)))["input"][0]["content"]
    assert content[1] == {"type": "input_image", "image_url": "data:image/jpeg;base64,ZGF0YQ=="}
    assert content[2] == {
        "type": "input_file",
        "filename": "notes.txt",
        "file_data": "data:text/plain;base64,ZGF0YQ==",
    }


async def _recorded(case: str) -> LlmResponse:
    corpus = load_corpus_case(WIRE / case)
    async with httpx.AsyncClient(transport=WireTransport(corpus.to_script())) as client:
        provider = OpenAIResponsesProvider(ResponsesSettings(api_key="sk-test"), client=client)

        async def ignore(event: object) -> None:
            return None

        return await provider.complete(request(user("q"), model=ModelSpec(corpus.request["model"])), ignore)


@pytest.mark.anyio
async def test_recorded_reasoning_and_function_call_are_replayed_in_order() -> None:
    """A recorded reasoning item and function call go back as items with ids, then the output."""
    response = await _recorded("openai-responses-stream-reasoning-function-call")
    reasoning = response.parts[0]
    assert isinstance(reasoning, LlmReasoningPart)
    result = Message(
        "u2",
        Role.USER,
        (Part("u2.p0", PartKind.TOOL_RESULT, "6666", tool_call_id=response.tool_calls[0].call_id),),
    )
    got = (await body(request(user("q"), as_message(response), result)))["input"]
    assert [item.get("type") for item in got] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert got[1] == {
        "type": "reasoning",
        "id": "rs_0050471a34b36ae60068c97bac4dcc819595fd0f80d6b3c405",
        "summary": [],
        "encrypted_content": reasoning.replay["encrypted_content"],
    }
    assert got[2] == {
        "type": "function_call",
        "call_id": "call_CWXgs68YprAjp6t0371hiPOI",
        "name": "final_result",
        "arguments": '{"result":6666}',
        "id": "fc_0050471a34b36ae60068c97bf19d9c819590eaf42c0edc1042",
    }
    assert got[3] == {
        "type": "function_call_output",
        "call_id": "call_CWXgs68YprAjp6t0371hiPOI",
        "output": "6666",
    }


@pytest.mark.anyio
async def test_recorded_message_keeps_its_id_and_phase() -> None:
    """A recorded commentary message replays with its item id and phase beside its reasoning."""
    response = await _recorded("openai-responses-stream-text-and-function-call")
    got = (await body(request(user("q"), as_message(response))))["input"]
    message = got[2]
    assert message["id"].startswith("msg_") and message["phase"] == "commentary"
    assert message["content"] == [{"type": "output_text", "text": response.text, "annotations": []}]
    assert got[3]["id"].startswith("fc_")


@pytest.mark.anyio
async def test_invisible_commentary_is_replayed_with_its_phase() -> None:
    """Commentary kept invisible beside a final answer still goes back, as its own phased message."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"}
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part("a1.p0", PartKind.REASONING, "", reasoning_meta=reasoning),
            Part(
                "a1.p1",
                PartKind.PROSE,
                "Checking.",
                response_meta={"id": "msg_1", "phase": "commentary"},
                visible=False,
            ),
            Part("a1.p2", PartKind.PROSE, "Paris.", response_meta={"id": "msg_2", "phase": "final_answer"}),
        ),
    )
    got = (await body(request(user("q"), assistant)))["input"][2:]
    assert [(item["id"], item["phase"], item["content"][0]["text"]) for item in got] == [
        ("msg_1", "commentary", "Checking."),
        ("msg_2", "final_answer", "Paris."),
    ]


@pytest.mark.anyio
async def test_without_replay_state_ids_are_left_out() -> None:
    """Reasoning without encrypted content is dropped, and its items lose their ids."""
    assistant = Message(
        "a1",
        Role.ASSISTANT,
        (
            Part(
                "a1.p0",
                PartKind.REASONING,
                "hm",
                reasoning_meta={"type": "reasoning", "id": "rs_1", "summary": []},
            ),
            Part("a1.p1", PartKind.PROSE, "Calling.", response_meta={"id": "msg_1"}),
            Part(
                "a1.p2",
                PartKind.TOOL_CALL,
                "{}",
                tool_call_id="call_1",
                tool_name="t",
                tool_replay={"item_id": "fc_1"},
            ),
        ),
    )
    got = (await body(request(user("q"), assistant)))["input"][1:]
    assert got == [
        {"role": "assistant", "content": "Calling."},
        {"type": "function_call", "call_id": "call_1", "name": "t", "arguments": "{}"},
    ]
