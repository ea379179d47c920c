"""Tool calls with the real SmolLM2-135M model: no mocks.

SmolLM2-135M chooses tools poorly, so these tests steer it (a required call, the
``first_call`` setting, or an earlier round in the history) and sample greedily (temperature
0, seed 42): every answer asserted here is what this model gives deterministically, and the
checks are about the provider (grammar-constrained arguments, streaming, limits,
cancellation), not about the model's judgement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from lash_provider_llamacpp import LlamaCppProvider, LlamaCppSettings, to_chat_messages
from lash_provider_llamacpp.grammar import ANY_OBJECT, DECISION, NO_CALL
from lash_tools import ToolsSettings
from lash_tools.provider import build_manifests

from lash_core import Runtime
from lash_core.model import (
    Finished,
    LlmRequest,
    LlmResponse,
    LlmStreamEvent,
    Message,
    ModelSpec,
    Part,
    PartKind,
    Role,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    SuccessOutcome,
    TerminalReason,
    ToolChoice,
    ToolSpec,
)
from lash_core.tools import ArgumentValidator

GUARD_SECONDS = 120
WRITE_HELLO = "Write the word hello into the file hello.txt using the write_file tool."

WRITE = ToolSpec(
    "write_file",
    "Create or overwrite a file with the given text.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
        "additionalProperties": False,
    },
)
READ = ToolSpec(
    "read_file",
    "Read a text file.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    },
)


@pytest.fixture(scope="module")
def provider(model_path: Path) -> Iterator[LlamaCppProvider]:
    """One greedy, seeded provider shared by the direct tool-call tests."""
    shared = LlamaCppProvider(
        LlamaCppSettings(
            model_path=str(model_path), n_ctx=1024, seed=42, temperature=0.0, max_output_tokens=48
        )
    )
    yield shared
    anyio.run(shared.aclose)


def user(message_id: str, text: str) -> Message:
    """A user message of one text part."""
    return Message(message_id, Role.USER, (Part(f"{message_id}.p0", PartKind.TEXT, text),))


def ask(
    *messages: Message, choice: ToolChoice = ToolChoice.AUTO, max_output_tokens: int | None = None
) -> LlmRequest:
    """A request offering write_file and read_file."""
    return LlmRequest(
        ModelSpec("smollm2-135m"),
        "",
        messages,
        tools=(WRITE, READ),
        tool_choice=choice,
        max_output_tokens=max_output_tokens,
    )


async def complete(
    provider: LlamaCppProvider, request: LlmRequest
) -> tuple[LlmResponse, list[LlmStreamEvent]]:
    """The response to ``request`` and the stream events reported on the way."""
    events: list[LlmStreamEvent] = []

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    with anyio.fail_after(GUARD_SECONDS):
        response = await provider.complete(request, on_event)
    return response, events


def earlier_round() -> list[Message]:
    """A finished write_file round: the request, the call, its result and the answer."""
    call = Part(
        "a1.p0",
        PartKind.TOOL_CALL,
        '{"path": "apple.txt", "content": "apple"}',
        tool_call_id="c1",
        tool_name="write_file",
    )
    result = Part("r1.p0", PartKind.TOOL_RESULT, "wrote 5 bytes", tool_call_id="c1", tool_name="write_file")
    return [
        user("u1", "Write apple into apple.txt."),
        Message("a1", Role.ASSISTANT, (call,)),
        Message("r1", Role.USER, (result,)),
        Message("d1", Role.ASSISTANT, (Part("d1.p0", PartKind.PROSE, "Done."),)),
    ]


@pytest.mark.anyio
async def test_a_required_call_is_one_schema_valid_call_streamed_as_sampled(
    provider: LlamaCppProvider,
) -> None:
    """tool_choice required: one write_file call, no text; its start, argument deltas, then usage are streamed."""
    response, events = await complete(provider, ask(user("m1", WRITE_HELLO), choice=ToolChoice.REQUIRED))
    assert response.terminal_reason is TerminalReason.TOOL_USE
    assert response.provider_finish_reason == "tool_call"
    assert response.text == ""
    (call,) = response.tool_calls
    assert call.name == "write_file"
    ArgumentValidator(WRITE.input_schema).validate(json.loads(call.arguments))
    assert events[0] == StreamToolCallStart(0, call.call_id, "write_file")
    deltas = [e.arguments for e in events if isinstance(e, StreamToolCallDelta)]
    assert "".join(deltas) == call.arguments
    assert len(deltas) >= 5
    assert not any(isinstance(e, StreamTextDelta) for e in events)
    assert events[-1] == StreamUsage(response.usage)
    assert response.usage.output_tokens > len(deltas)  # the written <tool_call> scaffolding counts too


@pytest.mark.anyio
async def test_with_tools_offered_a_prose_answer_still_streams(provider: LlamaCppProvider) -> None:
    """tool_choice auto: the model answers a greeting in prose, streamed piece by piece; the prompt lists the tools."""
    request = ask(user("m1", "Hi! Who are you?"))
    response, events = await complete(provider, request)
    deltas = [e.text for e in events if isinstance(e, StreamTextDelta)]
    assert response.tool_calls == ()
    assert response.text.strip()
    assert len(deltas) >= 3
    assert "".join(deltas) == response.text
    assert isinstance(events[-1], StreamUsage)
    model = await provider.load()
    with_tools = len(model.prompt_tokens(to_chat_messages(request, tools=request.tools)))
    assert response.usage.input_tokens == with_tools
    assert with_tools > len(model.prompt_tokens(to_chat_messages(request))) + 50


@pytest.mark.anyio
async def test_in_auto_the_model_calls_a_tool_when_its_history_shows_one(provider: LlamaCppProvider) -> None:
    """tool_choice auto: after one earlier write_file round, SmolLM2's own first token starts a new call."""
    response, events = await complete(
        provider, ask(*earlier_round(), user("u2", "Write plum into plum.txt."))
    )
    assert response.terminal_reason is TerminalReason.TOOL_USE
    (call,) = response.tool_calls
    assert call.name == "write_file"
    ArgumentValidator(WRITE.input_schema).validate(json.loads(call.arguments))
    assert not any(isinstance(e, StreamTextDelta) for e in events)


