"""Offering tools: the prompt's tool section, earlier rounds in the call format, when a call is
required, and the argument grammars (no model needed)."""

from __future__ import annotations

import pytest
from lash_provider_llamacpp import (
    LlamaCppProvider,
    LlamaCppSettings,
    ToolOffer,
    call_text,
    result_text,
    to_chat_messages,
    tool_section,
)
from lash_provider_llamacpp.grammar import ANY_OBJECT, arguments_grammar
from lash_provider_llamacpp.tool_format import signature

from lash_core.model import (
    Cleared,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    Role,
    ToolChoice,
    ToolSpec,
)

WRITE = ToolSpec(
    "write_file",
    "Create or overwrite a file.\n  Returns the path.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
        "additionalProperties": False,
    },
)
GREP = ToolSpec(
    "grep",
    "Search file contents.",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "glob": {"type": ["string", "null"]},
            "mode": {"enum": ["lines", "count"]},
            "paths": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["pattern"],
    },
)


def user(message_id: str, text: str) -> Message:
    """A user message of one text part."""
    return Message(message_id, Role.USER, (Part(f"{message_id}.p0", PartKind.TEXT, text),))


def request(*messages: Message, system: str = "", **options: object) -> LlmRequest:
    """A request with ``messages`` and the two test tools."""
    options.setdefault("tools", (WRITE, GREP))
    return LlmRequest(ModelSpec("smollm2"), system, tuple(messages), **options)  # type: ignore[arg-type]


def tool_round() -> tuple[Message, Message]:
    """An assistant message calling write_file and the user message carrying its result."""
    call = Message(
        "m2",
        Role.ASSISTANT,
        (
            Part("m2.p0", PartKind.PROSE, "Writing it."),
            Part(
                "m2.p1",
                PartKind.TOOL_CALL,
                '{"path": "a.txt", "content": "hi"}',
                tool_call_id="c1",
                tool_name="write_file",
            ),
        ),
    )
    result = Message(
        "m3",
        Role.USER,
        (Part("m3.p0", PartKind.TOOL_RESULT, "wrote 2 bytes", tool_call_id="c1", tool_name="write_file"),),
    )
    return call, result


def test_signatures_show_arguments_types_and_optional_ones() -> None:
    """A tool is one line: required arguments plain, optional ones marked, unions, enums and arrays spelled out."""
    assert signature(WRITE) == (
        "write_file(path: string, content: string): Create or overwrite a file. Returns the path."
    )
    assert signature(GREP) == (
        'grep(pattern: string, glob?: string | null, mode?: "lines" | "count", paths?: array of string): '
        "Search file contents."
    )


def test_offered_tools_follow_the_system_prompt() -> None:
    """The system message is the system prompt, then the tool section listing every tool and the call format."""
    chat = to_chat_messages(request(user("m1", "hi"), system="Be brief."), tools=(WRITE, GREP))
    assert chat[0] == {"role": "system", "content": f"Be brief.\n\n{tool_section((WRITE, GREP))}"}
    section = chat[0]["content"]
    assert f"- {signature(WRITE)}\n- {signature(GREP)}\n</tools>" in section
    assert '<tool_call>\n{"name": "<tool name>", "arguments": {<arguments as JSON>}}\n</tool_call>' in section
    assert chat[1:] == [{"role": "user", "content": "hi"}]


def test_offered_tools_without_a_system_prompt_make_one() -> None:
    """With no system prompt the tool section alone is the system message."""
    chat = to_chat_messages(request(user("m1", "hi")), tools=(WRITE,))
    assert chat[0] == {"role": "system", "content": tool_section((WRITE,))}


def test_earlier_rounds_are_written_in_the_call_format_when_tools_are_offered() -> None:
    """A past call is written exactly as the model is asked to write one; its result is a tool_response."""
    call, result = tool_round()
    chat = to_chat_messages(request(user("m1", "write hi to a.txt"), call, result), tools=(WRITE,))
    assert chat[2:] == [
        {
            "role": "assistant",
            "content": 'Writing it.\n\n<tool_call>\n{"name": "write_file", "arguments": '
            '{"path": "a.txt", "content": "hi"}}\n</tool_call>',
        },
        {"role": "user", "content": "<tool_response>\nwrote 2 bytes\n</tool_response>"},
    ]
    assert call_text("write_file", '{"path": "a.txt", "content": "hi"}') in chat[2]["content"]
    assert result_text("wrote 2 bytes") == chat[3]["content"]


def test_a_pruned_call_is_shown_without_its_arguments() -> None:
    """Cleared arguments are no longer JSON: the call keeps its name with empty arguments."""
    part = Part("p", PartKind.TOOL_CALL, "{...", tool_name="grep", prune_state=Cleared())
    chat = to_chat_messages(request(Message("m1", Role.ASSISTANT, (part,))), tools=(GREP,))
    assert chat[1]["content"] == '<tool_call>\n{"name": "grep", "arguments": {}}\n</tool_call>'


@pytest.mark.parametrize(
    ("tools", "choice", "last_is_result", "expected"),
    [
        ("auto", ToolChoice.AUTO, False, ToolChoice.AUTO),
        ("auto", ToolChoice.REQUIRED, True, ToolChoice.REQUIRED),
        ("auto", ToolChoice.NONE, False, None),
        ("off", ToolChoice.REQUIRED, False, None),
        ("first_call", ToolChoice.AUTO, False, ToolChoice.REQUIRED),
        ("first_call", ToolChoice.AUTO, True, ToolChoice.NONE),
        ("first_call", ToolChoice.NONE, False, None),
    ],
)
def test_the_tool_offer_follows_the_setting_and_the_tool_choice(
    tools: str, choice: ToolChoice, last_is_result: bool, expected: ToolChoice | None
) -> None:
    """off or tool choice none: no offer; first_call: a call for a user message, text after tool results."""
    provider = LlamaCppProvider(LlamaCppSettings(tools=tools))
    messages = [user("m1", "write hi to a.txt")]
    if last_is_result:
        messages.extend(tool_round())
    offer = provider.tool_offer(request(*messages, tool_choice=choice))
    assert offer == (None if expected is None else ToolOffer((WRITE, GREP), expected))


def test_a_request_without_tools_gets_no_offer() -> None:
    """No tools in the request: the model answers in text, whatever the setting."""
    provider = LlamaCppProvider(LlamaCppSettings(tools="first_call"))
    assert provider.tool_offer(request(user("m1", "hi"), tools=())) is None


needs_llama_cpp = pytest.mark.usefixtures("llama_cpp_installed")


@needs_llama_cpp
def test_the_argument_grammar_follows_the_schema_and_keeps_strings_strict() -> None:
    """The schema's properties in order; string characters exclude raw control characters (strict JSON)."""
    grammar = arguments_grammar(WRITE.input_schema)
    assert 'root ::= "{" space path-kv "," space content-kv "}" space' in grammar
    assert 'char ::= [^"\\\\\\x00-\\x1F] |' in grammar


@pytest.mark.parametrize(
    "schema",
    [{"type": "string"}, {"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}}],
)
@needs_llama_cpp
def test_a_schema_without_an_object_grammar_falls_back_to_any_object(schema: dict[str, object]) -> None:
    """A non-object schema, or one the converter cannot express, gets the any-JSON-object grammar."""
    assert arguments_grammar(schema) == ANY_OBJECT
