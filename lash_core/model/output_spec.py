"""Structured output: the shape a model's answer must have.

An :data:`OutputSpec` asks the model for JSON instead of free prose:
:class:`JsonObjectOutput` for any JSON object, :class:`JsonSchemaOutput` for an answer
valid against a JSON schema. It rides on an :class:`~lash_core.model.LlmRequest`; a host
sets it for a turn on :class:`~lash_core.model.TurnContext`, a hook for a direct
completion. Providers map it onto their API (OpenAI ``response_format`` / ``text.format``,
Anthropic ``output_config.format``) and refuse, before anything is sent, what the API or
the model (``ModelSpec.structured_output``) cannot do.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from attrs import frozen

from lash_core.model._record import Record

__all__ = ["JsonObjectOutput", "JsonSchemaOutput", "OutputSpec"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@frozen(repr=False)
class JsonObjectOutput(Record):
    """Any JSON object (JSON mode). Some APIs also want the word "JSON" in the prompt."""

    TAG: ClassVar[str] = "json_object"


@frozen(repr=False)
class JsonSchemaOutput(Record):
    """A JSON answer valid against ``schema``.

    ``name`` names the schema for the API (letters, digits, ``_`` and ``-``, at most 64);
    ``strict`` asks for decoding constrained to the schema, which providers project onto
    their API's strict subset (a schema with no strict form is sent non-strict, with a
    warning).
    """

    TAG: ClassVar[str] = "json_schema"
    name: str
    schema: dict[str, Any]
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"JsonSchemaOutput.name {self.name!r} must be 1 to 64 letters, digits, '_' or '-'"
            )


OutputSpec = JsonObjectOutput | JsonSchemaOutput
