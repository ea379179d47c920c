"""The Anthropic provider passes the kernel's provider conformance suite, over recorded corpus
cases where one exists and written wire scripts for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lash_provider_anthropic import AnthropicProvider, AnthropicSettings

from lash_core.testing.conformance.provider import ConformanceSetup, ProviderConformance, ProviderTarget
from lash_core.testing.wire import CorpusCase, WireScript, load_corpus_case, load_scripts

FIXTURES = Path(__file__).parent / "fixtures"


def corpus_script(name: str, body: dict[str, Any] | None = None, **extra: Any) -> WireScript:
    """A corpus case as a conformance script, with expectations in lash's terms; ``body``
    adds request body matchers."""
    case: CorpusCase = load_corpus_case(FIXTURES / "wire" / name)
    expected = case.expected
    usage = expected["usage"]
    calls = [
        {"call_id": t["id"], "name": t["name"], "arguments": t["arguments"]} for t in expected["tool_calls"]
    ]
    script = case.to_script(match=())
    script.exchanges[0].request["path"] = "/v1/messages"
    script.exchanges[0].request["body"].update(body or {})
    script.expect = {
        "text": expected["text"],
        "tool_calls": calls,
        "terminal_reason": "tool_use" if calls else "stop",
        "streaming": case.streaming,
        "usage": {
            "input_tokens": usage["input_tokens"],
            "output_tokens": usage["output_tokens"],
            "cache_read_input_tokens": usage["cache_read_tokens"],
            "cache_write_input_tokens": usage["cache_write_tokens"],
            "reasoning_output_tokens": usage["reasoning_tokens"] or 0,
        },
        **extra,
    }
    return script


def anthropic_target() -> ProviderTarget:
    """The Anthropic provider with its scripts."""
    scripts = load_scripts(FIXTURES / "scripts")
    thinking = load_corpus_case(FIXTURES / "wire" / "anthropic-stream-thinking-text")
    scripts["text_stream"] = corpus_script(thinking.name)
    scripts["reasoning"] = corpus_script(
        thinking.name,
        body={"thinking.type": {"equals": "enabled"}, "thinking.budget_tokens": {"equals": 2048}},
        reasoning=thinking.expected["thinking"][0]["thinking"],
        reasoning_replay=True,
    )
    scripts["cache_usage"] = corpus_script(
        "anthropic-nonstream-cache-read-write", body={"system[0].cache_control.type": {"equals": "ephemeral"}}
    )

    def make(setup: ConformanceSetup) -> AnthropicProvider:
        settings = AnthropicSettings(api_key=setup.api_key, retry=setup.retry)
        return AnthropicProvider(settings, client=setup.client, sleep=setup.sleep)

    return ProviderTarget(name="anthropic", make=make, scripts=scripts)


class TestAnthropicConformance(ProviderConformance):
    """The ``anthropic`` provider."""

    @pytest.fixture
    def provider_target(self) -> ProviderTarget:
        """The target under test."""
        return anthropic_target()
