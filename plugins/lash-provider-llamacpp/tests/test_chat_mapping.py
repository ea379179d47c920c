"""Mapping an LlmRequest to chat messages and sampling options (no model needed)."""

from __future__ import annotations

import pytest
from lash_provider_llamacpp import LlamaCppProvider, LlamaCppSettings, render_part, to_chat_messages

from lash_core import Runtime
from lash_core.errors import ConfigError
from lash_core.model import (
    AttachmentRef,
    Cleared,
    Deleted,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    Role,
    Summarized,
    ToolSpec,
)

MODEL = ModelSpec("smollm2")


def text(message_id: str, role: Role, *contents: str, kind: PartKind = PartKind.TEXT) -> Message:
    """A message of text parts."""
    parts = tuple(Part(f"{message_id}.p{i}", kind, c) for i, c in enumerate(contents))
    return Message(message_id, role, parts)


def request(*messages: Message, system: str = "", **options: object) -> LlmRequest:
    """A request with ``messages``."""
    return LlmRequest(MODEL, system, tuple(messages), **options)  # type: ignore[arg-type]


def test_system_prompt_then_user_and_assistant_text() -> None:
    """The system prompt leads; user text and assistant prose keep their roles and order."""
    chat = to_chat_messages(
        request(
            text("m1", Role.USER, "hi"),
            text("m2", Role.ASSISTANT, "hello!", kind=PartKind.PROSE),
            text("m3", Role.USER, "how are you?"),
            system="Be brief.",
        )
    )
    assert chat == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello!"},
        {"role": "user", "content": "how are you?"},
    ]


def test_blank_system_prompt_is_left_out() -> None:
    """An empty or blank system prompt adds no system message."""
    assert to_chat_messages(request(text("m1", Role.USER, "hi"), system="  \n")) == [
        {"role": "user", "content": "hi"}
    ]


def test_tool_calls_and_results_are_rendered_as_text_and_reasoning_is_skipped() -> None:
    """Without tools offered, earlier tool rounds become bracketed text and tool specs stay out; reasoning never reaches the prompt."""
    assistant = Message(
        "m2",
        Role.ASSISTANT,
        (
            Part("m2.p0", PartKind.REASONING, "secret thoughts"),
            Part("m2.p1", PartKind.PROSE, "Let me add."),
            Part("m2.p2", PartKind.TOOL_CALL, '{"a": 1, "b": 2}', tool_call_id="c1", tool_name="add"),
        ),
    )
    results = Message(
        "m3", Role.USER, (Part("m3.p0", PartKind.TOOL_RESULT, "3", tool_call_id="c1", tool_name="add"),)
    )
    tool = ToolSpec("add", "Add two integers.", {"type": "object"})
    chat = to_chat_messages(request(text("m1", Role.USER, "add 1 and 2"), assistant, results, tools=(tool,)))
    assert chat == [
        {"role": "user", "content": "add 1 and 2"},
        {"role": "assistant", "content": 'Let me add.\n\n[called tool add with arguments {"a": 1, "b": 2}]'},
        {"role": "user", "content": "[result of tool add]\n3"},
    ]
    assert all("secret" not in m["content"] and "Add two integers" not in m["content"] for m in chat)


def test_a_message_with_only_reasoning_is_dropped() -> None:
    """A message whose parts are all skipped produces no chat message."""
    chat = to_chat_messages(
        request(
            text("m1", Role.USER, "q"),
            text("m2", Role.ASSISTANT, "thinking", kind=PartKind.REASONING),
            text("m3", Role.ASSISTANT, "answer", kind=PartKind.PROSE),
        )
    )
    assert chat == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "answer"}]


def test_consecutive_messages_of_one_role_are_merged() -> None:
    """Two user messages in a row become one (strict chat templates require alternation)."""
    chat = to_chat_messages(request(text("m1", Role.USER, "first"), text("m2", Role.USER, "second")))
    assert chat == [{"role": "user", "content": "first\n\nsecond"}]


