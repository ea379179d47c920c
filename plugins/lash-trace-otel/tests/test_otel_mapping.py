"""Record-to-span mapping: pure functions, no tracer involved."""

from __future__ import annotations

from typing import Any

from lash_trace_otel.mapping import (
    common_attributes,
    end_ns,
    llm_call_span,
    tool_call_span,
    turn_end,
    turn_event,
    turn_span,
)
from opentelemetry.trace import SpanKind

MS = 1_000_000
T = 1_700_000_000_000


def record(kind: str, timestamp_ms: int = T, **fields: Any) -> dict[str, Any]:
    """A trace record as the kernel writes it."""
    return {
        "schema_version": 1,
        "id": f"t1:{kind}",
        "timestamp_ms": timestamp_ms,
        "session_id": "s1",
        "turn_id": "t1",
        "type": kind,
        **fields,
    }


def llm_record(**overrides: Any) -> dict[str, Any]:
    """An ``llm_call`` record with every usage bucket filled."""
    fields: dict[str, Any] = {
        "model": "gpt-test",
        "provider": "default",
        "duration_ms": 420,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 30,
            "cache_read_input_tokens": 50,
            "cache_write_input_tokens": 7,
            "reasoning_output_tokens": 12,
        },
        "terminal_reason": "tool_use",
    }
    fields.update(overrides)
    return record("llm_call", T + 1000, **fields)


def test_llm_call_span_is_a_chat_client_span_ending_at_the_record_time() -> None:
    """Start = timestamp - duration, end = timestamp; named ``chat <model>``; kind CLIENT."""
    plan = llm_call_span(llm_record())
    assert plan.name == "chat gpt-test"
    assert plan.kind is SpanKind.CLIENT
    assert plan.end_ns == (T + 1000) * MS
    assert plan.end_ns - plan.start_ns == 420 * MS
    assert plan.error is None


def test_llm_call_span_carries_the_genai_attributes() -> None:
    """Operation, model, provider, finish reason and every usage bucket, under their conventional names."""
    attrs = llm_call_span(llm_record()).attributes
    assert attrs == {
        "lash.session.id": "s1",
        "gen_ai.conversation.id": "s1",
        "lash.turn.id": "t1",
        "lash.record.id": "t1:llm_call",
        "lash.duration_ms": 420,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-test",
        "lash.provider.id": "default",
        "gen_ai.provider.name": "default",
        "gen_ai.system": "default",
        # all input, cached included (100 uncached + 50 read + 7 written)
        "gen_ai.usage.input_tokens": 157,
        "lash.usage.uncached_input_tokens": 100,
        "gen_ai.usage.cache_read.input_tokens": 50,
        "gen_ai.usage.cache_creation.input_tokens": 7,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.reasoning.output_tokens": 12,
        "lash.llm.terminal_reason": "tool_use",
        "gen_ai.response.finish_reasons": ("tool_use",),
    }


def test_provider_names_map_provider_ids_to_genai_provider_names() -> None:
    """``provider_names`` turns the configured provider id into a well-known provider name."""
    attrs = llm_call_span(llm_record(), {"default": "openai"}).attributes
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.system"] == "openai"
    assert attrs["lash.provider.id"] == "default"


def test_request_and_response_models_are_taken_when_the_record_has_both() -> None:
    """Records naming the requested and the answering model set both conventional attributes."""
    plan = llm_call_span(llm_record(request_model="gpt-x", response_model="gpt-x-2025-01-01"))
    assert plan.name == "chat gpt-x"
    assert plan.attributes["gen_ai.request.model"] == "gpt-x"
    assert plan.attributes["gen_ai.response.model"] == "gpt-x-2025-01-01"
    assert "gen_ai.response.model" not in llm_call_span(llm_record()).attributes


def test_error_terminal_reasons_mark_the_model_span_as_failed() -> None:
    """``content_filter`` (and other stopping reasons) set error.type; ``stop`` and ``cancelled`` do not."""
    plan = llm_call_span(llm_record(terminal_reason="content_filter"))
    assert plan.error == "content_filter"
    assert plan.attributes["error.type"] == "content_filter"
    for reason in ("stop", "tool_use", "cancelled", "unknown"):
        assert llm_call_span(llm_record(terminal_reason=reason)).error is None


def test_malformed_fields_are_skipped_not_fatal() -> None:
    """Non-numeric durations and usage, a missing model: the span is still planned, without them."""
    plan = llm_call_span(
        record("llm_call", duration_ms="slow", usage="lots", model=None, provider=3, terminal_reason=None)
    )
    assert plan.name == "chat"
    assert plan.start_ns == plan.end_ns == T * MS
    assert not any(key.startswith("gen_ai.usage") for key in plan.attributes)
    assert "gen_ai.request.model" not in plan.attributes
    assert "gen_ai.provider.name" not in plan.attributes


def test_negative_duration_gives_a_zero_length_span() -> None:
    """A start never falls after the end."""
    plan = tool_call_span(record("tool_call", name="t", duration_ms=-5))
    assert plan.start_ns == plan.end_ns


