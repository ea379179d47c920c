"""The ``jsonl`` trace sink: one JSON-lines file per session."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from lash_core.tracing import JsonlTraceSink
from lash_hookspecs import hookimpl


@frozen
class JsonlTraceSettings:
    """Settings of the ``jsonl`` trace sink."""

    directory: str = ".lash/traces"
    redact: tuple[str, ...] = ()


@hookimpl
def register_trace_sinks(register: Any) -> None:
    """Register the ``jsonl`` trace sink."""
    register(
        "jsonl",
        lambda settings: JsonlTraceSink(settings.directory, settings.redact),
        settings=JsonlTraceSettings,
        description="JSON lines, one file per session",
    )
