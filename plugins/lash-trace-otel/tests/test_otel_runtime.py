"""End to end: real turns through ``scripted_runtime`` become OpenTelemetry span trees."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest
from lash_trace_otel import force_flush_all, otel_trace_plugin
from lash_trace_otel import plugin as otel_entry_point
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from lash_core import Runtime, tool
from lash_core.errors import ConfigError
from lash_core.model import LlmRequest, LlmResponse, ProviderFailureKind, TokenUsage
from lash_core.providers import StreamCallback
from lash_core.testing import (
    FakeClock,
    ScriptedProvider,
    call,
    provider_plugin,
    reply_error,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)

MS = 1_000_000
USER_TEXT = "What's the weather in Reykjavik? my passphrase is hunter2-7f3a"
FIRST_USAGE = TokenUsage(
    input_tokens=120,
    output_tokens=15,
    cache_read_input_tokens=40,
    cache_write_input_tokens=8,
    reasoning_output_tokens=5,
)
SECOND_USAGE = TokenUsage(input_tokens=200, output_tokens=6)
ANSWER = "It is sunny in Reykjavik, hunter2-7f3a."


class ClockedProvider:
    """Delegates to a scripted provider, advancing the fake clock first (a model call that takes time)."""

    def __init__(self, inner: ScriptedProvider, clock: FakeClock, seconds: list[float]) -> None:
        self.inner = inner
        self.clock = clock
        self.seconds = list(seconds)

    async def complete(self, request: LlmRequest, on_event: StreamCallback | None = None) -> LlmResponse:
        """Take ``seconds[0]`` of fake time, then reply."""
        self.clock.advance(self.seconds.pop(0))
        return await self.inner.complete(request, on_event)


def weather_turn(clock: FakeClock) -> tuple[ClockedProvider, Any]:
    """A model that calls ``weather`` (0.5 s), then answers (0.125 s); the tool takes 0.25 s
    (binary-exact fractions, so the kernel's millisecond durations are exact)."""
    scripted = ScriptedProvider(
        [
            reply_tool_calls(call("weather", {"city": "Reykjavik"}, call_id="call_w1"), usage=FIRST_USAGE),
            reply_text(ANSWER, usage=SECOND_USAGE),
        ]
    )

    @tool
    def weather(city: str) -> str:
        """Today's weather in a city."""
        clock.advance(0.25)
        return f"sunny in {city}"

    return ClockedProvider(scripted, clock, [0.5, 0.125]), weather


def otel_config(**settings: Any) -> dict[str, Any]:
    """Runtime configuration with one ``otel`` trace sink."""
    return {"trace_sinks": [{"type": "otel", "settings": settings}]}


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    """Finished spans grouped by name."""
    grouped: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        grouped.setdefault(span.name, []).append(span)
    return grouped


def every_string(span: ReadableSpan) -> list[str]:
    """Every string a span carries: its name, attribute keys and values, event names and attributes."""
    found = [span.name]
    sources = [span.attributes or {}] + [event.attributes or {} for event in span.events]
    found += [event.name for event in span.events]
    for attributes in sources:
        for key, value in attributes.items():
            found.append(key)
            found.extend(str(item) for item in (value if isinstance(value, tuple) else (value,)))
    return found


@pytest.mark.anyio
async def test_tool_turn_becomes_a_span_tree(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter, fake_clock: FakeClock
) -> None:
    """A turn span with two model-call children and one tool-call child, GenAI attributes
    equal to the scripted usage, durations from the records, and none of the user's text."""
    provider, weather = weather_turn(fake_clock)
    start_ns = fake_clock.now_ms() * MS
    async with scripted_runtime(
        provider,
        tools=[weather],
        plugins=[otel_trace_plugin(tracer_provider)],
        config=otel_config(provider_names={"default": "openai"}),
        clock=fake_clock,
    ) as runtime:
        session = await runtime.session("s1")
        result = await session.turn(USER_TEXT, turn_id="t1").run()
    assert result.assistant_output.raw_text == ANSWER

    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == [
        "chat scripted",
        "execute_tool weather",
        "chat scripted",
        "lash.turn",
    ]
    named = by_name(spans)
    (turn,) = named["lash.turn"]
    first, second = named["chat scripted"]
    (tool_span,) = named["execute_tool weather"]

    # the tree: one trace, the turn at the root, the steps under it
    assert turn.parent is None and turn.context is not None
    for child in (first, tool_span, second):
        assert child.parent is not None and child.parent.span_id == turn.context.span_id
        assert child.context is not None and child.context.trace_id == turn.context.trace_id

    # explicit times from the records: model 0-500 ms, tool 500-750 ms, model 750-875 ms
    assert (turn.start_time, turn.end_time) == (start_ns, start_ns + 875 * MS)
    assert (first.start_time, first.end_time) == (start_ns, start_ns + 500 * MS)
    assert (tool_span.start_time, tool_span.end_time) == (start_ns + 500 * MS, start_ns + 750 * MS)
    assert (second.start_time, second.end_time) == (start_ns + 750 * MS, start_ns + 875 * MS)

    assert dict(turn.attributes or {}) == {
        "lash.session.id": "s1",
        "gen_ai.conversation.id": "s1",
        "lash.turn.id": "t1",
        "gen_ai.operation.name": "invoke_agent",
        "lash.turn.input_item_count": 1,
        "lash.turn.status": "completed",
        "lash.turn.done_reason": "assistant_message",
        "lash.turn.agent_frame_switch": False,
    }
    assert turn.status.status_code is StatusCode.UNSET
    assert [event.name for event in turn.events] == ["lash.prompt_built"]

    attrs = first.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "scripted"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.system"] == "openai"
    assert attrs["lash.provider.id"] == "default"
    assert attrs["gen_ai.usage.input_tokens"] == 120 + 40 + 8
    assert attrs["lash.usage.uncached_input_tokens"] == FIRST_USAGE.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == FIRST_USAGE.output_tokens
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == FIRST_USAGE.cache_read_input_tokens
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == FIRST_USAGE.cache_write_input_tokens
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == FIRST_USAGE.reasoning_output_tokens
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert attrs["lash.duration_ms"] == 500
    second_attrs = second.attributes or {}
    assert second_attrs["gen_ai.usage.input_tokens"] == SECOND_USAGE.input_tokens
    assert second_attrs["gen_ai.usage.output_tokens"] == SECOND_USAGE.output_tokens
    assert second_attrs["gen_ai.response.finish_reasons"] == ("stop",)

    tool_attrs = tool_span.attributes or {}
    assert tool_attrs["gen_ai.operation.name"] == "execute_tool"
    assert tool_attrs["gen_ai.tool.name"] == "weather"
    assert tool_attrs["gen_ai.tool.call.id"] == "call_w1"
    assert tool_attrs["lash.tool.outcome"] == "success"
    assert tool_attrs["lash.duration_ms"] == 250

    # no message contents: not the user's text, the tool's arguments or result, nor the answer
    for span in spans:
        for text in every_string(span):
            for secret in ("hunter2", "Reykjavik", "sunny", "passphrase"):
                assert secret not in text, (span.name, text)


@pytest.mark.anyio
async def test_provider_failure_makes_an_error_turn_span(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A turn stopped by a provider error ends its span with ERROR status and the done reason."""
    provider = ScriptedProvider([reply_error(ProviderFailureKind.RATE_LIMIT, "slow down")])
    async with scripted_runtime(
        provider, plugins=[otel_trace_plugin(tracer_provider)], config=otel_config()
    ) as runtime:
        session = await runtime.session("s2")
        await session.turn("hello", turn_id="t1").run()
    (turn,) = exporter.get_finished_spans()
    assert turn.name == "lash.turn"
    assert turn.status.status_code is StatusCode.ERROR
    assert turn.status.description == "provider_error"
    assert turn.attributes is not None
    assert turn.attributes["lash.turn.status"] == "failed"
    assert turn.attributes["error.type"] == "provider_error"


@pytest.mark.anyio
async def test_consecutive_turns_make_separate_traces(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Each turn is its own root span with its own model-call child."""
    provider = ScriptedProvider(["one", "two"])
    async with scripted_runtime(
        provider, plugins=[otel_trace_plugin(tracer_provider)], config=otel_config()
    ) as runtime:
        session = await runtime.session("s3")
        await session.turn("first").run()
        await session.turn("second").run()
    spans = exporter.get_finished_spans()
    turns = [span for span in spans if span.name == "lash.turn"]
    assert len(turns) == 2
    assert len({span.context.trace_id for span in turns if span.context}) == 2
    for span in spans:
        if span.name != "lash.turn":
            owners = [
                t for t in turns if t.context and span.parent and t.context.span_id == span.parent.span_id
            ]
            assert len(owners) == 1


@pytest.mark.anyio
async def test_exporter_none_through_the_runtime_exports_nothing(
    capsys: pytest.CaptureFixture[str], fake_clock: FakeClock
) -> None:
    """The entry-point plugin with default settings runs a turn and sends nothing anywhere."""
    provider, weather = weather_turn(fake_clock)
    async with scripted_runtime(
        provider,
        tools=[weather],
        plugins=[otel_entry_point],
        config=otel_config(exporter="none"),
        clock=fake_clock,
    ) as runtime:
        session = await runtime.session("s4")
        result = await session.turn(USER_TEXT).run()
    assert result.assistant_output.raw_text == ANSWER
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.anyio
async def test_exporter_console_through_the_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    """Configured by settings alone, the sink prints the turn's spans."""
    provider = ScriptedProvider(["hi"])
    async with scripted_runtime(
        provider, plugins=[otel_entry_point], config=otel_config(exporter="console")
    ) as runtime:
        session = await runtime.session("s5")
        await session.turn("hello").run()
    assert force_flush_all() is True
    out = capsys.readouterr().out
    assert '"name": "lash.turn"' in out
    assert '"gen_ai.operation.name": "chat"' in out


@pytest.mark.anyio
async def test_bad_settings_fail_the_runtime_at_open() -> None:
    """An unknown exporter is a configuration error when the runtime opens."""
    runtime = scripted_runtime(
        ScriptedProvider(), plugins=[otel_entry_point], config=otel_config(exporter="zipkin")
    )
    with pytest.raises(ConfigError, match="unknown exporter 'zipkin'"):
        async with runtime:
            pass


@pytest.mark.anyio
async def test_the_sink_is_found_through_its_entry_point() -> None:
    """Installed, the distribution registers trace sink ``otel`` through entry point ``otel``."""
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="lash") if ep.name == "otel"]
    assert entry.value == "lash_trace_otel.plugin"
    async with Runtime({"trace_sinks": [{"type": "otel"}]}) as runtime:
        report = {item["name"]: item for item in runtime.plugins_report()}
    assert report["otel"]["registered"] == {"trace_sinks": ["otel"]}
    assert report["otel"]["distribution"] == "lash-trace-otel"


@pytest.mark.anyio
async def test_a_bound_plugin_under_its_own_name_works_beside_the_entry_point(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """With entry points loaded, ``otel_trace_plugin(provider, name=...)`` adds a second sink type
    bound to the host's provider (the README's recipe)."""
    config = {
        "model": {"id": "scripted-model"},
        "providers": {"default": {"type": "scripted"}},
        "trace_sinks": [{"type": "otel-host"}],
    }
    plugins = [
        provider_plugin(ScriptedProvider(["hi"])),
        otel_trace_plugin(tracer_provider, name="otel-host"),
    ]
    async with Runtime(config, plugins=plugins) as runtime:
        session = await runtime.session("s6")
        await session.turn("hello").run()
    assert [span.name for span in exporter.get_finished_spans()] == ["chat scripted", "lash.turn"]
