"""Every hook takes effect in a real turn (or a real runtime composition) with the scripted provider."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import click
import pytest
from attrs import evolve
from click.testing import CliRunner
from lash_protocol_standard import plugin as standard_plugin

from lash_core import Runtime, hookimpl, tool
from lash_core.builtin import inline_effects, memory_store
from lash_core.effects import Effect, EffectKind, InlineEffectHost
from lash_core.errors import HookError
from lash_core.hooks import (
    AbortTurn,
    EnqueueMessages,
    PromptContext,
    ReplaceToolArgs,
    ReplaceToolResult,
    ShortCircuitTool,
)
from lash_core.model import (
    AssembledTurn,
    AssistantMessage,
    FailureOutcome,
    Finished,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    PluginAbort,
    PluginOrigin,
    PromptContribution,
    Role,
    RuntimeErrorStop,
    SessionPolicy,
    Stopped,
    SuccessOutcome,
    ToolCallOutput,
)
from lash_core.store.memory import MemoryStore
from lash_core.testing import (
    FunctionProvider,
    ScriptedProvider,
    call,
    provider_plugin,
    reply_text,
    reply_tool_calls,
    scripted_runtime,
)
from lash_core.tools.contract import ToolInvocation
from lash_core.turn.driver import TurnDriver

pytestmark = pytest.mark.anyio

TOOL_CALLS: list[dict[str, int]] = []


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    TOOL_CALLS.append({"a": a, "b": b})
    return a + b


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@pytest.fixture(autouse=True)
def _reset_tool_calls() -> None:
    TOOL_CALLS.clear()


def texts(messages: tuple[Message, ...] | list[Message]) -> list[str]:
    """The text of each message."""
    return [message.text for message in messages]


def tool_results(request: LlmRequest) -> list[str]:
    """The model-visible tool-result texts of a request."""
    return [part.content for m in request.messages for part in m.parts if part.kind is PartKind.TOOL_RESULT]


def system_message(text: str) -> Message:
    """A system message holding ``text`` (ids are stamped by the kernel)."""
    return Message("", Role.SYSTEM, (Part("", PartKind.TEXT, text),))


@pytest.fixture
def shared_store_plugin(store_plugin: Callable[..., object]) -> Callable[[MemoryStore], object]:
    """``shared_store_plugin(store)``: a plugin registering one store instance as store type ``shared``."""
    return functools.partial(store_plugin, name="shared", plugin_name="shared-store")


SHARED = {"store": {"type": "shared"}}


def compose(provider: Any, *plugins: object, config: dict[str, Any] | None = None) -> Runtime:
    """A runtime with exactly the kernel defaults, the standard protocol, ``provider`` and ``plugins``
    (no tool-output budget plugin, so the projector slot is free)."""
    named: dict[str, object] = {
        "memory_store": memory_store,
        "inline_effects": inline_effects,
        "standard": standard_plugin,
        "scripted-provider": provider_plugin(provider),
    }
    for plugin in plugins:
        named[plugin.lash_plugin_name] = plugin  # type: ignore[attr-defined]
    base: dict[str, Any] = {
        "model": {"id": "scripted-model"},
        "providers": {"default": {"type": "scripted"}},
        **(config or {}),
    }
    return Runtime(base, plugins=named, load_entry_points=False)


def report_of(rt: Runtime, name: str) -> dict[str, Any]:
    """The ``plugins_report()`` entry of plugin ``name``."""
    entries = [entry for entry in rt.plugins_report() if entry["name"] == name]
    assert len(entries) == 1, f"plugin {name!r} is not in the report"
    return entries[0]


# --------------------------------------------------------------------------- registration hooks


@attrs.frozen
class EchoSettings:
    prefix: str = ""


class EchoProviderPlugin:
    lash_plugin_name = "echo-provider"

    @hookimpl
    def register_providers(self, register: Any) -> None:
        def factory(settings: EchoSettings) -> FunctionProvider:
            return FunctionProvider(lambda request: settings.prefix + request.messages[-1].text)

        register("echo", factory, settings=EchoSettings, description="echoes the last message")


async def test_hook_register_providers() -> None:
    """A registered provider is built with its typed settings and answers the turn."""
    config = {"providers": {"default": {"type": "echo", "settings": {"prefix": "echo: "}}}}
    async with scripted_runtime(ScriptedProvider(), plugins=[EchoProviderPlugin()], config=config) as rt:
        assert report_of(rt, "echo-provider")["registered"] == {"providers": ["echo"]}
        assert rt.registry.components["providers"]["echo"].description == "echoes the last message"
        session = await rt.session("s1")
        result = await session.turn("hello").run()
    assert result.outcome == Finished(AssistantMessage("echo: hello"))


async def test_hook_register_stores(shared_store_plugin: Callable[[MemoryStore], object]) -> None:
    """A registered store, chosen in the configuration, receives the session's commits."""
    store = MemoryStore()
    async with scripted_runtime(
        ScriptedProvider([reply_text("ok")]), plugins=[shared_store_plugin(store)], config=SHARED
    ) as rt:
        assert report_of(rt, "shared-store")["registered"] == {"stores": ["shared"]}
        assert rt.store is store
        session = await rt.session("s1")
        await session.turn("hello").run()
    record = await store.load_session("s1")
    assert record is not None
    assert record.head.head_revision == 1
    assert texts([node.message for node in record.nodes]) == ["hello", "ok"]