def test_tool_call_span_names_the_tool_and_never_its_arguments() -> None:
    """``execute_tool <name>`` with tool name, call id and outcome; other record fields are ignored."""
    plan = tool_call_span(
        record(
            "tool_call",
            name="weather",
            call_id="call_1",
            duration_ms=250,
            outcome="success",
            args={"city": "Reykjavik"},
        )
    )
    assert plan.name == "execute_tool weather"
    assert plan.kind is SpanKind.INTERNAL
    assert plan.end_ns - plan.start_ns == 250 * MS
    assert plan.attributes["gen_ai.operation.name"] == "execute_tool"
    assert plan.attributes["gen_ai.tool.name"] == "weather"
    assert plan.attributes["gen_ai.tool.call.id"] == "call_1"
    assert plan.attributes["lash.tool.outcome"] == "success"
    assert plan.error is None
    assert "Reykjavik" not in repr(plan)


def test_failed_tool_call_is_an_error_and_a_cancelled_one_is_not() -> None:
    """outcome ``failure`` sets error.type ``tool_failure``; ``cancelled`` stays unset."""
    failed = tool_call_span(record("tool_call", name="t", outcome="failure", duration_ms=1))
    assert failed.error == "tool_failure"
    assert failed.attributes["error.type"] == "tool_failure"
    assert tool_call_span(record("tool_call", name="t", outcome="cancelled")).error is None


def test_turn_span_opens_at_turn_started() -> None:
    """``lash.turn``, an ``invoke_agent`` operation, starting at the record time."""
    plan = turn_span(record("turn_started", input_item_count=2))
    assert plan.name == "lash.turn"
    assert plan.start_ns == T * MS
    assert plan.attributes == {
        "lash.session.id": "s1",
        "gen_ai.conversation.id": "s1",
        "lash.turn.id": "t1",
        "gen_ai.operation.name": "invoke_agent",
        "lash.turn.input_item_count": 2,
    }


def test_turn_end_statuses() -> None:
    """completed is fine; failed and error are errors named by the done reason; cancelled is not an error."""
    done = turn_end(
        record(
            "turn_completed",
            T + 5,
            status="completed",
            done_reason="assistant_message",
            agent_frame_switch=False,
        )
    )
    assert done.end_ns == (T + 5) * MS
    assert done.error is None
    assert done.attributes == {
        "lash.turn.status": "completed",
        "lash.turn.done_reason": "assistant_message",
        "lash.turn.agent_frame_switch": False,
    }
    failed = turn_end(record("turn_completed", status="failed", done_reason="provider_error"))
    assert failed.error == "provider_error"
    assert failed.attributes["error.type"] == "provider_error"
    hook = turn_end(record("turn_completed", status="error", done_reason="hook_error:prepare_turn"))
    assert hook.error == "hook_error:prepare_turn"
    assert turn_end(record("turn_completed", status="failed", done_reason="cancelled")).error is None


def test_prompt_built_event_has_the_hash_and_counts_only() -> None:
    """The prompt itself never appears; its hash and sizes do."""
    event = turn_event(
        record("prompt_built", prompt_hash="ab12", prompt_chars=40, tool_count=1, message_count=3)
    )
    assert event.name == "lash.prompt_built"
    assert event.timestamp_ns == T * MS
    assert event.attributes == {
        "lash.record.id": "t1:prompt_built",
        "lash.prompt.hash": "ab12",
        "lash.prompt.chars": 40,
        "lash.prompt.tool_count": 1,
        "lash.prompt.message_count": 3,
    }


def test_custom_event_keeps_identifiers_and_drops_payloads() -> None:
    """``custom`` records become ``lash.<name>`` events with only the allow-listed fields."""
    event = turn_event(
        record(
            "custom",
            name="turn_input.claimed",
            claim_id="c1",
            input_ids=["i1", "i2"],
            checkpoint="before_model",
            payload={"text": "top secret"},
        )
    )
    assert event.name == "lash.turn_input.claimed"
    assert event.attributes == {
        "lash.record.id": "t1:custom",
        "lash.custom.name": "turn_input.claimed",
        "lash.claim_id": "c1",
        "lash.input_ids": ("i1", "i2"),
        "lash.checkpoint": "before_model",
    }


def test_unknown_record_types_become_bare_events() -> None:
    """A type this sink does not know keeps its name and record id, nothing else."""
    event = turn_event(record("token_usage", usage={"input_tokens": 1}, note="hello"))
    assert event.name == "lash.token_usage"
    assert event.attributes == {"lash.record.id": "t1:token_usage"}


def test_common_attributes_and_times_without_ids() -> None:
    """A session-level record (no turn id) has session attributes only; a missing timestamp is now."""
    assert common_attributes({"session_id": "s1", "turn_id": None}) == {
        "lash.session.id": "s1",
        "gen_ai.conversation.id": "s1",
    }
    assert end_ns({}) > T * MS