@pytest.mark.anyio
async def test_the_output_cap_cuts_a_tool_call_short(provider: LlamaCppProvider) -> None:
    """A cap reached inside the arguments ends the answer as output_limit, the cut call's arguments unfinished."""
    request = ask(user("m1", WRITE_HELLO), choice=ToolChoice.REQUIRED, max_output_tokens=20)
    response, _ = await complete(provider, request)
    assert response.terminal_reason is TerminalReason.OUTPUT_LIMIT
    assert response.usage.output_tokens == 20
    (call,) = response.tool_calls
    assert call.arguments.startswith("{")
    with pytest.raises(ValueError):
        json.loads(call.arguments)


@pytest.mark.anyio
async def test_cancelling_during_a_tool_call_stops_at_the_next_token(provider: LlamaCppProvider) -> None:
    """Cancelling the scope around complete() while arguments stream stops generation; the provider is reusable."""
    deltas: list[str] = []
    with anyio.fail_after(GUARD_SECONDS), anyio.CancelScope() as scope:

        async def on_event(event: LlmStreamEvent) -> None:
            if isinstance(event, StreamToolCallDelta):
                deltas.append(event.arguments)
                if len(deltas) == 2:
                    scope.cancel()

        await provider.complete(ask(user("m1", WRITE_HELLO), choice=ToolChoice.REQUIRED), on_event)
    assert scope.cancelled_caught
    assert 2 <= len(deltas) <= 3
    assert not provider.busy
    again, _ = await complete(provider, ask(user("m1", "Say hi."), max_output_tokens=4))
    assert again.usage.output_tokens > 0


@pytest.mark.anyio
async def test_llama_cpp_accepts_every_grammar_and_refuses_a_broken_one(provider: LlamaCppProvider) -> None:
    """The decision, no-call and any-object grammars and the argument grammars of lash-tools all parse."""
    settings = ToolsSettings(shell=True)
    model = await provider.load()
    specs = [ToolSpec(m.name, m.description, m.input_schema) for m in build_manifests(settings)]
    grammars = [model.arguments_grammar(spec) for spec in specs]
    assert all(grammar != ANY_OBJECT for grammar in grammars)  # every schema has its own grammar
    for grammar in (DECISION, NO_CALL, ANY_OBJECT, *grammars):
        assert model.grammar_is_valid(grammar), grammar
    assert not model.grammar_is_valid("root ::= (")


def tools_runtime_config(model_path: Path, workspace: Path) -> dict[str, Any]:
    """The llamacpp provider (first_call, greedy) with lash-tools working in ``workspace``."""
    settings = {
        "model_path": str(model_path),
        "n_ctx": 2048,
        "seed": 42,
        "temperature": 0.0,
        "max_output_tokens": 48,
        "tools": "first_call",
    }
    return {
        "model": {"id": "smollm2-135m", "context_window_tokens": 2048},
        "providers": {"default": {"type": "llamacpp", "settings": settings}},
        "workspace": str(workspace),
        "plugins": {"enable": ["llamacpp", "tools", "standard", "memory_store", "inline_effects"]},
    }


@pytest.mark.anyio
async def test_a_first_call_turn_writes_the_file_through_lash_tools(model_path: Path, tmp_path: Path) -> None:
    """tools = first_call: the turn calls write_file, the runtime writes the file, then the model answers in text."""
    with anyio.fail_after(GUARD_SECONDS):
        async with Runtime(tools_runtime_config(model_path, tmp_path)) as runtime:
            session = await runtime.session("llama-tools")
            result = await session.turn(WRITE_HELLO).run()
            history = session.history
    assert isinstance(result.outcome, Finished)
    (record,) = result.tool_calls
    assert record.tool == "write_file"
    assert isinstance(record.output.outcome, SuccessOutcome)
    assert (tmp_path / record.args["path"]).read_text() == record.args["content"]
    assert record.args["path"] == "hello.txt"
    assert result.assistant_output.raw_text.strip()
    assert not result.assistant_output.raw_text.startswith("<")
    kinds = [[part.kind for part in message.parts] for message in history]
    assert kinds == [[PartKind.TEXT], [PartKind.TOOL_CALL], [PartKind.TOOL_RESULT], [PartKind.PROSE]]