class ShoutToolPlugin:
    lash_plugin_name = "shout-tools"

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(shout)


async def test_hook_register_tools() -> None:
    """A tool registered by a plugin is offered to the model and runs when called."""
    provider = ScriptedProvider([reply_tool_calls(call("shout", {"text": "hi"})), reply_text("done")])
    async with scripted_runtime(provider, plugins=[ShoutToolPlugin()]) as rt:
        assert report_of(rt, "shout-tools")["registered"] == {"tools": ["shout"]}
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert [spec.name for spec in provider.requests[0].tools] == ["shout"]
    assert result.tool_calls[0].output == ToolCallOutput(SuccessOutcome("HI"))
    assert tool_results(provider.requests[1]) == ["HI"]


class BracketProjector:
    def project(self, call: ToolInvocation, output: ToolCallOutput) -> str:
        return f"[{call.name}:{output.outcome.value}]"  # type: ignore[union-attr]


class ProjectorPlugin:
    lash_plugin_name = "bracket-projector"

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register.result_projector(BracketProjector())


async def test_register_tools_result_projector_shapes_what_the_model_sees() -> None:
    """A registered result projector decides the tool-result text; the stored output stays full."""
    provider = ScriptedProvider([reply_tool_calls(call("shout", {"text": "hi"})), reply_text("done")])
    async with compose(provider, ShoutToolPlugin(), ProjectorPlugin()) as rt:
        assert report_of(rt, "bracket-projector")["registered"] == {"result_projector": ["BracketProjector"]}
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert tool_results(provider.requests[1]) == ["[shout:HI]"]
    assert result.tool_calls[0].output == ToolCallOutput(SuccessOutcome("HI"))


class OneShotProtocol:
    async def run(self, driver: TurnDriver) -> Finished:
        response = await driver.call_model(use_tools=False)
        driver.append_response(response)
        return Finished(AssistantMessage(f"one-shot: {response.text}"))


class ProtocolPlugin:
    lash_plugin_name = "one-shot-protocol"

    @hookimpl
    def register_protocols(self, register: Any) -> None:
        register("one-shot", lambda settings=None: OneShotProtocol())


async def test_hook_register_protocols() -> None:
    """A registered protocol, chosen in the configuration, drives the turn."""
    provider = ScriptedProvider([reply_text("hi")])
    config = {"protocol": {"type": "one-shot"}}
    async with scripted_runtime(provider, tools=[add], plugins=[ProtocolPlugin()], config=config) as rt:
        assert report_of(rt, "one-shot-protocol")["registered"] == {"protocols": ["one-shot"]}
        assert isinstance(rt.protocol, OneShotProtocol)
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert result.outcome == Finished(AssistantMessage("one-shot: hi"))
    assert provider.requests[0].tools == ()


class CountingEffectHost(InlineEffectHost):
    def __init__(self) -> None:
        self.scopes: list[tuple[str, str]] = []
        self.effects: list[EffectKind] = []

    def scoped(self, session_id: str, turn_id: str) -> Any:
        self.scopes.append((session_id, turn_id))
        host = self

        class Controller:
            durability = host.durability
            supports_concurrent_effects = True

            async def execute(self, effect: Effect, run: Callable[[], Awaitable[Any]]) -> Any:
                host.effects.append(effect.kind)
                return await run()

        return Controller()


async def test_hook_register_effect_hosts() -> None:
    """A registered effect host, chosen in the configuration, executes the turn's effects."""
    host = CountingEffectHost()

    class EffectHostPlugin:
        lash_plugin_name = "counting-effects"

        @hookimpl
        def register_effect_hosts(self, register: Any) -> None:
            register("counting", lambda settings=None: host)

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("3")])
    config = {"effect_host": {"type": "counting"}}
    async with scripted_runtime(provider, tools=[add], plugins=[EffectHostPlugin()], config=config) as rt:
        assert report_of(rt, "counting-effects")["registered"] == {"effect_hosts": ["counting"]}
        session = await rt.session("s1")
        await session.turn("go", turn_id="t1").run()
    assert host.scopes == [("s1", "t1")]
    work = [kind for kind in host.effects if kind is not EffectKind.CHECKPOINT]
    assert work == [EffectKind.LLM_CALL, EffectKind.TOOL_ATTEMPT, EffectKind.LLM_CALL]


class ListSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.flushes = 0

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)

    def flush(self) -> None:
        self.flushes += 1


