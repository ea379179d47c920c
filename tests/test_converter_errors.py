"""Records that cannot be read raise ``DecodeError`` naming each failing field path."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import model as m
from lash_core.converter import structure
from lash_core.errors import DecodeError

TEXT = {"type": "text", "text": "hi"}
FAILURE = {"class": "timeout", "code": "slow", "message": "took too long"}


def decode_problems(data: Any, as_type: Any) -> list[str]:
    """The problems of the ``DecodeError`` that reading ``data`` must raise."""
    with pytest.raises(DecodeError) as info:
        structure(data, as_type)
    assert info.value.problems, "a DecodeError must list its problems"
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


def tool_completed(output: dict[str, Any]) -> dict[str, Any]:
    """A turn activity whose event is a completed tool call with ``output``."""
    event = {
        "type": "tool_call_completed",
        "call_id": "c1",
        "name": "read_file",
        "args": None,
        "output": output,
        "duration_ms": 1,
    }
    return {"id": "a1", "correlation_id": "c1", "event": event}


# -- the error itself --------------------------------------------------------------------------


def test_decode_error_message_names_the_type_read() -> None:
    """The message starts with the type that could not be read."""
    with pytest.raises(DecodeError, match=r"^cannot read TurnInput: "):
        structure({"items": [{"type": "text"}]}, m.TurnInput)


def test_every_problem_is_reported() -> None:
    """Several bad fields give one problem each, not only the first."""
    problems = decode_problems({"items": [{"type": "text"}, {"type": "bogus"}]}, m.TurnInput)
    assert len(problems) == 2
    assert problems[0] == "required field missing @ $.items[0].text"
    assert problems[1].startswith("unknown type tag 'bogus'")
    assert problems[1].endswith("@ $.items[1]")


# -- unknown type tags -------------------------------------------------------------------------


def test_unknown_tag_at_top_level_names_the_tag_and_choices() -> None:
    """An unknown tag read as a union names the tag, the accepted tags and ``$``."""
    (problem,) = decode_problems({"type": "bogus"}, m.TurnStop)
    assert problem == (
        "unknown type tag 'bogus'; expected one of: cancelled, incomplete, invalid_input, "
        "max_turns, plugin_abort, provider_error, runtime_error, submitted_error, tool_error, "
        "tool_failure @ $"
    )


def test_unknown_tag_inside_a_list_names_the_index() -> None:
    """An unknown tag of a list item names ``$.items[i]``."""
    (problem,) = decode_problems({"items": [TEXT, {"type": "video", "url": "x"}]}, m.TurnInput)
    assert problem.startswith("unknown type tag 'video'")
    assert problem.endswith("@ $.items[1]")


def test_unknown_tag_nested_in_unions_names_the_full_path() -> None:
    """An unknown tag under union variants names the whole path through them."""
    (problem,) = decode_problems(tool_completed({"outcome": {"type": "bogus"}}), m.TurnActivity)
    assert problem.startswith("unknown type tag 'bogus'; expected one of: cancelled, failure, success")
    assert problem.endswith("@ $.event.output.outcome")


def test_unknown_tag_in_a_nested_list_of_messages() -> None:
    """An unknown part prune state deep inside a variant's message list names its path."""
    message = {
        "id": "m1",
        "role": "user",
        "parts": [{"id": "p", "kind": "text", "prune_state": {"type": "gone"}}],
    }
    data = {"type": "agent_frame_switch", "frame_id": "f", "initial_messages": [message]}
    (problem,) = decode_problems(data, m.TurnOutcome)
    assert problem.startswith("unknown type tag 'gone'")
    assert problem.endswith("@ $.initial_messages[0].parts[0].prune_state")


def test_missing_tag_is_an_unknown_tag() -> None:
    """An object without ``type`` read as a union is refused as tag ``None``."""
    (problem,) = decode_problems({"text": "hi"}, m.InputItem)
    assert problem.startswith("unknown type tag None; expected one of: attachment, text")


