"""Tools: the provider contract, ``@tool`` for typed functions, argument schemas and
validation, and the projection of results into what the model sees."""

from lash_core.tools.contract import (
    ToolContext,
    ToolInvocation,
    ToolManifest,
    ToolProvider,
    ToolResultProjector,
)
from lash_core.tools.decorator import FunctionTool, tool
from lash_core.tools.projector import MIN_LIMIT_BYTES, BudgetProjector, cut_marker, render_output
from lash_core.tools.schema import CONTEXT_PARAMETER, function_schema, json_schema_for
from lash_core.tools.validation import ArgumentError, ArgumentValidator, parse_arguments, validator_for

__all__ = [
    "ArgumentError",
    "ArgumentValidator",
    "BudgetProjector",
    "CONTEXT_PARAMETER",
    "FunctionTool",
    "MIN_LIMIT_BYTES",
    "ToolContext",
    "ToolInvocation",
    "ToolManifest",
    "ToolProvider",
    "ToolResultProjector",
    "cut_marker",
    "function_schema",
    "json_schema_for",
    "parse_arguments",
    "render_output",
    "tool",
    "validator_for",
]
