"""Every recorded Anthropic case of the shared wire corpus parses to its expected.json through
the provider's real HTTP and parsing code (replayed by the wire transport), whole and split
into small chunks that cut through UTF-8 sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings

from lash_core.model import LlmReasoningPart, LlmResponse, LlmTextPart
from lash_core.testing.wire import (
    CorpusCase,
    CorpusReplay,
    WireScript,
    check_corpus_response,
    check_corpus_stream,
    load_corpus,
)

CORPUS = Path(__file__).parent / "fixtures" / "wire"
CASES = load_corpus(CORPUS, "anthropic-")
SUCCESS = [c for c in CASES if "error" not in c.expected]
ERRORS = [c for c in CASES if "error" in c.expected]
CHUNKS = [None, 7, 2]


def corpus_script(
    case: CorpusCase, *, chunk_size: int | None = None, match: tuple[str, ...] = ("model",)
) -> WireScript:
    """The case as a script. Some recordings were made against ``/v1/messages?beta=true``; the
    path matcher compares paths only, so it is the plain endpoint path."""
    script = case.to_script(chunk_size=chunk_size, match=match)
    for exchange in script.exchanges:
        exchange.request["path"] = "/v1/messages"
    return script


def _provider(case: CorpusCase, client: httpx.AsyncClient) -> AnthropicProvider:
    return AnthropicProvider(AnthropicSettings(api_key="sk-ant-test"), client=client)


REPLAY = CorpusReplay(_provider, lambda case, chunk_size: corpus_script(case, chunk_size=chunk_size))


def _block_type(part: Any) -> str:
    if isinstance(part, LlmReasoningPart):
        return str(part.replay["type"])
    return "text" if isinstance(part, LlmTextPart) else "tool_use"


def _check_response(case: CorpusCase, response: LlmResponse) -> None:
    check_corpus_response(case, response)
    expected = case.expected
    usage = expected["usage"]
    # Anthropic's input_tokens already excludes cache reads and writes: no subtraction.
    assert response.usage.input_tokens == usage["input_tokens"]
    assert response.usage.output_tokens == usage["output_tokens"]
    assert response.usage.cache_read_input_tokens == usage["cache_read_tokens"]
    assert response.usage.cache_write_input_tokens == usage["cache_write_tokens"]
    assert response.usage.reasoning_output_tokens == (usage["reasoning_tokens"] or 0)
    assert response.usage.total_tokens == (
        usage["input_tokens"]
        + usage["output_tokens"]
        + usage["cache_read_tokens"]
        + usage["cache_write_tokens"]
    )
    reasoning = [p for p in response.parts if isinstance(p, LlmReasoningPart)]
    thinking = expected.get("thinking", [])
    assert [(p.text, p.replay) for p in reasoning] == [
        (t["thinking"], {"type": "thinking", "signature": t["signature"]}) for t in thinking
    ]
    if "content_block_types" in expected:
        assert [_block_type(p) for p in response.parts] == expected["content_block_types"]


def test_the_corpus_is_complete_and_the_chunking_cuts_utf8() -> None:
    """All seven Anthropic cases are present, and the chunk sizes used split a multi-byte
    UTF-8 sequence in the case that has non-ASCII text."""
    assert len(CASES) == 7 and len(ERRORS) == 2
    body = next(c for c in CASES if c.name == "anthropic-stream-thinking-text").body
    for size in CHUNKS[1:]:
        assert size is not None
        assert any(0x80 <= body[k] <= 0xBF for k in range(size, len(body), size))


@pytest.mark.anyio
@pytest.mark.parametrize("chunk_size", CHUNKS, ids=["whole", "7-byte-chunks", "2-byte-chunks"])
@pytest.mark.parametrize("case", SUCCESS, ids=[c.name for c in SUCCESS])
async def test_corpus_case_parses_to_expected(case: CorpusCase, chunk_size: int | None) -> None:
    """The recorded response parses to expected.json, whole or in chunks."""
    run = await REPLAY.run(case, stream=case.streaming, chunk_size=chunk_size)
    response, _, transport = run
    _check_response(case, response)
    request = transport.requests[0]
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
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
    error = case.expected["error"]
    assert error["code"] is None and failure.code == error["type"]
    assert error["request_id"] in (failure.raw or "")