def test_non_string_tag_is_refused() -> None:
    """A ``type`` that is not a string is an unknown tag."""
    (problem,) = decode_problems({"type": 5}, m.InputItem)
    assert problem.startswith("unknown type tag 5;")


def test_non_object_where_a_union_is_expected_is_refused() -> None:
    """A list where a tagged object is expected says an object was expected."""
    (problem,) = decode_problems({"items": [["text", "hi"]]}, m.TurnInput)
    assert problem.startswith("expected an object with a 'type' tag (attachment, text), found list")
    assert problem.endswith("@ $.items[0]")


def test_tag_of_another_variant_is_refused_when_reading_a_variant() -> None:
    """Reading a variant class directly refuses the JSON of a different variant."""
    (problem,) = decode_problems({"type": "incomplete"}, m.Cancelled)
    assert problem == "expected type 'cancelled', found 'incomplete' @ $"


def test_tag_of_another_union_is_refused() -> None:
    """A valid tag of a different union is unknown to this one."""
    (problem,) = decode_problems({"type": "text_delta", "text": "x"}, m.TurnEvent)
    assert problem.startswith("unknown type tag 'text_delta'")


def test_unknown_tag_in_an_optional_union_names_the_path() -> None:
    """An unknown tag in an optional union field (``origin``) still names the field path."""
    (problem,) = decode_problems({"id": "m1", "role": "user", "origin": {"type": "cron"}}, m.Message)
    assert problem.endswith("@ $.origin")


def test_unknown_tag_in_an_optional_union_is_reported_as_unknown_tag() -> None:
    """An unknown tag in an optional union field is reported as an unknown tag like everywhere else."""
    (problem,) = decode_problems({"id": "m1", "role": "user", "origin": {"type": "cron"}}, m.Message)
    assert problem.startswith("unknown type tag 'cron'")


# -- missing required fields -------------------------------------------------------------------


def test_missing_field_at_top_level() -> None:
    """A missing required field names ``$.<field>``."""
    assert decode_problems({"id": "m1"}, m.Message) == ["required field missing @ $.role"]


def test_missing_field_of_a_variant_read_as_a_union() -> None:
    """A variant missing a field, read through its union, names the field."""
    assert decode_problems({"type": "exhausted"}, m.ToolRetry) == ["required field missing @ $.attempts"]


def test_missing_field_inside_a_list_item() -> None:
    """A list item missing a field names ``$.items[i].<field>``."""
    problems = decode_problems({"items": [TEXT, {"type": "attachment"}]}, m.TurnInput)
    assert problems == ["required field missing @ $.items[1].source"]


def test_missing_field_deep_inside_nested_records() -> None:
    """A field missing deep inside parts, outputs and failures names the whole path."""
    part = {
        "id": "m1.p0",
        "kind": "tool_result",
        "tool_output": {"outcome": {"type": "failure", "failure": {"class": "timeout", "message": "m"}}},
    }
    problems = decode_problems({"id": "m1", "role": "assistant", "parts": [part]}, m.Message)
    assert problems == ["required field missing @ $.parts[0].tool_output.outcome.failure.code"]


def test_missing_field_in_a_nested_union_event() -> None:
    """A field missing in a plugin event inside a turn event names ``$.event.event.<field>``."""
    data = {
        "id": "a1",
        "correlation_id": "c1",
        "event": {"type": "plugin_runtime", "plugin_id": "p", "event": {"type": "status", "key": "k"}},
    }
    assert decode_problems(data, m.TurnActivity) == ["required field missing @ $.event.event.label"]


def test_renamed_field_must_use_its_wire_name() -> None:
    """``ToolFailure.failure_class`` is read from ``class`` only; the attribute name is an extra key."""
    data = {"failure_class": "timeout", "code": "c", "message": "m"}
    problems = decode_problems(data, m.ToolFailure)
    assert "extra fields found (failure_class) @ $" in problems


def test_missing_renamed_field_is_named_by_its_wire_name() -> None:
    """A missing renamed field is reported under its JSON key ``class``."""
    problems = decode_problems({"code": "c", "message": "m"}, m.ToolFailure)
    assert problems == ["required field missing @ $.class"]


