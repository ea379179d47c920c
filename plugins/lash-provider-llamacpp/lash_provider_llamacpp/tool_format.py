"""How tools, tool calls and tool results are written in the local model's prompt.

The format is the ``<tool_call>`` convention many open chat models are trained on
(Hermes, Qwen2.5): the system prompt lists the tools and shows the call format, a call is
an assistant message made of exactly

```
<tool_call>
{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}
</tool_call>
```

and a result is user text between ``<tool_response>`` tags. Tools are listed as one-line
signatures (``write_file(path: string, content: string): description``) rather than whole
JSON schemas, which keeps the prompt short; the schema itself constrains the arguments
through a grammar (:mod:`lash_provider_llamacpp.grammar`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lash_core.model import ToolSpec

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "arguments_prefix",
    "call_prefix",
    "call_text",
    "result_text",
    "signature",
    "tool_section",
]

CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"


def _quoted(text: str) -> str:
    """``text`` as the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def call_prefix() -> str:
    """What a tool call starts with, up to the tool's name."""
    return f'{CALL_OPEN}\n{{"name": "'


def arguments_prefix(name: str) -> str:
    """What follows :func:`call_prefix`: the name, then up to the arguments object."""
    return f'{_quoted(name)}", "arguments": '


def call_text(name: str, arguments: str) -> str:
    """A whole tool call as the model writes it (empty arguments become ``{}``)."""
    return f"{call_prefix()}{arguments_prefix(name)}{arguments.strip() or '{}'}}}\n{CALL_CLOSE}"


def result_text(body: str) -> str:
    """A tool's result as the model reads it."""
    return f"<tool_response>\n{body}\n</tool_response>"


def _type_label(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "any"
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(json.dumps(value) for value in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {_type_label(schema.get('items'))}"
    return str(kind) if kind else "any"


def signature(tool: ToolSpec) -> str:
    """``name(arg: type, optional?: type): description`` for one tool."""
    schema = tool.input_schema
    properties = schema.get("properties")
    required = set(schema.get("required") or ())
    arguments = []
    if isinstance(properties, dict):
        for name, prop in properties.items():
            mark = "" if name in required else "?"
            arguments.append(f"{name}{mark}: {_type_label(prop)}")
    description = " ".join(tool.description.split())
    return f"{tool.name}({', '.join(arguments)}): {description}"


def tool_section(tools: Sequence[ToolSpec]) -> str:
    """The part of the system prompt that offers ``tools`` and shows how to call one."""
    listed = "\n".join(f"- {signature(tool)}" for tool in tools)
    return (
        "You can call these tools:\n"
        f"<tools>\n{listed}\n</tools>\n\n"
        "To call a tool, reply with only this, nothing before or after it:\n"
        f'{CALL_OPEN}\n{{"name": "<tool name>", "arguments": {{<arguments as JSON>}}}}\n{CALL_CLOSE}\n'
        "The result comes back between <tool_response> tags. Otherwise, answer in plain text."
    )
