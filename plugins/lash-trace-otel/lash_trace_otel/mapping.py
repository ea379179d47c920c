"""From lash trace records to span plans: pure functions, no OpenTelemetry state.

A record arrives after the step it describes, so a span's end is the record's
``timestamp_ms`` and its start is that minus ``duration_ms``. Only identifiers, names,
counts, durations and outcomes become attributes: never message text, tool arguments or
results, prompts, or settings (which may hold secrets). Custom records contribute only the
fields in :data:`CUSTOM_FIELDS`.

Malformed fields are skipped (a record with a non-numeric ``duration_ms`` makes a span
without duration rather than no span).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from lash_trace_otel import attributes as a

__all__ = [
    "CUSTOM_FIELDS",
    "OK_TERMINAL_REASONS",
    "Attributes",
    "SpanEvent",
    "SpanPlan",
    "TurnEnd",
    "common_attributes",
    "end_ns",
    "llm_call_span",
    "tool_call_span",
    "turn_end",
    "turn_event",
    "turn_span",
]

Attributes = dict[str, AttributeValue]

# Terminal reasons of a model call that do not mark its span as an error (the kernel goes on
# after these, or treats them as a cancellation).
OK_TERMINAL_REASONS = frozenset({"stop", "tool_use", "unknown", "cancelled"})

# Fields of ``custom`` records copied onto their span event (as ``lash.<field>``): identifiers
# and checkpoint names only. Anything else a custom record carries (plugin payloads) is dropped.
CUSTOM_FIELDS = ("claim_id", "claim_ids", "input_ids", "checkpoint", "work_id", "work_ids")

_NS_PER_MS = 1_000_000


@frozen
class SpanPlan:
    """A span to make: name, kind, explicit start/end (ns since the epoch), attributes and,
    for a failed step, the ``error.type`` that sets its status to ERROR."""

    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    attributes: Attributes
    error: str | None = None


@frozen
class TurnEnd:
    """What ``turn_completed`` adds to the open turn span before ending it at ``end_ns``."""

    end_ns: int
    attributes: Attributes
    error: str | None = None


@frozen
class SpanEvent:
    """A span event on the turn span (``prompt_built``, ``custom`` and unknown record types)."""

    name: str
    timestamp_ns: int
    attributes: Attributes


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:  # not NaN
        return int(value)
    return None


def _texts(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(item for item in value if isinstance(item, str))
        return items if len(items) == len(value) else None
    return None


def end_ns(record: Mapping[str, Any]) -> int:
    """The record's timestamp in nanoseconds since the epoch (now when it has none)."""
    millis = _int(record.get("timestamp_ms"))
    return millis * _NS_PER_MS if millis is not None else time.time_ns()


def _span_times(record: Mapping[str, Any]) -> tuple[int, int]:
    end = end_ns(record)
    duration = _int(record.get("duration_ms"))
    return end - max(0, duration or 0) * _NS_PER_MS, end


def common_attributes(record: Mapping[str, Any]) -> Attributes:
    """Session and turn identifiers, on every span (``gen_ai.conversation.id`` is the session)."""
    attrs: Attributes = {}
    session_id = _text(record.get("session_id"))
    if session_id is not None:
        attrs[a.LASH_SESSION_ID] = session_id
        attrs[a.GEN_AI_CONVERSATION_ID] = session_id
    turn_id = _text(record.get("turn_id"))
    if turn_id is not None:
        attrs[a.LASH_TURN_ID] = turn_id
    return attrs


def _step_attributes(record: Mapping[str, Any]) -> Attributes:
    attrs = common_attributes(record)
    record_id = _text(record.get("id"))
    if record_id is not None:
        attrs[a.LASH_RECORD_ID] = record_id
    duration = _int(record.get("duration_ms"))
    if duration is not None:
        attrs[a.LASH_DURATION_MS] = duration
    return attrs


def turn_span(record: Mapping[str, Any]) -> SpanPlan:
    """The ``lash.turn`` span opened by a ``turn_started`` record (its end is set later)."""
    attrs = common_attributes(record)
    attrs[a.GEN_AI_OPERATION_NAME] = a.OPERATION_INVOKE_AGENT
    count = _int(record.get("input_item_count"))
    if count is not None:
        attrs[a.LASH_TURN_INPUT_ITEM_COUNT] = count
    start = end_ns(record)
    return SpanPlan(a.TURN_SPAN_NAME, SpanKind.INTERNAL, start, start, attrs)


def turn_end(record: Mapping[str, Any]) -> TurnEnd:
    """Status, done reason and end time from a ``turn_completed`` record. A turn whose status
    is not ``completed`` is an error unless it was cancelled."""
    attrs: Attributes = {}
    status = _text(record.get("status"))
    reason = _text(record.get("done_reason"))
    if status is not None:
        attrs[a.LASH_TURN_STATUS] = status
    if reason is not None:
        attrs[a.LASH_TURN_DONE_REASON] = reason
    switch = record.get("agent_frame_switch")
    if isinstance(switch, bool):
        attrs[a.LASH_AGENT_FRAME_SWITCH] = switch
    error = None
    if status is not None and status != "completed" and reason != "cancelled":
        error = reason or status
        attrs[a.ERROR_TYPE] = error
    return TurnEnd(end_ns(record), attrs, error)