def test_pruned_parts_show_their_marker_breadcrumb_or_summary() -> None:
    """Pruned tool results are rendered from their prune state, not the original content."""
    parts = (
        Part("m1.p0", PartKind.TOOL_RESULT, "big", tool_name="read", prune_state=Cleared()),
        Part(
            "m1.p1", PartKind.TOOL_RESULT, "big", tool_name="read", prune_state=Deleted("see archive", "h1")
        ),
        Part(
            "m1.p2", PartKind.TOOL_RESULT, "big", tool_name="read", prune_state=Summarized("a summary", "h2")
        ),
    )
    rendered = [render_part(p) for p in parts]
    assert rendered == [
        "[result of tool read]\n[content cleared]",
        "[result of tool read]\nsee archive",
        "[result of tool read]\na summary",
    ]


def test_other_part_kinds() -> None:
    """Attachments become a note; code is fenced; errors are labelled; events are user text."""
    ref = AttachmentRef("att1", "image/png", 1234, name="cat.png")
    assert render_part(Part("p0", PartKind.ATTACHMENT, attachment=ref)) == (
        "[attachment cat.png (image/png, 1234 bytes) is not shown to this model]"
    )
    assert render_part(Part("p1", PartKind.CODE, "print(1)")) == "```\nprint(1)\n```"
    assert render_part(Part("p2", PartKind.ERROR, "boom")) == "Error: boom"
    assert render_part(Part("p3", PartKind.OUTPUT, "1")) == "1"
    assert render_part(Part("p4", PartKind.TEXT, "")) is None
    event = text("m1", Role.EVENT, "build finished")
    assert to_chat_messages(request(event)) == [{"role": "user", "content": "[event] build finished"}]
    system = text("m1", Role.SYSTEM, "note")
    assert to_chat_messages(request(system)) == [{"role": "system", "content": "note"}]


def test_sampling_options_take_the_smaller_cap_and_the_request_temperature() -> None:
    """The settings cap and the request cap both apply; a request temperature overrides the setting."""
    provider = LlamaCppProvider(LlamaCppSettings(max_output_tokens=100, temperature=0.5, seed=7))
    options = provider.sampling_options(request(max_output_tokens=40, temperature=0.0))
    assert (options.max_tokens, options.temperature, options.seed) == (40, 0.0, 7)
    options = provider.sampling_options(request(max_output_tokens=4000))
    assert (options.max_tokens, options.temperature) == (100, 0.5)
    assert provider.sampling_options(request()).max_tokens == 100
    assert not provider.loaded


def config_with(settings: dict[str, object]) -> dict[str, object]:
    """A runtime configuration using the llamacpp provider with ``settings``."""
    return {"model": {"id": "smollm2"}, "providers": {"default": {"type": "llamacpp", "settings": settings}}}


@pytest.mark.parametrize(
    "settings",
    [
        {"n_ctx": 0},
        {"max_output_tokens": -1},
        {"n_threads": 0},
        {"nctx": 5},
        {"temperature": "hot"},
        {"tools": "sometimes"},
    ],
)
def test_invalid_settings_are_a_config_error(settings: dict[str, object]) -> None:
    """Bad settings are refused when the provider is built, naming where they are."""
    runtime = Runtime(config_with(settings))
    with pytest.raises(ConfigError, match=r"providers\.default"):
        runtime.provider("default")


def test_settings_are_structured_without_loading_the_model() -> None:
    """Valid settings reach the provider; building it loads nothing."""
    runtime = Runtime(
        config_with({"n_ctx": 512, "temperature": 0, "seed": 3, "model_path": "/x.gguf", "tools": "off"})
    )
    provider = runtime.provider("default")
    assert isinstance(provider, LlamaCppProvider)
    assert provider.settings == LlamaCppSettings(
        model_path="/x.gguf", n_ctx=512, temperature=0.0, seed=3, tools="off"
    )
    assert not provider.loaded