def test_missing_field_in_an_optional_union_variant_names_the_field() -> None:
    """A variant of an optional union (``control``) missing a field names that field."""
    data = {"outcome": {"type": "success"}, "control": {"type": "switch_agent_frame"}}
    assert decode_problems(data, m.ToolCallOutput) == ["required field missing @ $.control.frame_id"]


# -- extra keys --------------------------------------------------------------------------------


def test_extra_key_at_top_level_is_named() -> None:
    """An unknown key of a record is refused, naming the key."""
    problems = decode_problems({"id": "m1", "role": "user", "colour": "red"}, m.Message)
    assert problems == ["extra fields found (colour) @ $"]


def test_extra_key_of_a_tagged_variant_is_named() -> None:
    """An unknown key of a variant is refused even when the variant has no fields."""
    assert decode_problems({"type": "cancelled", "why": "x"}, m.TurnStop) == ["extra fields found (why) @ $"]


def test_extra_key_inside_a_list_item_names_the_item() -> None:
    """An unknown key in a list item names the key and ``$.items[i]``."""
    problems = decode_problems({"items": [{**TEXT, "lang": "en"}]}, m.TurnInput)
    assert problems == ["extra fields found (lang) @ $.items[0]"]


def test_extra_key_nested_in_unions_names_the_path() -> None:
    """An unknown key of a nested variant names the path of its object."""
    data = tool_completed({"outcome": {"type": "success", "value": 1, "extra": True}})
    assert decode_problems(data, m.TurnActivity) == ["extra fields found (extra) @ $.event.output.outcome"]


def test_live_field_key_is_refused() -> None:
    """Live fields are not part of the wire format: their keys are extra keys."""
    problems = decode_problems({"context": {"plugin_inputs": {}}}, m.TurnInput)
    assert problems == ["extra fields found (plugin_inputs) @ $.context"]


# -- wrong scalar types ------------------------------------------------------------------------


def test_non_numeric_string_for_an_int_names_the_path() -> None:
    """Text where an int is expected names the field."""
    problems = decode_problems({"type": "model_request_started", "protocol_iteration": "x"}, m.TurnEvent)
    assert problems == ["expected an integer, found a string @ $.protocol_iteration"]


def test_null_for_an_int_inside_nested_usage_names_the_path() -> None:
    """``null`` for a usage bucket inside an event names the nested field."""
    data = {"type": "usage", "protocol_iteration": 1, "usage": {}, "cumulative": {"input_tokens": None}}
    assert decode_problems(data, m.TurnEvent) == [
        "expected an integer, found null @ $.cumulative.input_tokens"
    ]


def test_unknown_enum_value_names_the_path() -> None:
    """A value outside an enum names the field and the enum."""
    assert decode_problems({"id": "m1", "role": "robot"}, m.Message) == [
        "invalid value: 'robot' is not a valid Role @ $.role"
    ]


def test_unknown_enum_value_inside_a_list_names_the_path() -> None:
    """A bad part kind names ``$.parts[i].kind``."""
    problems = decode_problems(
        {"id": "m1", "role": "user", "parts": [{"id": "p", "kind": "video"}]}, m.Message
    )
    assert problems == ["invalid value: 'video' is not a valid PartKind @ $.parts[0].kind"]


def test_number_where_a_list_is_expected_names_the_path() -> None:
    """A number where a list is expected names the field."""
    problems = decode_problems({"type": "queued_work_started", "boundary": "b", "batch_ids": 5}, m.TurnEvent)
    assert problems == ["expected an array, found an integer @ $.batch_ids"]


def test_list_where_a_mapping_is_expected_names_the_path() -> None:
    """A list where a mapping is expected names the field."""
    problems = decode_problems(
        {"entry_count": 0, "usage": {}, "total_tokens": 0, "by_source": []}, m.UsageReport
    )
    assert problems == ["expected an object, found an array @ $.by_source"]