def llm_call_span(record: Mapping[str, Any], provider_names: Mapping[str, str] | None = None) -> SpanPlan:
    """The ``chat <model>`` span of an ``llm_call`` record.

    ``gen_ai.request.model`` is the record's ``request_model`` or else its ``model`` (the
    kernel writes the model the provider reported, or the configured one);
    ``gen_ai.response.model`` is set only from a ``response_model`` field. The provider name
    is ``provider_names[<provider id>]`` when given, else the record's ``provider_name``,
    else the provider id. ``gen_ai.usage.input_tokens`` counts all input, cached included
    (as the conventions define it); lash's uncached bucket is ``lash.usage.uncached_input_tokens``.
    """
    attrs = _step_attributes(record)
    attrs[a.GEN_AI_OPERATION_NAME] = a.OPERATION_CHAT
    model = _text(record.get("request_model")) or _text(record.get("model"))
    if model is not None:
        attrs[a.GEN_AI_REQUEST_MODEL] = model
    response_model = _text(record.get("response_model"))
    if response_model is not None:
        attrs[a.GEN_AI_RESPONSE_MODEL] = response_model
    provider_id = _text(record.get("provider"))
    provider = (
        (provider_names or {}).get(provider_id or "") or _text(record.get("provider_name")) or provider_id
    )
    if provider_id is not None:
        attrs[a.LASH_PROVIDER_ID] = provider_id
    if provider is not None:
        attrs[a.GEN_AI_PROVIDER_NAME] = provider
        attrs[a.GEN_AI_SYSTEM] = provider
    attrs.update(_usage_attributes(record.get("usage")))
    error = None
    reason = _text(record.get("terminal_reason"))
    if reason is not None:
        attrs[a.LASH_LLM_TERMINAL_REASON] = reason
        attrs[a.GEN_AI_RESPONSE_FINISH_REASONS] = (reason,)
        if reason not in OK_TERMINAL_REASONS:
            error = reason
            attrs[a.ERROR_TYPE] = reason
    start, end = _span_times(record)
    name = f"{a.OPERATION_CHAT} {model}" if model else a.OPERATION_CHAT
    return SpanPlan(name, SpanKind.CLIENT, start, end, attrs, error)


def _usage_attributes(usage: Any) -> Attributes:
    if not isinstance(usage, Mapping):
        return {}
    attrs: Attributes = {}
    uncached = _int(usage.get("input_tokens"))
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_write_input_tokens"))
    if uncached is not None or cache_read is not None or cache_write is not None:
        attrs[a.GEN_AI_USAGE_INPUT_TOKENS] = (uncached or 0) + (cache_read or 0) + (cache_write or 0)
    for name, value in (
        (a.LASH_USAGE_UNCACHED_INPUT_TOKENS, uncached),
        (a.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, cache_read),
        (a.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, cache_write),
        (a.GEN_AI_USAGE_OUTPUT_TOKENS, _int(usage.get("output_tokens"))),
        (a.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, _int(usage.get("reasoning_output_tokens"))),
    ):
        if value is not None:
            attrs[name] = value
    return attrs


def tool_call_span(record: Mapping[str, Any]) -> SpanPlan:
    """The ``execute_tool <name>`` span of a ``tool_call`` record (name, call id and outcome;
    never arguments or results). A ``failure`` outcome marks it as an error."""
    attrs = _step_attributes(record)
    attrs[a.GEN_AI_OPERATION_NAME] = a.OPERATION_EXECUTE_TOOL
    name = _text(record.get("name"))
    if name is not None:
        attrs[a.GEN_AI_TOOL_NAME] = name
    call_id = _text(record.get("call_id"))
    if call_id is not None:
        attrs[a.GEN_AI_TOOL_CALL_ID] = call_id
    outcome = _text(record.get("outcome"))
    error = None
    if outcome is not None:
        attrs[a.LASH_TOOL_OUTCOME] = outcome
        if outcome == "failure":
            error = "tool_failure"
            attrs[a.ERROR_TYPE] = error
    start, end = _span_times(record)
    span_name = f"{a.OPERATION_EXECUTE_TOOL} {name}" if name else a.OPERATION_EXECUTE_TOOL
    return SpanPlan(span_name, SpanKind.INTERNAL, start, end, attrs, error)


def turn_event(record: Mapping[str, Any]) -> SpanEvent:
    """The span event of a record that is neither a span start/end nor a step:
    ``lash.prompt_built`` (hash and counts), ``lash.<custom name>`` (the fields in
    :data:`CUSTOM_FIELDS`) or ``lash.<type>`` (identifiers only) for types this sink does not know."""
    kind = _text(record.get("type")) or "unknown"
    attrs: Attributes = {}
    record_id = _text(record.get("id"))
    if record_id is not None:
        attrs[a.LASH_RECORD_ID] = record_id
    name = f"lash.{kind}"
    if kind == "prompt_built":
        prompt_hash = _text(record.get("prompt_hash"))
        if prompt_hash is not None:
            attrs[a.LASH_PROMPT_HASH] = prompt_hash
        for attr, field in (
            (a.LASH_PROMPT_CHARS, "prompt_chars"),
            (a.LASH_PROMPT_TOOL_COUNT, "tool_count"),
            (a.LASH_PROMPT_MESSAGE_COUNT, "message_count"),
        ):
            value = _int(record.get(field))
            if value is not None:
                attrs[attr] = value
    elif kind == "custom":
        custom = _text(record.get("name")) or "custom"
        name = f"lash.{custom}"
        attrs[a.LASH_CUSTOM_NAME] = custom
        for field in CUSTOM_FIELDS:
            value = record.get(field)
            scalar = _text(value) or _int(value)
            if scalar is not None:
                attrs[f"lash.{field}"] = scalar
            elif (texts := _texts(value)) is not None:
                attrs[f"lash.{field}"] = texts
    return SpanEvent(name, end_ns(record), attrs)
