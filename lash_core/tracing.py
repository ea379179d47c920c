"""Traces: a record per notable step of a turn, appended to trace sinks.

Sinks are synchronous (``append`` must not block for long) and isolated: a failing sink
is logged and never fails the turn. Records are plain JSON objects::

    {"schema_version": 1, "id": "...", "timestamp_ms": 0, "session_id": "...",
     "turn_id": "...", "type": "llm_call", ...event fields}

Event types written by the kernel: ``turn_started``, ``prompt_built`` (``prompt_hash``,
``prompt_chars``), ``llm_call`` (``model``, ``duration_ms``, ``usage``), ``tool_call``
(``name``, ``call_id``, ``duration_ms``, ``outcome``), ``turn_completed`` (``status``,
``done_reason``), and ``custom`` records such as ``turn_input.claimed``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from lash_core.clock import Clock

__all__ = ["TRACE_SCHEMA_VERSION", "JsonlTraceSink", "TraceSink", "Tracer"]

TRACE_SCHEMA_VERSION = 1
log = logging.getLogger("lash.tracing")


class TraceSink(Protocol):
    """Receives trace records."""

    def append(self, record: dict[str, Any]) -> None:
        """Take one record (a JSON-compatible dict). Must be quick."""
        ...

    def flush(self) -> None:
        """Make appended records durable (no-op when there is nothing to do)."""
        ...


class Tracer:
    """Builds records and fans them out to the sinks; a no-op without sinks."""

    def __init__(self, sinks: Sequence[TraceSink], clock: Clock) -> None:
        self._sinks = tuple(sinks)
        self._clock = clock
        self._counter = 0
        self.enabled = bool(self._sinks)

    def emit(self, session_id: str, turn_id: str | None, event_type: str, **fields: Any) -> None:
        """Append a record of ``event_type`` to every sink (errors logged, never raised)."""
        if not self.enabled:
            return
        self._counter += 1
        record = {
            "schema_version": TRACE_SCHEMA_VERSION,
            "id": f"{turn_id or session_id}:{self._counter}",
            "timestamp_ms": self._clock.now_ms(),
            "session_id": session_id,
            "turn_id": turn_id,
            "type": event_type,
            **fields,
        }
        for sink in self._sinks:
            try:
                sink.append(record)
            except Exception:
                log.exception("trace sink %r failed; the turn goes on", sink)

    def flush(self) -> None:
        """Flush every sink (errors logged)."""
        for sink in self._sinks:
            try:
                sink.flush()
            except Exception:
                log.exception("trace sink %r failed to flush", sink)


class JsonlTraceSink:
    """Appends records as JSON lines, one file per session under ``directory``
    (``<directory>/<session_id>.jsonl``). Secrets listed in ``redact`` are replaced by
    ``[redacted]`` before anything is written."""

    def __init__(self, directory: str | os.PathLike[str], redact: Sequence[str] = ()) -> None:
        self.directory = Path(directory)
        # Each secret as it appears inside a JSON string (quotes, backslashes, control characters escaped).
        self._redact = tuple(json.dumps(secret, ensure_ascii=False)[1:-1] for secret in redact if secret)
        self._lock = threading.Lock()

    def path_for(self, session_id: str) -> Path:
        """The trace file of one session."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in session_id)
        return self.directory / f"{safe}.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        """Append one record to its session's file."""
        line = json.dumps(record, ensure_ascii=False, default=str)
        for secret in self._redact:
            line = line.replace(secret, "[redacted]")
        path = self.path_for(str(record.get("session_id", "unknown")))
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def flush(self) -> None:
        """Nothing to do: every append opens, writes and closes the file."""
