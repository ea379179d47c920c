"""Every recorded OpenAI case of the shared wire corpus parses to its expected.json through
the providers' real HTTP and parsing code (replayed by the wire transport)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider, OpenAIResponsesProvider, ResponsesSettings

from lash_core.model import LlmReasoningPart, LlmResponse
from lash_core.testing.wire import (
    CorpusCase,
    CorpusReplay,
    check_corpus_response,
    check_corpus_stream,
    load_corpus,
)

CORPUS = Path(__file__).parent / "fixtures" / "wire"
CASES = load_corpus(CORPUS, "openai-")
SUCCESS = [c for c in CASES if "error" not in c.expected]
ERRORS = [c for c in CASES if "error" in c.expected]


def _provider(case: CorpusCase, client: httpx.AsyncClient) -> Any:
    if case.endpoint.endswith("/responses"):
        return OpenAIResponsesProvider(ResponsesSettings(api_key="sk-test"), client=client)
    return OpenAIChatProvider(ChatSettings(api_key="sk-test"), client=client)


REPLAY = CorpusReplay(_provider)


def _check_response(case: CorpusCase, response: LlmResponse) -> None:
    check_corpus_response(case, response)
    expected = case.expected
    for call, want in zip(response.tool_calls, expected["tool_calls"], strict=True):
        if "item_id" in want:
            assert call.replay == {"item_id": want["item_id"]}
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


@pytest.mark.anyio
@pytest.mark.parametrize("chunk_size", [None, 7], ids=["whole", "7-byte-chunks"])
@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
async def test_corpus_case_parses_to_expected(case: CorpusCase, chunk_size: int | None) -> None:
    """The recorded response parses to expected.json (also when split mid-UTF-8 into 7-byte chunks)."""
    run = await REPLAY.run(case, stream=case.streaming, chunk_size=chunk_size)
    _check_response(case, run[0])
    check_corpus_stream(case, run)


@pytest.mark.anyio
@pytest.mark.parametrize("case", [c for c in SUCCESS if c.streaming], ids=lambda c: c.name)
async def test_buffered_call_gives_the_same_response(case: CorpusCase) -> None:
    """A non-streaming call served the same body yields the same final response."""
    await REPLAY.check_buffered_matches_streamed(case)


@pytest.mark.anyio
@pytest.mark.parametrize("case", ERRORS, ids=[c.name for c in ERRORS])
async def test_corpus_error_is_classified(case: CorpusCase) -> None:
    """A recorded HTTP error becomes a non-retryable, classified ProviderError after one attempt."""
    failure = await REPLAY.failure(case)
    assert failure.code == case.expected["error"]["code"]
