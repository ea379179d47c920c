"""GBNF grammars that constrain the local model while it calls a tool.

llama.cpp's grammar sampling only lets the model pick tokens that keep its output inside a
grammar. The provider uses three (the tool's name is chosen from the model's scores of the
names' tokens instead, see :mod:`lash_provider_llamacpp.generation`):

* :data:`DECISION`: the first token of an answer is either the start of ``<tool_call>``
  or any text that does not begin with ``<``. Only that one token is sampled under it;
  the model's own preference decides between a tool call and prose;
* :data:`NO_CALL`: the same first token when no call is allowed: prose only;
* :func:`arguments_grammar`: the arguments, a JSON object following the tool's input schema
  (llama-cpp-python's JSON-schema converter), or any JSON object when the schema uses
  something the converter cannot express. Strings never contain raw control characters, so
  the text is always strict JSON; the runtime still validates the arguments against the schema.

:func:`grammar_is_valid` checks a grammar with llama.cpp itself before it is used: an invalid
grammar given to the sampler would crash the process instead of raising.
"""

from __future__ import annotations

import functools
import json
from types import ModuleType
from typing import Any

__all__ = [
    "ANY_OBJECT",
    "DECISION",
    "NO_CALL",
    "arguments_grammar",
    "grammar_is_valid",
]

DECISION = 'root ::= "<tool_call>" | [^<] .*'
"""The first token: the start of a tool call, or prose (anything not starting with ``<``)."""

NO_CALL = "root ::= [^<] .*"
"""The first token when the model must answer in prose although tools are shown."""

ANY_OBJECT = r"""root ::= object
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws ( member ( "," ws member )* )? "}"
member ::= string ws ":" ws value ws
array ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,4} )?
ws ::= [ ]?
"""
"""Any JSON object, for schemas the JSON-schema converter cannot express."""

# The converter's string character rule admits raw control characters, which strict JSON
# (and so the runtime's argument parser) refuses; they are excluded, escapes stay allowed.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x00-\\x1F] |'


@functools.lru_cache(maxsize=256)
def _schema_grammar(schema_json: str) -> str | None:
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:
        return None
    try:
        text = json_schema_to_gbnf(schema_json)
    except Exception:  # the converter raises plain exceptions for what it cannot express
        return None
    return "\n".join(
        _STRICT_CHAR + line[len(_LOOSE_CHAR) :] if line.startswith(_LOOSE_CHAR) else line
        for line in text.splitlines()
    )


def arguments_grammar(schema: dict[str, Any]) -> str:
    """A grammar for arguments that follow ``schema`` (:data:`ANY_OBJECT` when it cannot be
    converted or is not an object schema)."""
    if schema.get("type") != "object":
        return ANY_OBJECT
    try:
        schema_json = json.dumps(schema)  # property order is kept: the grammar writes them in order
    except (TypeError, ValueError):
        return ANY_OBJECT
    return _schema_grammar(schema_json) or ANY_OBJECT


def grammar_is_valid(llama_cpp: ModuleType, vocab: Any, grammar: str) -> bool:
    """True when llama.cpp parses ``grammar`` (a parse error is also printed on stderr by llama.cpp)."""
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True
