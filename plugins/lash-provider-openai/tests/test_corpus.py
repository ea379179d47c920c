"""Every recorded OpenAI case of the shared wire corpus parses to its expected.json through
the providers' real HTTP and parsing code (replayed by the wire transport)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider, OpenAIResponsesProvider, ResponsesSettings

from lash_core.errors import ProviderError
from lash_core.model import (
    LlmReasoningPart,
    LlmRequest,
    LlmResponse,
    LlmStreamEvent,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    StreamReasoningDelta,
    StreamTextDelta,
    StreamToolCallDelta,
    StreamToolCallStart,
    StreamUsage,
    TerminalReason,
)
from lash_core.testing.wire import CorpusCase, WireTransport, load_corpus

CORPUS = Path(__file__).parent / "fixtures" / "wire"
CASES = load_corpus(CORPUS, "openai-")
SUCCESS = [c for c in CASES if "error" not in c.expected]
ERRORS = [c for c in CASES if "error" in c.expected]


def _request(case: CorpusCase) -> LlmRequest:
    message = Message("m1", Role.USER, (Part("m1.p0", PartKind.TEXT, "replayed question"),))
    return LlmRequest(model=ModelSpec(case.request["model"]), system_prompt="", messages=(message,))


async def _run(
    case: CorpusCase, *, stream: bool, chunk_size: int | None = None
) -> tuple[LlmResponse, list[LlmStreamEvent], WireTransport]:
    transport = WireTransport(case.to_script(chunk_size=chunk_size))
    events: list[LlmStreamEvent] = []

    async def on_event(event: LlmStreamEvent) -> None:
        events.append(event)

    async with httpx.AsyncClient(transport=transport) as client:
        if case.endpoint.endswith("/responses"):
            provider: Any = OpenAIResponsesProvider(ResponsesSettings(api_key="sk-test"), client=client)
        else:
            provider = OpenAIChatProvider(ChatSettings(api_key="sk-test"), client=client)
        response = await provider.complete(_request(case), on_event if stream else None)
    transport.assert_done()
    return response, events, transport


def _check_response(case: CorpusCase, response: LlmResponse) -> None:
    expected = case.expected
    assert response.text == expected["text"]
    calls = [(c.call_id, c.name, json.loads(c.arguments)) for c in response.tool_calls]
    assert calls == [(t["id"], t["name"], t["arguments"]) for t in expected["tool_calls"]]
    for call, want in zip(response.tool_calls, expected["tool_calls"], strict=True):
        if "item_id" in want:
            assert call.replay == {"item_id": want["item_id"]}
    assert response.provider_finish_reason == expected["finish_reason"]
    assert response.model == expected["model"]
    assert response.response_id == expected["response_id"]
    assert response.terminal_reason is (TerminalReason.TOOL_USE if calls else TerminalReason.STOP)
    usage = expected["usage"]
    cached, written = usage["cache_read_tokens"] or 0, usage["cache_write_tokens"] or 0
    assert response.usage.input_tokens == usage["input_tokens"] - cached - written
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.usage.cache_read_input_tokens == cached
    assert response.usage.cache_write_input_tokens == written
    assert response.usage.reasoning_output_tokens == usage["reasoning_tokens"]
    assert response.usage.total_tokens == usage["total_tokens"]
    reasoning = [p for p in response.parts if isinstance(p, LlmReasoningPart)]
    if "reasoning" in expected:
        got = [
            (p.replay["id"], bool(p.replay.get("encrypted_content")), p.replay["summary"]) for p in reasoning
        ]
        want = [
            (r["item_id"], r["encrypted_content_present"], r["summary_parts"]) for r in expected["reasoning"]
        ]
        assert got == want
    if "reasoning_summary_text" in expected:
        assert "".join(p.text for p in reasoning) == expected["reasoning_summary_text"]
    if "output_item_types" in expected:
        kinds = {
            "LlmReasoningPart": "reasoning",
            "LlmTextPart": "message",
            "LlmToolCallPart": "function_call",
        }
        assert [kinds[type(p).__name__] for p in response.parts] == expected["output_item_types"]


def _check_events(response: LlmResponse, events: list[LlmStreamEvent]) -> None:
    assert "".join(e.text for e in events if isinstance(e, StreamTextDelta)) == response.text
    reasoning = "".join(p.text for p in response.parts if isinstance(p, LlmReasoningPart))
    assert "".join(e.text for e in events if isinstance(e, StreamReasoningDelta)) == reasoning
    starts = [e for e in events if isinstance(e, StreamToolCallStart)]
    assert [(s.index, s.call_id, s.name) for s in starts] == [
        (i, c.call_id, c.name) for i, c in enumerate(response.tool_calls)
    ]
    for index, call in enumerate(response.tool_calls):
        pieces = [e.arguments for e in events if isinstance(e, StreamToolCallDelta) and e.index == index]
        assert "".join(pieces) == call.arguments
    usage = [e.usage for e in events if isinstance(e, StreamUsage)]
    assert usage and usage[-1] == response.usage


@pytest.mark.anyio
@pytest.mark.parametrize("chunk_size", [None, 7], ids=["whole", "7-byte-chunks"])
@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
async def test_corpus_case_parses_to_expected(case: CorpusCase, chunk_size: int | None) -> None:
    """The recorded response parses to expected.json (also when split mid-UTF-8 into 7-byte chunks)."""
    response, events, transport = await _run(case, stream=case.streaming, chunk_size=chunk_size)
    _check_response(case, response)
    if case.streaming:
        _check_events(response, events)
        assert transport.bodies[0]["stream"] is True
    else:
        assert "stream" not in transport.bodies[0]


@pytest.mark.anyio
@pytest.mark.parametrize("case", [c for c in SUCCESS if c.streaming], ids=lambda c: c.name)
async def test_buffered_call_gives_the_same_response(case: CorpusCase) -> None:
    """A non-streaming call served the same body yields the same final response."""
    streamed, _, _ = await _run(case, stream=True)
    buffered, events, _ = await _run(case, stream=False)
    assert buffered == streamed
    assert events == []


@pytest.mark.anyio
@pytest.mark.parametrize("case", ERRORS, ids=[c.name for c in ERRORS])
async def test_corpus_error_is_classified(case: CorpusCase) -> None:
    """A recorded HTTP error becomes a non-retryable, classified ProviderError after one attempt."""
    with pytest.raises(ProviderError) as caught:
        await _run(case, stream=False)
    failure = caught.value.failure
    assert isinstance(failure, ProviderFailure)
    error = case.expected["error"]
    assert failure.status == case.expected["http_status"]
    assert failure.code == error["code"]
    assert error["message"] in failure.message
    assert failure.retryable is False
    kinds = {400: ProviderFailureKind.VALIDATION, 404: ProviderFailureKind.UNSUPPORTED}
    assert failure.kind is kinds[case.status]
