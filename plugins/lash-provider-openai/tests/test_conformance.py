"""Both OpenAI providers pass the kernel's provider conformance suite, over recorded corpus
cases where one exists and written wire scripts for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lash_provider_openai import ChatSettings, OpenAIChatProvider, OpenAIResponsesProvider, ResponsesSettings

from lash_core.testing.conformance.provider import ConformanceSetup, ProviderConformance, ProviderTarget
from lash_core.testing.wire import CorpusCase, WireScript, load_corpus_case, load_scripts

FIXTURES = Path(__file__).parent / "fixtures"


def corpus_script(name: str, **extra: Any) -> WireScript:
    """A corpus case as a conformance script, with expectations in lash's terms."""
    case: CorpusCase = load_corpus_case(FIXTURES / "wire" / name)
    expected = case.expected
    usage = expected["usage"]
    cached, written = usage["cache_read_tokens"] or 0, usage["cache_write_tokens"] or 0
    calls = [
        {"call_id": t["id"], "name": t["name"], "arguments": t["arguments"]} for t in expected["tool_calls"]
    ]
    expect: dict[str, Any] = {
        "text": expected["text"],
        "tool_calls": calls,
        "terminal_reason": "tool_use" if calls else "stop",
        "streaming": case.streaming,
        "usage": {
            "input_tokens": usage["input_tokens"] - cached - written,
            "output_tokens": usage["output_tokens"],
            "cache_read_input_tokens": cached,
            "cache_write_input_tokens": written,
            "reasoning_output_tokens": usage["reasoning_tokens"],
        },
        **extra,
    }
    script = case.to_script(match=())
    script.expect = expect
    return script


def chat_target() -> ProviderTarget:
    """The Chat Completions provider with its scripts."""
    scripts = load_scripts(FIXTURES / "scripts" / "chat")
    scripts["text_stream"] = corpus_script("openai-chat-stream-text")
    scripts["parallel_tool_calls"] = corpus_script("openai-chat-stream-parallel-tool-calls")
    scripts["cache_usage"] = corpus_script("openai-chat-nonstream-cached-tokens")

    def make(setup: ConformanceSetup) -> OpenAIChatProvider:
        settings = ChatSettings(api_key=setup.api_key, retry=setup.retry)
        return OpenAIChatProvider(settings, client=setup.client, sleep=setup.sleep)

    return ProviderTarget(name="openai", make=make, scripts=scripts)


def responses_target() -> ProviderTarget:
    """The Responses provider with its scripts."""
    scripts = load_scripts(FIXTURES / "scripts" / "responses")
    summary = load_corpus_case(FIXTURES / "wire" / "openai-responses-stream-reasoning-summary-text")
    scripts["text_stream"] = corpus_script(summary.name)
    scripts["reasoning"] = corpus_script(
        summary.name, reasoning=summary.expected["reasoning_summary_text"], reasoning_replay=True
    )

    def make(setup: ConformanceSetup) -> OpenAIResponsesProvider:
        settings = ResponsesSettings(api_key=setup.api_key, retry=setup.retry)
        return OpenAIResponsesProvider(settings, client=setup.client, sleep=setup.sleep)

    return ProviderTarget(name="openai-responses", make=make, scripts=scripts)


class TestChatConformance(ProviderConformance):
    """The ``openai`` provider."""

    @pytest.fixture
    def provider_target(self) -> ProviderTarget:
        """The target under test."""
        return chat_target()


class TestResponsesConformance(ProviderConformance):
    """The ``openai-responses`` provider."""

    @pytest.fixture
    def provider_target(self) -> ProviderTarget:
        """The target under test."""
        return responses_target()