def test_text_where_a_nested_record_is_expected_names_the_path() -> None:
    """A string where a nested record is expected names the field."""
    problems = decode_problems({"context": "x"}, m.TurnInput)
    assert len(problems) == 1
    assert problems[0].endswith("@ $.context")


def test_null_top_level_record_is_refused() -> None:
    """``null`` read as a record is a DecodeError at ``$``."""
    (problem,) = decode_problems(None, m.TurnInput)
    assert problem.endswith("@ $")


def test_string_top_level_record_is_a_decode_error() -> None:
    """A string read as a record is a DecodeError at ``$``, not a raw exception."""
    (problem,) = decode_problems("x", m.TurnInput)
    assert problem.endswith("@ $")


def test_constructor_validation_failure_names_the_path() -> None:
    """A value the class itself refuses (an empty model id) names the nested field."""
    problems = decode_problems({"model": {"id": ""}, "provider_id": "p"}, m.SessionPolicy)
    assert len(problems) == 1
    assert problems[0].endswith("@ $.model")


def test_null_for_a_required_string_is_refused() -> None:
    """``null`` for a required string field is refused, not read as ``"None"``."""
    assert decode_problems({"type": "text", "text": None}, m.InputItem) == [
        "expected a string, found null @ $.text"
    ]


def test_object_for_a_string_is_refused() -> None:
    """A JSON object for a string field is refused, not read as ``"{'a': 1}"``."""
    (problem,) = decode_problems({"type": "text", "text": {"a": 1}}, m.InputItem)
    assert problem.endswith("@ $.text")


def test_string_for_a_bool_is_refused() -> None:
    """``"false"`` for a bool field is refused, not read as ``True``."""
    (problem,) = decode_problems({"type": "plugin", "plugin_id": "p", "transient": "false"}, m.MessageOrigin)
    assert problem.endswith("@ $.transient")


def test_fractional_number_for_an_int_is_refused() -> None:
    """``1.7`` for an int field is refused, not truncated to ``1``."""
    (problem,) = decode_problems({"type": "model_request_started", "protocol_iteration": 1.7}, m.TurnEvent)
    assert problem.endswith("@ $.protocol_iteration")


def test_string_for_a_list_is_refused() -> None:
    """A string for a list of strings is refused, not split into characters."""
    data = {"type": "queued_work_started", "boundary": "b", "batch_ids": "abc"}
    (problem,) = decode_problems(data, m.TurnEvent)
    assert problem.endswith("@ $.batch_ids")


# -- base64 ------------------------------------------------------------------------------------


def test_valid_base64_is_decoded() -> None:
    """Standard padded base64 reads as the bytes it encodes."""
    value: m.AttachmentSource = structure(
        {"type": "inline", "data": "aGk=", "media_type": "text/plain"}, m.AttachmentSource
    )
    assert value == m.InlineAttachment(b"hi", "text/plain")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("!!!!", id="not-base64-alphabet"),
        pytest.param("aGk", id="missing-padding"),
        pytest.param("aG k=", id="embedded-space"),
        pytest.param("aGk=\n", id="trailing-newline"),
        pytest.param("aGk-", id="url-safe-alphabet"),
        pytest.param(5, id="number"),
        pytest.param(None, id="null"),
    ],
)
def test_bad_base64_is_refused(data: Any) -> None:
    """Attachment data that is not strict standard base64 text is refused at its path."""
    problems = decode_problems({"type": "inline", "data": data, "media_type": "a/b"}, m.AttachmentSource)
    assert len(problems) == 1
    assert problems[0].endswith("@ $.data")
    assert problems[0].startswith(("invalid value for type, expected bytes", "expected base64 text, found"))


def test_bad_base64_deep_in_a_turn_input_names_the_path() -> None:
    """Bad base64 inside an attachment item names ``$.items[i].source.data``."""
    item = {"type": "attachment", "source": {"type": "inline", "data": "@@", "media_type": "a/b"}}
    problems = decode_problems({"items": [TEXT, item]}, m.TurnInput)
    assert problems == ["invalid value for type, expected bytes @ $.items[1].source.data"]