async def test_hook_register_trace_sinks() -> None:
    """A registered trace sink listed in ``trace_sinks`` receives the turn's records and is flushed."""
    sink = ListSink()

    class SinkPlugin:
        lash_plugin_name = "list-sink"

        @hookimpl
        def register_trace_sinks(self, register: Any) -> None:
            register("list", lambda settings=None: sink)

    config = {"trace_sinks": [{"type": "list"}]}
    async with scripted_runtime(
        ScriptedProvider([reply_text("ok")]), plugins=[SinkPlugin()], config=config
    ) as rt:
        assert report_of(rt, "list-sink")["registered"] == {"trace_sinks": ["list"]}
        session = await rt.session("s1")
        await session.turn("go", turn_id="t1").run()
    types = [record["type"] for record in sink.records]
    assert types[0] == "turn_started"
    assert "llm_call" in types
    assert types[-1] == "turn_completed"
    assert {record["turn_id"] for record in sink.records} == {"t1"}
    assert sink.flushes == 1


@click.command(name="hello")
@click.argument("who")
def hello_command(who: str) -> None:
    """Say hello."""
    click.echo(f"hello {who}")


class CommandPlugin:
    lash_plugin_name = "hello-commands"

    @hookimpl
    def register_commands(self, register: Any) -> None:
        register(hello_command)


async def test_hook_register_commands() -> None:
    """A registered command lands in ``registry.commands`` under its name and runs."""
    async with scripted_runtime(ScriptedProvider(), plugins=[CommandPlugin()]) as rt:
        assert rt.registry.commands["hello"] == ("hello-commands", hello_command)
        assert report_of(rt, "hello-commands")["registered"] == {"commands": ["hello"]}
        _, command = rt.registry.commands["hello"]
    outcome = CliRunner().invoke(command, ["world"])
    assert outcome.exit_code == 0
    assert outcome.output == "hello world\n"


# --------------------------------------------------------------------------- transform_context


class Suffix:
    def __init__(self, name: str, suffix: str) -> None:
        self.lash_plugin_name = name
        self.suffix = suffix
        self.seen: list[list[str]] = []

    @hookimpl
    async def transform_context(self, ctx: Any, context: PromptContext) -> PromptContext:
        self.seen.append(texts(context.messages))
        last = context.messages[-1]
        part = evolve(last.parts[0], content=last.parts[0].content + self.suffix)
        return evolve(context, messages=(*context.messages[:-1], evolve(last, parts=(part,))))


async def test_hook_transform_context() -> None:
    """Two pipelined transforms chain (last registered first); the model sees the result, history does not."""
    first, second = Suffix("suffix-a", "-a"), Suffix("suffix-b", "-b")
    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[first, second]) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    assert second.seen == [["hi"]]
    assert first.seen == [["hi-b"]]
    assert texts(provider.requests[0].messages) == ["hi-b-a"]
    assert texts(session.history) == ["hi", "ok"]


async def test_transform_context_none_keeps_context_and_contributions_reach_prompt() -> None:
    """A transform returning None passes the context on; contributions it adds reach the system prompt."""

    class AddContribution:
        lash_plugin_name = "add-contribution"

        @hookimpl
        def transform_context(self, context: PromptContext) -> PromptContext:
            return evolve(context, contributions=(PromptContribution("notes", "Remember the notes."),))

    class Passive:
        lash_plugin_name = "passive"

        @hookimpl
        def transform_context(self, context: PromptContext) -> None:
            return None

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[AddContribution(), Passive()]) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    assert texts(provider.requests[0].messages) == ["hi"]
    assert "Remember the notes." in provider.requests[0].system_prompt


async def test_transform_context_error_raises_hook_error_and_commits_nothing() -> None:
    """A failing transform raises HookError naming plugin and hook; nothing is committed."""

    class Broken:
        lash_plugin_name = "broken-transform"

        @hookimpl
        def transform_context(self, context: PromptContext) -> None:
            raise ValueError("no context for you")

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
        assert (raised.value.plugin, raised.value.hook) == ("broken-transform", "transform_context")
        assert session.head_revision == 0
        assert await rt.store.load_session("s1") is None
    assert provider.calls == 0


# --------------------------------------------------------------------------- prepare_turn


async def test_hook_prepare_turn() -> None:
    """An AbortTurn from prepare_turn stops the turn Stopped(PluginAbort) and commits the user message."""

    class Gate:
        lash_plugin_name = "gate"

        @hookimpl
        async def prepare_turn(self, ctx: Any) -> AbortTurn:
            return AbortTurn("closed", f"session {ctx.session_id} is closed")

    provider = ScriptedProvider([reply_text("never")])
    async with scripted_runtime(provider, plugins=[Gate()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert result.outcome == Stopped(PluginAbort("gate", "closed", "session s1 is closed"))
    assert provider.calls == 0
    assert result.head_revision == 1
    assert texts(session.history) == ["hi"]
    assert any(issue.code == "closed" and "gate" in issue.message for issue in result.errors)


async def test_prepare_turn_last_abort_wins() -> None:
    """With two aborting plugins, the abort returned last (by the plugin called last) ends the turn."""

    class Early:
        lash_plugin_name = "early"

        @hookimpl
        def prepare_turn(self) -> AbortTurn:
            return AbortTurn("early", "early abort")

    class Late:
        lash_plugin_name = "late"

        @hookimpl(trylast=True)
        def prepare_turn(self) -> AbortTurn:
            return AbortTurn("late", "late abort")

    async with scripted_runtime(ScriptedProvider(), plugins=[Late(), Early()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert result.outcome == Stopped(PluginAbort("late", "late", "late abort"))


async def test_prepare_turn_enqueue_messages_reach_the_model() -> None:
    """EnqueueMessages from prepare_turn reaches the model after the user message and is committed."""

    class Briefing:
        lash_plugin_name = "briefing"

        @hookimpl
        def prepare_turn(self) -> list[Any]:
            return [
                EnqueueMessages((system_message("Today is Tuesday."),)),
                EnqueueMessages.text("scratch note", transient=True),
            ]

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[Briefing()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    sent = provider.requests[0].messages
    assert texts(sent) == ["hi", "Today is Tuesday.", "scratch note"]
    assert sent[1].role is Role.SYSTEM
    assert sent[1].origin == PluginOrigin("briefing")
    assert sent[2].origin == PluginOrigin("briefing", transient=True)
    assert result.outcome == Finished(AssistantMessage("ok"))
    assert texts(session.history) == ["hi", "Today is Tuesday.", "ok"]


async def test_prepare_turn_tool_directive_refused() -> None:
    """A tool directive from prepare_turn raises HookError naming the plugin; nothing is committed."""

    class Confused:
        lash_plugin_name = "confused"

        @hookimpl
        def prepare_turn(self) -> ReplaceToolArgs:
            return ReplaceToolArgs({"a": 1})

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[Confused()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
        assert (raised.value.plugin, raised.value.hook) == ("confused", "prepare_turn")
        assert session.head_revision == 0
    assert provider.calls == 0


# --------------------------------------------------------------------------- prompt_contributions


async def test_hook_prompt_contributions() -> None:
    """Contributions land in the system prompt in slot/priority order; a tool-gated one needs its tool."""

    class Contributor:
        lash_plugin_name = "contributor"

        @hookimpl
        async def prompt_contributions(self, ctx: Any) -> list[PromptContribution]:
            return [
                PromptContribution("guide", "Second line.", priority=2),
                PromptContribution("guide", "First line.", priority=1),
                PromptContribution("tools", "Use add for sums.", tools=("add",)),
                PromptContribution("tools", "Use search for facts.", tools=("search",)),
            ]

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(
        provider, tools=[add], plugins=[Contributor()], config={"system_prompt": "You are terse."}
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    prompt = provider.requests[0].system_prompt
    assert prompt == "You are terse.\n\nFirst line.\n\nSecond line.\n\nUse add for sums."
    assert "search" not in prompt


# --------------------------------------------------------------------------- filter_tool_catalog


async def test_hook_filter_tool_catalog() -> None:
    """A filtered-out tool is not offered, and a call to it gets an unknown-tool error result."""

    class HideAdd:
        lash_plugin_name = "hide-add"

        @hookimpl
        def filter_tool_catalog(self, tools: Any) -> list[str]:
            assert {spec.name for spec in tools} == {"add", "shout"}
            return ["add"]

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("sorry")])
    async with scripted_runtime(provider, tools=[add, shout], plugins=[HideAdd()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert [spec.name for spec in provider.requests[0].tools] == ["shout"]
    assert TOOL_CALLS == []
    outcome = result.tool_calls[0].output.outcome
    assert isinstance(outcome, FailureOutcome)
    assert outcome.failure.code == "unknown_tool"
    assert "'add'" in outcome.failure.message
    assert result.outcome == Finished(AssistantMessage("sorry"))


# --------------------------------------------------------------------------- before_tool_call


async def test_hook_before_tool_call() -> None:
    """ReplaceToolArgs makes the tool run with the replaced arguments."""

    class Doubler:
        lash_plugin_name = "doubler"

        @hookimpl
        async def before_tool_call(self, ctx: Any) -> ReplaceToolArgs | None:
            if ctx.tool_name != "add":
                return None
            return ReplaceToolArgs({"a": ctx.args["a"] * 2, "b": ctx.args["b"] * 2})

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("6")])
    async with scripted_runtime(provider, tools=[add], plugins=[Doubler()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert TOOL_CALLS == [{"a": 2, "b": 4}]
    assert result.tool_calls[0].args == {"a": 2, "b": 4}
    assert tool_results(provider.requests[1]) == ["6"]


async def test_before_tool_call_short_circuit_skips_the_tool() -> None:
    """ShortCircuitTool skips the tool and its output becomes the call's result."""

    class Cache:
        lash_plugin_name = "cache"

        @hookimpl
        def before_tool_call(self, ctx: Any) -> ShortCircuitTool:
            return ShortCircuitTool(ToolCallOutput(SuccessOutcome(42)))

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("42")])
    async with scripted_runtime(provider, tools=[add], plugins=[Cache()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert TOOL_CALLS == []
    assert result.tool_calls[0].output == ToolCallOutput(SuccessOutcome(42))
    assert tool_results(provider.requests[1]) == ["42"]


async def test_before_tool_call_error_gives_error_result_and_turn_goes_on() -> None:
    """A failing before_tool_call gives the call an error result naming the plugin; the turn finishes."""

    class Broken:
        lash_plugin_name = "broken-before"

        @hookimpl
        def before_tool_call(self, ctx: Any) -> None:
            raise RuntimeError("boom")

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("hm")])
    async with scripted_runtime(provider, tools=[add], plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert TOOL_CALLS == []
    outcome = result.tool_calls[0].output.outcome
    assert isinstance(outcome, FailureOutcome)
    assert outcome.failure.code == "plugin_error"
    assert "broken-before" in outcome.failure.message and "boom" in outcome.failure.message
    assert result.outcome == Finished(AssistantMessage("hm"))


# --------------------------------------------------------------------------- after_tool_call


async def test_hook_after_tool_call() -> None:
    """ReplaceToolResult replaces the result the model sees and the turn records."""

    class Redactor:
        lash_plugin_name = "redactor"

        @hookimpl
        async def after_tool_call(self, ctx: Any) -> ReplaceToolResult:
            assert ctx.output == ToolCallOutput(SuccessOutcome(3))
            return ReplaceToolResult(ToolCallOutput(SuccessOutcome("[redacted]")))

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("ok")])
    async with scripted_runtime(provider, tools=[add], plugins=[Redactor()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert TOOL_CALLS == [{"a": 1, "b": 2}]
    assert tool_results(provider.requests[1]) == ["[redacted]"]
    assert result.tool_calls[0].output == ToolCallOutput(SuccessOutcome("[redacted]"))


async def test_after_tool_call_enqueue_delivered_at_next_checkpoint() -> None:
    """EnqueueMessages from after_tool_call reaches the model's next call, after the tool results."""

    class Reminder:
        lash_plugin_name = "reminder"

        @hookimpl
        def after_tool_call(self, ctx: Any) -> EnqueueMessages:
            return EnqueueMessages.text(f"{ctx.tool_name} ran", role=Role.SYSTEM)

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("ok")])
    async with scripted_runtime(provider, tools=[add], plugins=[Reminder()]) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    assert "add ran" not in texts(provider.requests[0].messages)
    second = provider.requests[1].messages
    assert [part.kind for part in second[-2].parts] == [PartKind.TOOL_RESULT]
    assert second[-1].text == "add ran"
    assert second[-1].origin == PluginOrigin("reminder")
    assert "add ran" in texts(session.history)


# --------------------------------------------------------------------------- checkpoint


async def test_hook_checkpoint() -> None:
    """EnqueueMessages at a checkpoint makes the model be called again with the message in view."""

    class Nudge:
        lash_plugin_name = "nudge"

        def __init__(self) -> None:
            self.kinds: list[str] = []

        @hookimpl
        def checkpoint(self, ctx: Any) -> EnqueueMessages | None:
            self.kinds.append(ctx.kind)
            if len(self.kinds) == 1:
                return EnqueueMessages.text("Double-check that.")
            return None

    nudge = Nudge()
    provider = ScriptedProvider([reply_text("draft"), reply_text("final")])
    async with scripted_runtime(provider, plugins=[nudge]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert nudge.kinds == ["before_completion", "before_completion"]
    assert provider.calls == 2
    assert texts(provider.requests[1].messages) == ["hi", "draft", "Double-check that."]
    assert result.outcome == Finished(AssistantMessage("final"))
    assert texts(session.history) == ["hi", "draft", "Double-check that.", "final"]


async def test_checkpoint_abort_stops_the_turn() -> None:
    """AbortTurn at a checkpoint ends the turn Stopped(PluginAbort); the turn still commits."""

    class Budget:
        lash_plugin_name = "budget"

        @hookimpl
        def checkpoint(self, ctx: Any) -> AbortTurn | None:
            return AbortTurn("budget", "out of budget") if ctx.kind == "after_work" else None

    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("never")])
    async with scripted_runtime(provider, tools=[add], plugins=[Budget()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert result.outcome == Stopped(PluginAbort("budget", "budget", "out of budget"))
    assert provider.calls == 1
    assert result.head_revision == 1
    assert session.head_revision == 1


async def test_checkpoint_error_stops_runtime_error_and_commits() -> None:
    """A failing checkpoint hook stops the turn Stopped(RuntimeError) with an issue naming the plugin."""

    class Broken:
        lash_plugin_name = "broken-checkpoint"

        @hookimpl
        def checkpoint(self, ctx: Any) -> None:
            raise RuntimeError("boom")

    provider = ScriptedProvider([reply_text("answer")])
    async with scripted_runtime(provider, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert result.outcome == Stopped(RuntimeErrorStop())
    assert any(
        "broken-checkpoint" in issue.message and "checkpoint" in issue.message for issue in result.errors
    )
    assert session.head_revision == 1


# --------------------------------------------------------------------------- finalize_turn


async def test_hook_finalize_turn() -> None:
    """finalize_turn sees the outcome; its EnqueueMessages are committed with the turn."""
    seen: list[Any] = []

    class Summarizer:
        lash_plugin_name = "summarizer"

        @hookimpl
        async def finalize_turn(self, ctx: Any, turn: Any) -> EnqueueMessages:
            seen.append(turn)
            return EnqueueMessages((system_message(f"summary: {turn.assistant_output.raw_text}"),))

    provider = ScriptedProvider([reply_text("the answer")])
    async with scripted_runtime(provider, plugins=[Summarizer()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert seen[0].outcome == Finished(AssistantMessage("the answer"))
    assert texts(result.messages) == ["hi", "the answer", "summary: the answer"]
    assert result.messages[-1].origin == PluginOrigin("summarizer")
    assert texts(session.history) == ["hi", "the answer", "summary: the answer"]
    record = await rt.store.load_session("s1")
    assert record is not None
    assert texts([node.message for node in record.nodes])[-1] == "summary: the answer"


async def test_finalize_turn_error_raises_hook_error_and_commits_nothing() -> None:
    """A failing finalize_turn raises HookError naming plugin and hook; the head does not move."""

    class Broken:
        lash_plugin_name = "broken-finalize"

        @hookimpl
        def finalize_turn(self, turn: Any) -> None:
            raise RuntimeError("cannot finalize")

    provider = ScriptedProvider([reply_text("one"), reply_text("two")])
    async with scripted_runtime(provider, plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
        assert (raised.value.plugin, raised.value.hook) == ("broken-finalize", "finalize_turn")
        assert "cannot finalize" in str(raised.value)
        assert session.head_revision == 0
        assert session.history == ()
        assert await rt.store.load_session("s1") is None


async def test_finalize_turn_abort_refused() -> None:
    """AbortTurn from finalize_turn is refused with a HookError; nothing is committed."""

    class Aborter:
        lash_plugin_name = "late-aborter"

        @hookimpl
        def finalize_turn(self) -> AbortTurn:
            return AbortTurn("late", "too late")

    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Aborter()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
        assert raised.value.plugin == "late-aborter"
        assert session.head_revision == 0


# --------------------------------------------------------------------------- turn_persisted


async def test_hook_turn_persisted() -> None:
    """turn_persisted observers get the returned AssembledTurn after the commit."""
    seen: list[tuple[Any, AssembledTurn]] = []

    class Observer:
        lash_plugin_name = "observer"

        @hookimpl
        async def turn_persisted(self, ctx: Any, turn: AssembledTurn) -> None:
            seen.append((ctx, turn))

    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Observer()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    assert len(seen) == 1
    ctx, turn = seen[0]
    assert turn is result
    assert turn.head_revision == 1
    assert ctx.session_id == "s1"
    assert texts(ctx.history) == ["hi", "ok"]


async def test_turn_persisted_error_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A failing turn_persisted observer is logged with its name; other observers and the result are untouched."""
    seen: list[AssembledTurn] = []

    class Broken:
        lash_plugin_name = "broken-observer"

        @hookimpl
        def turn_persisted(self) -> None:
            raise RuntimeError("observer exploded")

    class Fine:
        lash_plugin_name = "fine-observer"

        @hookimpl(trylast=True)
        def turn_persisted(self, turn: AssembledTurn) -> None:
            seen.append(turn)

    with caplog.at_level(logging.ERROR, logger="lash.plugins"):
        async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Fine(), Broken()]) as rt:
            session = await rt.session("s1")
            result = await session.turn("hi").run()
    assert result.outcome == Finished(AssistantMessage("ok"))
    assert result.head_revision == 1 and session.head_revision == 1
    assert seen == [result]
    assert any(
        "broken-observer" in r.getMessage() and "turn_persisted" in r.getMessage() for r in caplog.records
    )


# --------------------------------------------------------------------------- session lifecycle


class RestoreObserver:
    lash_plugin_name = "restore-observer"

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    @hookimpl
    async def session_restored(self, ctx: Any) -> None:
        self.events.append(("restored", ctx.session_id, texts(ctx.history)))

    @hookimpl
    def restore_state(self, session_id: str, state: Any) -> None:
        self.events.append(("restore_state", session_id, state))


async def test_hook_session_restored(shared_store_plugin: Callable[[MemoryStore], object]) -> None:
    """session_restored runs, after restore_state, when a new runtime reopens a stored session."""
    store = MemoryStore()
    first: list[Any] = []
    async with scripted_runtime(
        ScriptedProvider([reply_text("ok")]),
        plugins=[shared_store_plugin(store), RestoreObserver(first)],
        config=SHARED,
    ) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    assert first == [("restore_state", "s1", None)]

    second: list[Any] = []
    async with scripted_runtime(
        ScriptedProvider(), plugins=[shared_store_plugin(store), RestoreObserver(second)], config=SHARED
    ) as rt:
        reopened = await rt.session("s1")
        assert reopened.head_revision == 1
        await rt.session("s1")
    assert second == [("restore_state", "s1", None), ("restored", "s1", ["hi", "ok"])]


async def test_session_restored_error_is_isolated(
    caplog: pytest.LogCaptureFixture, shared_store_plugin: Callable[[MemoryStore], object]
) -> None:
    """A failing session_restored observer is logged with its name and the session still opens."""
    store = MemoryStore()
    async with scripted_runtime(
        ScriptedProvider([reply_text("ok")]), plugins=[shared_store_plugin(store)], config=SHARED
    ) as rt:
        await (await rt.session("s1")).turn("hi").run()

    class Broken:
        lash_plugin_name = "broken-restored"

        @hookimpl
        def session_restored(self) -> None:
            raise RuntimeError("cannot restore")

    with caplog.at_level(logging.ERROR, logger="lash.plugins"):
        async with scripted_runtime(
            ScriptedProvider(), plugins=[shared_store_plugin(store), Broken()], config=SHARED
        ) as rt:
            session = await rt.session("s1")
    assert session.head_revision == 1
    assert any("broken-restored" in r.getMessage() for r in caplog.records)


async def test_hook_session_config_changed() -> None:
    """session.configure with a different policy tells observers the previous and current policy."""
    changes: list[tuple[SessionPolicy, SessionPolicy]] = []

    class Watcher:
        lash_plugin_name = "watcher"

        @hookimpl
        async def session_config_changed(
            self, ctx: Any, previous: SessionPolicy, current: SessionPolicy
        ) -> None:
            assert ctx.session_id == "s1"
            changes.append((previous, current))

    async with scripted_runtime(ScriptedProvider(), plugins=[Watcher()]) as rt:
        session = await rt.session("s1")
        before = session.policy
        after = evolve(before, model=ModelSpec("bigger-model"), max_turns=3)
        await session.configure(before)
        assert changes == []
        await session.configure(after)
    assert changes == [(before, after)]
    assert session.policy == after


class TurnCounter:
    """Counts committed turns per session in ``snapshot_state``."""

    lash_plugin_name = "turn-counter"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.restored: list[tuple[str, Any]] = []

    @hookimpl
    def snapshot_state(self, session_id: str) -> dict[str, int]:
        self.counts[session_id] = self.counts.get(session_id, 0) + 1
        return {"turns": self.counts[session_id]}

    @hookimpl
    def restore_state(self, session_id: str, state: Any) -> None:
        self.restored.append((session_id, state))
        self.counts[session_id] = state["turns"] if state else 0


async def test_hook_snapshot_state(shared_store_plugin: Callable[[MemoryStore], object]) -> None:
    """snapshot_state's value is committed with the turn under the plugin's name."""
    store = MemoryStore()
    counter = TurnCounter()
    provider = ScriptedProvider([reply_text("one"), reply_text("two")])
    async with scripted_runtime(provider, plugins=[shared_store_plugin(store), counter], config=SHARED) as rt:
        session = await rt.session("s1")
        await session.turn("a").run()
        head = await store.load_head("s1")
        assert head is not None and head.plugin_state == {"turn-counter": {"turns": 1}}
        await session.turn("b").run()
    head = await store.load_head("s1")
    assert head is not None and head.plugin_state == {"turn-counter": {"turns": 2}}
    assert session.plugin_state == {"turn-counter": {"turns": 2}}


async def test_hook_restore_state(shared_store_plugin: Callable[[MemoryStore], object]) -> None:
    """restore_state hands a plugin its committed state when a new runtime reopens the session."""
    store = MemoryStore()
    async with scripted_runtime(
        ScriptedProvider([reply_text("one")]),
        plugins=[shared_store_plugin(store), TurnCounter()],
        config=SHARED,
    ) as rt:
        await (await rt.session("s1")).turn("a").run()

    counter = TurnCounter()
    async with scripted_runtime(
        ScriptedProvider(), plugins=[shared_store_plugin(store), counter], config=SHARED
    ) as rt:
        await rt.session("s1")
    assert counter.restored == [("s1", {"turns": 1})]


async def test_snapshot_state_error_raises_hook_error_and_commits_nothing() -> None:
    """A failing snapshot_state raises HookError naming the plugin; nothing is committed."""

    class Broken:
        lash_plugin_name = "broken-snapshot"

        @hookimpl
        def snapshot_state(self, session_id: str) -> Any:
            raise RuntimeError("no snapshot")

    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=[Broken()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError) as raised:
            await session.turn("hi").run()
        assert (raised.value.plugin, raised.value.hook) == ("broken-snapshot", "snapshot_state")
        assert session.head_revision == 0
        assert await rt.store.load_session("s1") is None


# --------------------------------------------------------------------------- calling mechanics


async def test_sync_and_async_implementations_both_take_effect() -> None:
    """A plain and an ``async def`` implementation of the same hook both take effect."""

    class SyncPlugin:
        lash_plugin_name = "sync-plugin"

        @hookimpl
        def prompt_contributions(self) -> PromptContribution:
            return PromptContribution("a", "from sync")

    class AsyncPlugin:
        lash_plugin_name = "async-plugin"

        @hookimpl
        async def prompt_contributions(self) -> PromptContribution:
            return PromptContribution("b", "from async")

    provider = ScriptedProvider([reply_text("ok")])
    async with scripted_runtime(provider, plugins=[SyncPlugin(), AsyncPlugin()]) as rt:
        session = await rt.session("s1")
        await session.turn("hi").run()
    assert provider.requests[0].system_prompt == "from sync\n\nfrom async"


class Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.lash_plugin_name = name
        self.calls = calls

    @hookimpl
    def prepare_turn(self) -> None:
        self.calls.append(self.lash_plugin_name)


class TryFirstRecorder(Recorder):
    @hookimpl(tryfirst=True)
    def prepare_turn(self) -> None:
        self.calls.append(self.lash_plugin_name)


class TryLastRecorder(Recorder):
    @hookimpl(trylast=True)
    def prepare_turn(self) -> None:
        self.calls.append(self.lash_plugin_name)


async def test_last_registered_plugin_is_called_first() -> None:
    """Implementations run in pluggy's order: the plugin registered last runs first."""
    calls: list[str] = []
    plugins = [Recorder("one", calls), Recorder("two", calls), Recorder("three", calls)]
    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=plugins) as rt:
        await (await rt.session("s1")).turn("hi").run()
    assert calls == ["three", "two", "one"]


async def test_tryfirst_and_trylast_are_honoured() -> None:
    """A ``tryfirst`` implementation runs before later-registered ones; ``trylast`` runs after earlier ones."""
    calls: list[str] = []
    plugins = [TryFirstRecorder("eager", calls), Recorder("plain", calls), TryLastRecorder("lazy", calls)]
    async with scripted_runtime(ScriptedProvider([reply_text("ok")]), plugins=plugins) as rt:
        await (await rt.session("s1")).turn("hi").run()
    assert calls == ["eager", "plain", "lazy"]


async def test_implementation_receives_only_declared_arguments() -> None:
    """An implementation declaring a subset of the spec's arguments is called with just those."""
    received: list[Any] = []

    class OnlyTools:
        lash_plugin_name = "only-tools"

        @hookimpl
        def filter_tool_catalog(self, tools: Any) -> None:
            received.append(tuple(spec.name for spec in tools))

    async with scripted_runtime(
        ScriptedProvider([reply_text("ok")]), tools=[add], plugins=[OnlyTools()]
    ) as rt:
        await (await rt.session("s1")).turn("hi").run()
    assert received == [("add",)]


class _TransientAtFinalize:
    lash_plugin_name = "transient-at-finalize"

    @hookimpl
    def finalize_turn(self, ctx: Any, turn: Any) -> Any:
        return EnqueueMessages.text("late", transient=True)


class _AssistantFromAfterTool:
    lash_plugin_name = "assistant-after-tool"

    @hookimpl
    def after_tool_call(self, ctx: Any) -> Any:
        return EnqueueMessages((Message("", Role.ASSISTANT, (Part("", PartKind.TEXT, "pretend"),)),))


@pytest.mark.anyio
async def test_transient_messages_at_finalize_turn_are_refused() -> None:
    """A transient message enqueued at finalize_turn is a HookError naming the plugin; nothing commits."""
    provider = ScriptedProvider([reply_text("done")])
    async with scripted_runtime(provider, plugins=[_TransientAtFinalize()]) as rt:
        session = await rt.session("s1")
        with pytest.raises(HookError, match="transient-at-finalize"):
            await session.turn("hi").run()
        assert session.head_revision == 0


@pytest.mark.anyio
async def test_assistant_message_from_after_tool_call_becomes_an_error_result() -> None:
    """An assistant-role message enqueued by after_tool_call gives the call an error result naming the plugin."""
    provider = ScriptedProvider([reply_tool_calls(call("add", {"a": 1, "b": 2})), reply_text("ok")])
    async with scripted_runtime(provider, tools=[add], plugins=[_AssistantFromAfterTool()]) as rt:
        session = await rt.session("s1")
        result = await session.turn("hi").run()
    output = result.tool_calls[0].output
    assert isinstance(output.outcome, FailureOutcome)
    assert "assistant-after-tool" in output.outcome.failure.message
