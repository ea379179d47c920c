"""Golden wire-format tests: hand-written JSON in ``tests/golden`` pins how the data model is written.

Each fixture file holds a list of ``{"name": ..., "json": ...}`` cases; this module holds the
Python value of every case. A case passes when the value unstructures to exactly the fixture
JSON and the fixture JSON structures back to the value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import attrs
import pytest

from lash_core import model as m
from lash_core.converter import TAGGED_UNIONS, structure, unstructure

GOLDEN_DIR = Path(__file__).parent / "golden"

# -- shared values -----------------------------------------------------------------------------

HELLO_MESSAGE = m.Message("m1", m.Role.USER, parts=(m.Part("m1.p0", m.PartKind.TEXT, "hello"),))
EXIT_1 = m.ToolFailure(m.ToolFailureClass.EXECUTION, "exit_1", "exit status 1")
READ_FILE_SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
TURN_BIG = m.TokenLedgerEntry("turn", "big-model", m.TokenUsage(input_tokens=10, output_tokens=2))


class _Live:
    """A live object that must never reach the wire."""


# -- cases per fixture file ---------------------------------------------------------------------

TOOL_RETRY: dict[str, Any] = {
    "never": m.ToolRetryNever(),
    "safe_default": m.ToolRetrySafe(),
    "safe_after": m.ToolRetrySafe(after_ms=1500),
    "exhausted": m.ToolRetryExhausted(attempts=3),
}

TOOL_OUTCOME: dict[str, Any] = {
    "success_default": m.SuccessOutcome(),
    "success_json": m.SuccessOutcome(value={"rows": [1, 2.5, "x", True, None], "nested": {"ok": False}}),
    "failure_minimal": m.FailureOutcome(
        m.ToolFailure(m.ToolFailureClass.INVALID_REQUEST, "bad_args", "missing path")
    ),
    "failure_full": m.FailureOutcome(
        m.ToolFailure(
            m.ToolFailureClass.TIMEOUT,
            "timeout",
            "took too long",
            source=m.FailureSource.RUNTIME,
            retry=m.ToolRetrySafe(after_ms=250),
            raw="TimeoutError: 30s",
        )
    ),
    "cancelled_default": m.CancelledOutcome(),
    "cancelled_reason": m.CancelledOutcome("turn cancelled"),
}

TOOL_CONTROL: dict[str, Any] = {
    "finish_default": m.FinishControl(),
    "finish_value": m.FinishControl(value={"answer": 42}),
    "fail": m.FailControl(
        m.ToolFailure(
            m.ToolFailureClass.PERMISSION_DENIED, "denied", "not allowed", source=m.FailureSource.POLICY
        )
    ),
    "switch_minimal": m.SwitchAgentFrameControl("f2"),
    "switch_full": m.SwitchAgentFrameControl(
        "f2", task="continue the refactor", initial_messages=(HELLO_MESSAGE,)
    ),
}

PRUNE_STATE: dict[str, Any] = {
    "intact": m.Intact(),
    "cleared": m.Cleared(),
    "deleted": m.Deleted("[output deleted]", "sha256:abc"),
    "summarized": m.Summarized("listed 3 files", "sha256:def"),
}

MESSAGE_ORIGIN: dict[str, Any] = {
    "plugin": m.PluginOrigin("reminders"),
    "plugin_transient": m.PluginOrigin("reminders", transient=True),
    "process_minimal": m.ProcessOrigin("proc-1", "exited", 7),
    "process_full": m.ProcessOrigin("proc-1", "stdout", 0, wake_id="wake-3", caused_by="turn-9"),
}

ATTACHMENT_SOURCE: dict[str, Any] = {
    "inline": m.InlineAttachment(b"\x89PNG", "image/png"),
    "inline_named": m.InlineAttachment(b"hello", "text/plain", name="greeting.txt"),
    "inline_empty": m.InlineAttachment(b"", "application/octet-stream"),
    "stored": m.StoredAttachment(m.AttachmentRef("att-1", "image/png", 1024)),
    "stored_named": m.StoredAttachment(m.AttachmentRef("att-2", "application/pdf", 0, name="report.pdf")),
}

INPUT_ITEM: dict[str, Any] = {
    "text": m.TextItem("hello"),
    "text_empty": m.TextItem(""),
    "attachment_inline": m.AttachmentItem(m.InlineAttachment(b"\x00\xff", "application/octet-stream")),
    "attachment_stored": m.AttachmentItem(m.StoredAttachment(m.AttachmentRef("att-1", "image/png", 10))),
}

TURN_FINISH: dict[str, Any] = {
    "assistant_message": m.AssistantMessage("Done."),
    "final_value": m.FinalValue({"score": 0.5, "tags": ["a"]}),
    "final_value_null": m.FinalValue(None),
    "tool_value": m.ToolValueFinish("submit", [1, 2]),
}

TURN_STOP: dict[str, Any] = {
    "cancelled": m.Cancelled(),
    "incomplete": m.Incomplete(),
    "invalid_input": m.InvalidInput(),
    "max_turns": m.MaxTurns(),
    "tool_failure": m.ToolFailureStop(),
    "provider_error": m.ProviderErrorStop(),
    "plugin_abort_empty": m.PluginAbort(),
    "plugin_abort_full": m.PluginAbort(plugin="guard", code="blocked", message="not allowed here"),
    "runtime_error": m.RuntimeErrorStop(),
    "submitted_error": m.SubmittedError({"error": "bad input"}),
    "tool_error": m.ToolErrorStop("fail_tool", "boom"),
}

TURN_OUTCOME: dict[str, Any] = {
    "finished": m.Finished(m.AssistantMessage("Hi")),
    "finished_tool_value": m.Finished(m.ToolValueFinish("submit", None)),
    "agent_frame_switch_minimal": m.AgentFrameSwitch("f2"),
    "agent_frame_switch_full": m.AgentFrameSwitch(
        "f3",
        task="summarise",
        initial_messages=(
            m.Message("m9", m.Role.SYSTEM, parts=(m.Part("m9.p0", m.PartKind.TEXT, "You are terse."),)),
        ),
    ),
    "stopped": m.Stopped(m.Cancelled()),
    "stopped_plugin_abort": m.Stopped(m.PluginAbort(plugin="guard", code="blocked")),
}

PLUGIN_RUNTIME_EVENT: dict[str, Any] = {
    "status": m.PluginStatusEvent("index", "Indexing"),
    "status_detail": m.PluginStatusEvent("index", "Indexing", detail="3/10 files"),
    "custom_default": m.PluginCustomEvent("ping"),
    "custom_payload": m.PluginCustomEvent("progress", {"done": 3, "total": 10}),
}

TURN_EVENT: dict[str, Any] = {
    "queued_work_started_minimal": m.QueuedWorkStarted("turn_start"),
    "queued_work_started_full": m.QueuedWorkStarted(
        "checkpoint", batch_ids=("b1", "b2"), causes=("user_input",)
    ),
    "model_request_started": m.ModelRequestStarted(0),
    "assistant_prose_delta": m.AssistantProseDelta("Hel"),
    "reasoning_delta": m.ReasoningDelta("thinking"),
    "model_attempt_reset_empty": m.ModelAttemptReset(),
    "model_attempt_reset_full": m.ModelAttemptReset(("c1", "c2"), ("r1",)),
    "code_block_started": m.CodeBlockStarted("python", "print(1)"),
    "code_block_started_graph_key": m.CodeBlockStarted("python", "x = 1", graph_key="g1"),
    "code_block_completed_minimal": m.CodeBlockCompleted("python", "1\n", True, 12),
    "code_block_completed_full": m.CodeBlockCompleted(
        "python", "", False, 0, error="NameError: x", tool_call_ids=("call-1",), graph_key="g1"
    ),
    "tool_call_started_minimal": m.ToolCallStarted(None, "read_file"),
    "tool_call_started_full": m.ToolCallStarted(
        "call-1", "read_file", args={"path": "a.txt"}, graph_key="g1", parent_call_id="call-0"
    ),
    "tool_call_completed": m.ToolCallCompleted(
        "call-1", "read_file", {"path": "a.txt"}, m.ToolCallOutput(m.SuccessOutcome("contents")), 35
    ),
    "tool_call_completed_failure": m.ToolCallCompleted(
        None,
        "shell",
        None,
        m.ToolCallOutput(m.FailureOutcome(EXIT_1), control=m.FailControl(EXIT_1)),
        4,
        graph_key="g2",
        parent_call_id="call-0",
    ),
    "final_value": m.FinalValueEvent({"x": 1}),
    "final_value_null": m.FinalValueEvent(None),
    "tool_value": m.ToolValueEvent("submit", "ok"),
    "usage": m.UsageEvent(
        1,
        m.TokenUsage(input_tokens=10, output_tokens=5),
        m.TokenUsage(input_tokens=30, output_tokens=12, cache_read_input_tokens=100),
    ),
    "child_usage": m.ChildUsage(
        "s-child",
        "subagent",
        "small-model",
        2,
        m.TokenUsage(output_tokens=8, reasoning_output_tokens=4),
        m.TokenUsage(),
    ),
    "retry_status": m.RetryStatus(2.5, 1, 3, "rate_limit"),
    "plugin_runtime": m.PluginRuntime("reminders", m.PluginStatusEvent("k", "Reminding")),
    "plugin_runtime_custom": m.PluginRuntime("reminders", m.PluginCustomEvent("fired", [1, "two"])),
    "queued_input_accepted_minimal": m.QueuedInputAccepted("after_tool"),
    "queued_input_accepted": m.QueuedInputAccepted("after_tool", ("in-1", "in-2")),
    "queued_messages_committed": m.QueuedMessagesCommitted(
        "after_tool",
        (
            m.Message(
                "m5",
                m.Role.EVENT,
                parts=(m.Part("m5.p0", m.PartKind.TEXT, "process exited"),),
                origin=m.ProcessOrigin("proc-1", "exited", 3),
            ),
        ),
    ),
    "error": m.ErrorEvent("something failed"),
    "error_code": m.ErrorEvent("quota exceeded", code="quota"),
}

LLM_PART: dict[str, Any] = {
    "text": m.LlmTextPart("Hello"),
    "text_meta": m.LlmTextPart("Hello", response_meta={"phase": "final"}),
    "text_invisible": m.LlmTextPart("Checking.", response_meta={"phase": "commentary"}, visible=False),
    "reasoning": m.LlmReasoningPart("think"),
    "reasoning_replay": m.LlmReasoningPart("", replay={"encrypted_content": "xyz", "signature": "sig"}),
    "tool_call": m.LlmToolCallPart("call-1", "read_file", '{"path": "a.txt"}'),
    "tool_call_replay": m.LlmToolCallPart("call-2", "noop", "{}", replay=["fc_2"]),
}

LLM_STREAM_EVENT: dict[str, Any] = {
    "text_delta": m.StreamTextDelta("Hel"),
    "reasoning_delta": m.StreamReasoningDelta("hmm"),
    "tool_call_start": m.StreamToolCallStart(0, "call-1", "read_file"),
    "tool_call_delta": m.StreamToolCallDelta(0, '{"pa'),
    "usage": m.StreamUsage(m.TokenUsage(input_tokens=3)),
    "usage_zero": m.StreamUsage(m.TokenUsage()),
    "retry": m.StreamRetry(1.5, 2, 5, "overloaded"),
    "attempt_reset": m.StreamAttemptReset(),
}

MESSAGE: dict[str, Any] = {
    "empty_system": m.Message("m0", m.Role.SYSTEM),
    "user_text": HELLO_MESSAGE,
    "every_part_kind": m.Message(
        "m2",
        m.Role.ASSISTANT,
        parts=(
            m.Part("m2.p0", m.PartKind.TEXT, "plain"),
            m.Part(
                "m2.p1",
                m.PartKind.ATTACHMENT,
                attachment=m.AttachmentRef("att-1", "image/png", 2048, name="chart.png"),
            ),
            m.Part("m2.p2", m.PartKind.CODE, "print(1)"),
            m.Part("m2.p3", m.PartKind.OUTPUT, "1"),
            m.Part("m2.p4", m.PartKind.ERROR, "NameError: x"),
            m.Part("m2.p5", m.PartKind.PROSE, "Here is the result."),
            m.Part(
                "m2.p6",
                m.PartKind.TOOL_CALL,
                '{"path": "a.txt"}',
                tool_call_id="call-1",
                tool_name="read_file",
            ),
            m.Part(
                "m2.p7",
                m.PartKind.TOOL_RESULT,
                "contents",
                tool_call_id="call-1",
                tool_name="read_file",
                tool_output=m.ToolCallOutput(m.SuccessOutcome("contents")),
                tool_replay={"id": "fc_1"},
            ),
            m.Part(
                "m2.p8",
                m.PartKind.REASONING,
                "thinking",
                reasoning_meta={"signature": "sig"},
                response_meta={"item_id": "rs_1"},
            ),
        ),
    ),
    "event_with_origin": m.Message(
        "m3",
        m.Role.EVENT,
        parts=(m.Part("m3.p0", m.PartKind.TEXT, "reminder"),),
        origin=m.PluginOrigin("reminders", transient=True),
    ),
    "pruned_parts": m.Message(
        "m4",
        m.Role.ASSISTANT,
        parts=(
            m.Part("m4.p0", m.PartKind.OUTPUT, "long output", prune_state=m.Cleared()),
            m.Part("m4.p1", m.PartKind.OUTPUT, prune_state=m.Deleted("[deleted]", "sha256:1")),
            m.Part("m4.p2", m.PartKind.OUTPUT, prune_state=m.Summarized("3 rows", "sha256:2")),
        ),
    ),
}

PART: dict[str, Any] = {
    "text_empty_content": m.Part("m1.p0", m.PartKind.TEXT),
    "attachment_unnamed": m.Part(
        "m1.p1", m.PartKind.ATTACHMENT, attachment=m.AttachmentRef("att-9", "text/plain", 5)
    ),
    "tool_result_failure_with_control": m.Part(
        "m7.p2",
        m.PartKind.TOOL_RESULT,
        "error: denied",
        tool_call_id="call-3",
        tool_name="write_file",
        tool_output=m.ToolCallOutput(
            m.FailureOutcome(
                m.ToolFailure(
                    m.ToolFailureClass.PERMISSION_DENIED,
                    "denied",
                    "read-only",
                    source=m.FailureSource.POLICY,
                    retry=m.ToolRetryExhausted(2),
                )
            ),
            control=m.FinishControl("stop here"),
        ),
        prune_state=m.Cleared(),
    ),
    "prose_invisible": m.Part(
        "m3.p0",
        m.PartKind.PROSE,
        "Checking.",
        response_meta={"id": "msg_1", "phase": "commentary"},
        visible=False,
    ),
}

TURN_INPUT: dict[str, Any] = {
    "empty": m.TurnInput(),
    "text": m.TurnInput.text("hi"),
    "empty_context": m.TurnInput(context=m.TurnContext()),
    "every_item_and_context": m.TurnInput(
        items=(
            m.TextItem("look at these"),
            m.AttachmentItem(m.InlineAttachment(b"hello", "text/plain", name="a.txt")),
            m.AttachmentItem(m.StoredAttachment(m.AttachmentRef("att-1", "image/png", 10))),
        ),
        protocol_turn_options={"max_steps": 4},
        trace_turn_id="trace-1",
        context=m.TurnContext(
            provider_override="backup",
            prompt=m.PromptLayer(
                template="You are {name}.",
                contributions=(
                    m.PromptContribution("tools", "Use tools."),
                    m.PromptContribution("style", "Be brief.", priority=5, tools=("read_file",)),
                ),
                replace_slots={"intro": "Hello"},
                clear_slots=("outro",),
            ),
        ),
    ),
    "empty_prompt_layer": m.TurnInput(
        protocol_turn_options={}, context=m.TurnContext(prompt=m.PromptLayer())
    ),
    "structured_output": m.TurnInput.text(
        "list the files", context=m.TurnContext(output_spec=m.JsonSchemaOutput("files", READ_FILE_SCHEMA))
    ),
    "live_fields_not_written": m.TurnInput(
        items=(m.TextItem("x"),),
        context=m.TurnContext(provider_override="p", plugin_inputs={"memo": _Live()}),
        protocol_extension=_Live(),
    ),
}

TURN_ACTIVITY: dict[str, Any] = {
    "prose": m.TurnActivity("act-1", "corr-1", m.AssistantProseDelta("Hi")),
    "tool_call_completed": m.TurnActivity(
        "act-2",
        "call-1",
        m.ToolCallCompleted(
            "call-1", "read_file", {"path": "a.txt"}, m.ToolCallOutput(m.CancelledOutcome()), 1
        ),
    ),
}

ASSEMBLED_TURN: dict[str, Any] = {
    "minimal": m.AssembledTurn(
        "s1",
        "t1",
        m.Finished(m.AssistantMessage("Hi")),
        m.AssistantOutput("Hi", "Hi ", m.OutputState.USABLE),
        m.ExecutionSummary(False, False, 1000, 250),
        m.TokenUsage(input_tokens=10, output_tokens=2),
        3,
    ),
    "full": m.AssembledTurn(
        "s1",
        "t2",
        m.Stopped(m.Cancelled()),
        m.AssistantOutput("", "", m.OutputState.RECOVERED_FROM_ERROR),
        m.ExecutionSummary(True, True, 0, 0),
        m.TokenUsage(),
        0,
        messages=(HELLO_MESSAGE,),
        tool_calls=(
            m.ToolCallRecord(
                "call-1", "read_file", {"path": "a.txt"}, m.ToolCallOutput(m.SuccessOutcome("x")), 12
            ),
        ),
        errors=(
            m.TurnIssue(
                "provider",
                "rate limited",
                code="429",
                terminal_reason="provider_error",
                raw="HTTP 429",
                retryable=True,
                provider_failure_kind="rate_limit",
            ),
            m.TurnIssue("plugin", "aborted", retryable=False),
        ),
        usage_by_source=(
            TURN_BIG,
            m.TokenLedgerEntry(
                "subagent",
                "small-model",
                m.TokenUsage(input_tokens=5, output_tokens=1, reasoning_output_tokens=1),
            ),
        ),
        cancellation_reason="user",
    ),
    "other_output_states": m.AssembledTurn(
        "s2",
        "t1",
        m.AgentFrameSwitch("f2"),
        m.AssistantOutput("", "", m.OutputState.EMPTY_OUTPUT),
        m.ExecutionSummary(False, True, 5, 6),
        m.TokenUsage(cache_write_input_tokens=7),
        1,
        errors=(m.TurnIssue("output", "traceback only", terminal_reason="traceback_only"),),
    ),
}

TOOL_CALL_OUTPUT: dict[str, Any] = {
    "success": m.ToolCallOutput(m.SuccessOutcome(3)),
    "cancelled": m.ToolCallOutput(m.CancelledOutcome()),
    "finish_control": m.ToolCallOutput(m.SuccessOutcome("done"), control=m.FinishControl("done")),
    "fail_control": m.ToolCallOutput(
        m.SuccessOutcome(),
        control=m.FailControl(m.ToolFailure(m.ToolFailureClass.EXTERNAL, "upstream", "bad gateway")),
    ),
    "switch_control": m.ToolCallOutput(
        m.SuccessOutcome(), control=m.SwitchAgentFrameControl("f2", task="next")
    ),
}

TOOL_FAILURE: dict[str, Any] = {
    "minimal": m.ToolFailure(m.ToolFailureClass.INTERNAL, "bug", "unexpected"),
    # An explicitly written retry equal to the default is still omitted.
    "full": m.ToolFailure(
        m.ToolFailureClass.RESOURCE_LIMIT,
        "too_big",
        "output exceeds 1 MB",
        source=m.FailureSource.RUNTIME,
        retry=m.ToolRetryNever(),
        raw="size=2000000",
    ),
    "cancellation_source": m.ToolFailure(
        m.ToolFailureClass.UNAVAILABLE,
        "gone",
        "tool removed",
        source=m.FailureSource.CANCELLATION,
        retry=m.ToolRetrySafe(),
    ),
}

TOOL_CALL: dict[str, Any] = {
    "default_arguments": m.ToolCall("call-1", "read_file"),
    "arguments": m.ToolCall("call-2", "read_file", '{"path": "a"}'),
}

TOKEN_USAGE: dict[str, Any] = {
    "zero": m.TokenUsage(),
    "output_only": m.TokenUsage(output_tokens=7),
    "every_bucket": m.TokenUsage(100, 40, 900, 50, 30),
}

TOKEN_LEDGER: dict[str, Any] = {
    "empty": m.TokenLedger(),
    "two_entries": m.TokenLedger(
        (
            TURN_BIG,
            m.TokenLedgerEntry("compaction", "big-model", m.TokenUsage(cache_read_input_tokens=5)),
        )
    ),
}

_SUBAGENT_BIG = m.TokenLedgerEntry(
    "subagent", "big-model", m.TokenUsage(input_tokens=5, output_tokens=1, reasoning_output_tokens=1)
)
USAGE_REPORT: dict[str, Any] = {
    "empty": m.UsageReport(0, m.TokenUsage(), 0),
    "full": m.UsageReport(
        entry_count=2,
        usage=m.TokenUsage(input_tokens=15, output_tokens=3, reasoning_output_tokens=1),
        total_tokens=18,
        by_source={"turn": TURN_BIG.usage, "subagent": _SUBAGENT_BIG.usage},
        by_model={"big-model": m.TokenUsage(input_tokens=15, output_tokens=3, reasoning_output_tokens=1)},
        by_source_model=(TURN_BIG, _SUBAGENT_BIG),
    ),
}

MODEL_SPEC: dict[str, Any] = {
    "minimal": m.ModelSpec("gpt-x"),
    "full": m.ModelSpec(
        "claude-x",
        context_window_tokens=200_000,
        output_token_capacity=64_000,
        reasoning_effort="high",
        cache_dialect="anthropic",
        reasoning_dialect="anthropic_thinking",
        attachment_media_types=("image/*", "application/pdf"),
        structured_output=False,
    ),
}

SESSION_POLICY: dict[str, Any] = {
    "minimal": m.SessionPolicy(m.ModelSpec("gpt-x"), "openai"),
    "full": m.SessionPolicy(
        m.ModelSpec("gpt-x", context_window_tokens=32_000),
        "openai",
        max_turns=10,
        system_prompt="You are helpful.",
        prompt=m.PromptLayer(contributions=(m.PromptContribution("rules", "No guessing.", priority=-1),)),
        autonomous=True,
        generation={"temperature": 0.2, "stop": ["\n\n"]},
    ),
}

AGENT_FRAME_RECORD: dict[str, Any] = {
    "initial": m.AgentFrameRecord(m.initial_frame_id("s1"), "s1", m.FrameStatus.ACTIVE, "initial", 0),
    "superseded_full": m.AgentFrameRecord(
        "s1:frame:2",
        "s1",
        m.FrameStatus.SUPERSEDED,
        "switch_agent_frame",
        1_700_000_000_000,
        previous_frame_id="s1:frame:initial",
        caused_by="call-7",
        protocol_turn_options={"mode": "plan"},
    ),
}

LLM_REQUEST: dict[str, Any] = {
    "minimal": m.LlmRequest(m.ModelSpec("gpt-x"), "", ()),
    "full": m.LlmRequest(
        m.ModelSpec("gpt-x", reasoning_effort="low"),
        "Be brief.",
        (HELLO_MESSAGE,),
        tools=(m.ToolSpec("read_file", "Read a file.", {**READ_FILE_SCHEMA, "required": ["path"]}),),
        tool_choice=m.ToolChoice.REQUIRED,
        max_output_tokens=1024,
        temperature=0.7,
        reasoning_effort="high",
        session_id="s1",
        request_id="req-1",
    ),
    "tool_choice_none": m.LlmRequest(m.ModelSpec("gpt-x"), "s", (), tool_choice=m.ToolChoice.NONE),
    "json_output": m.LlmRequest(m.ModelSpec("gpt-x"), "", (), output_spec=m.JsonObjectOutput()),
}

OUTPUT_SPEC: dict[str, Any] = {
    "json_object": m.JsonObjectOutput(),
    "json_schema": m.JsonSchemaOutput("answer", {**READ_FILE_SCHEMA, "required": ["path"]}),
    "json_schema_loose": m.JsonSchemaOutput("answer-v2", {"type": "object"}, strict=False),
}

LLM_RESPONSE: dict[str, Any] = {
    "empty": m.LlmResponse(),
    "full": m.LlmResponse(
        parts=(
            m.LlmReasoningPart("plan", replay={"signature": "sig"}),
            m.LlmTextPart("Reading."),
            m.LlmToolCallPart("call-1", "read_file", "{}"),
        ),
        usage=m.TokenUsage(input_tokens=20, output_tokens=9, reasoning_output_tokens=4),
        terminal_reason=m.TerminalReason.TOOL_USE,
        model="gpt-x-2025",
        response_id="resp-1",
        provider_finish_reason="tool_calls",
        terminal_diagnostic="1 tool call",
    ),
    "output_limit": m.LlmResponse(terminal_reason=m.TerminalReason.OUTPUT_LIMIT),
}

PROVIDER_FAILURE: dict[str, Any] = {
    "minimal": m.ProviderFailure(m.ProviderFailureKind.UNKNOWN, "?"),
    "full": m.ProviderFailure(
        m.ProviderFailureKind.RATE_LIMIT,
        "slow down",
        retryable=True,
        status=429,
        code="rate_limit_exceeded",
        retry_after_seconds=2.5,
        raw='{"error": "rate"}',
    ),
}

TOOL_SPEC: dict[str, Any] = {
    "minimal": m.ToolSpec("noop", "", {}),
    "strict": m.ToolSpec("read_file", "Read a file.", READ_FILE_SCHEMA, strict=True),
}

# fixture file stem -> (type the cases are read as, cases)
UNION_GOLDEN: dict[str, tuple[Any, dict[str, Any]]] = {
    "tool_retry": (m.ToolRetry, TOOL_RETRY),
    "tool_outcome": (m.ToolOutcome, TOOL_OUTCOME),
    "tool_control": (m.ToolControl, TOOL_CONTROL),
    "prune_state": (m.PruneState, PRUNE_STATE),
    "message_origin": (m.MessageOrigin, MESSAGE_ORIGIN),
    "attachment_source": (m.AttachmentSource, ATTACHMENT_SOURCE),
    "input_item": (m.InputItem, INPUT_ITEM),
    "turn_finish": (m.TurnFinish, TURN_FINISH),
    "turn_stop": (m.TurnStop, TURN_STOP),
    "turn_outcome": (m.TurnOutcome, TURN_OUTCOME),
    "plugin_runtime_event": (m.PluginRuntimeEvent, PLUGIN_RUNTIME_EVENT),
    "turn_event": (m.TurnEvent, TURN_EVENT),
    "llm_part": (m.LlmPart, LLM_PART),
    "llm_stream_event": (m.LlmStreamEvent, LLM_STREAM_EVENT),
    "output_spec": (m.OutputSpec, OUTPUT_SPEC),
}
RECORD_GOLDEN: dict[str, tuple[Any, dict[str, Any]]] = {
    "message": (m.Message, MESSAGE),
    "part": (m.Part, PART),
    "turn_input": (m.TurnInput, TURN_INPUT),
    "turn_activity": (m.TurnActivity, TURN_ACTIVITY),
    "assembled_turn": (m.AssembledTurn, ASSEMBLED_TURN),
    "tool_call_output": (m.ToolCallOutput, TOOL_CALL_OUTPUT),
    "tool_failure": (m.ToolFailure, TOOL_FAILURE),
    "tool_call": (m.ToolCall, TOOL_CALL),
    "token_usage": (m.TokenUsage, TOKEN_USAGE),
    "token_ledger": (m.TokenLedger, TOKEN_LEDGER),
    "usage_report": (m.UsageReport, USAGE_REPORT),
    "model_spec": (m.ModelSpec, MODEL_SPEC),
    "session_policy": (m.SessionPolicy, SESSION_POLICY),
    "agent_frame_record": (m.AgentFrameRecord, AGENT_FRAME_RECORD),
    "llm_request": (m.LlmRequest, LLM_REQUEST),
    "llm_response": (m.LlmResponse, LLM_RESPONSE),
    "provider_failure": (m.ProviderFailure, PROVIDER_FAILURE),
    "tool_spec": (m.ToolSpec, TOOL_SPEC),
}
GOLDEN: dict[str, tuple[Any, dict[str, Any]]] = {**UNION_GOLDEN, **RECORD_GOLDEN}


# -- helpers ------------------------------------------------------------------------------------


def load_fixture(stem: str) -> list[dict[str, Any]]:
    """The cases of one fixture file."""
    with (GOLDEN_DIR / f"{stem}.json").open(encoding="utf-8") as handle:
        cases: list[dict[str, Any]] = json.load(handle)
    return cases


def fixture_json(stem: str, name: str) -> Any:
    """The expected JSON of one named case."""
    matches = [case["json"] for case in load_fixture(stem) if case["name"] == name]
    assert len(matches) == 1, f"{stem}.json must hold exactly one case named {name!r}"
    return matches[0]


def assert_json_identical(actual: Any, expected: Any, path: str = "$") -> None:
    """Equality that also tells ``true`` from ``1``, ``1.0`` from ``1`` and a list from a tuple."""
    assert type(actual) is type(expected), f"{path}: {type(actual).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key, value in expected.items():
            assert_json_identical(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_json_identical(got, want, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def tagged_objects_with_tag_not_first(data: Any, path: str = "$") -> list[str]:
    """Paths of objects that carry a ``type`` key anywhere but first."""
    found: list[str] = []
    if isinstance(data, dict):
        if "type" in data and next(iter(data)) != "type":
            found.append(path)
        for key, value in data.items():
            found.extend(tagged_objects_with_tag_not_first(value, f"{path}.{key}"))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(tagged_objects_with_tag_not_first(value, f"{path}[{index}]"))
    return found


def attrs_instances(value: Any) -> list[Any]:
    """Every attrs instance reachable from ``value`` (including itself)."""
    found: list[Any] = []
    if attrs.has(type(value)):
        found.append(value)
        for field in attrs.fields(type(value)):
            found.extend(attrs_instances(getattr(value, field.name)))
    elif isinstance(value, tuple | list):
        for item in value:
            found.extend(attrs_instances(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(attrs_instances(item))
    return found


def _cases(golden: dict[str, tuple[Any, dict[str, Any]]]) -> list[Any]:
    return [
        pytest.param(stem, as_type, name, value, id=f"{stem}:{name}")
        for stem, (as_type, cases) in golden.items()
        for name, value in cases.items()
    ]


ALL_CASES = _cases(GOLDEN)
UNION_CASES = _cases(UNION_GOLDEN)


# -- golden cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(("stem", "as_type", "name", "value"), ALL_CASES)
def test_value_unstructures_to_golden_json(stem: str, as_type: Any, name: str, value: Any) -> None:
    """The value is written exactly as the hand-written fixture says."""
    assert_json_identical(unstructure(value, as_type), fixture_json(stem, name))


@pytest.mark.parametrize(("stem", "as_type", "name", "value"), ALL_CASES)
def test_golden_json_structures_to_value(stem: str, as_type: Any, name: str, value: Any) -> None:
    """The fixture JSON reads back as the value."""
    assert structure(fixture_json(stem, name), as_type) == value


@pytest.mark.parametrize(("stem", "as_type", "name", "value"), ALL_CASES)
def test_type_tag_is_written_first(stem: str, as_type: Any, name: str, value: Any) -> None:
    """Every tagged object in the written JSON starts with its ``type`` key."""
    assert tagged_objects_with_tag_not_first(unstructure(value, as_type)) == []


@pytest.mark.parametrize(("stem", "as_type", "name", "value"), UNION_CASES)
def test_variant_unstructured_on_its_own_carries_its_tag(
    stem: str, as_type: Any, name: str, value: Any
) -> None:
    """A variant written without the union type still has its tag."""
    assert_json_identical(unstructure(value), fixture_json(stem, name))


@pytest.mark.parametrize(("stem", "as_type", "name", "value"), UNION_CASES)
def test_variant_structured_as_its_own_class_accepts_its_tag(
    stem: str, as_type: Any, name: str, value: Any
) -> None:
    """A tagged variant's JSON reads as the variant class itself, not only as the union."""
    assert structure(fixture_json(stem, name), type(value)) == value


# -- live fields -------------------------------------------------------------------------------


def test_live_fields_come_back_as_defaults() -> None:
    """Live fields are not written, so a read value has their defaults."""
    read: m.TurnInput = structure(fixture_json("turn_input", "live_fields_not_written"), m.TurnInput)
    assert read.protocol_extension is None
    assert read.context is not None
    assert read.context.plugin_inputs == {}


def test_live_field_value_is_set_in_the_golden_case() -> None:
    """The live-field case really carries live values (so the golden check is meaningful)."""
    value = TURN_INPUT["live_fields_not_written"]
    assert isinstance(value.protocol_extension, _Live)
    assert isinstance(value.context.plugin_inputs["memo"], _Live)


# -- meta tests --------------------------------------------------------------------------------


def test_every_fixture_file_is_registered() -> None:
    """Every JSON file in ``tests/golden`` has Python values in this module, and vice versa."""
    assert {path.stem for path in GOLDEN_DIR.glob("*.json")} == set(GOLDEN)


@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_fixture_case_names_match_python_values(stem: str) -> None:
    """A fixture file names each case once, and exactly the cases this module defines."""
    names = [case["name"] for case in load_fixture(stem)]
    assert len(names) == len(set(names)), f"duplicate case names in {stem}.json"
    assert set(names) == set(GOLDEN[stem][1])


@pytest.mark.parametrize("stem", sorted(GOLDEN))
def test_fixture_cases_have_only_name_and_json(stem: str) -> None:
    """Each fixture case is exactly ``{"name": ..., "json": ...}``."""
    assert all(set(case) == {"name", "json"} for case in load_fixture(stem))


def test_every_tagged_union_has_a_fixture_file() -> None:
    """Each union in ``TAGGED_UNIONS`` is covered by one fixture file."""
    covered = [as_type for as_type, _ in UNION_GOLDEN.values()]
    assert [union for union in TAGGED_UNIONS if union not in covered] == []


@pytest.mark.parametrize("union", TAGGED_UNIONS, ids=lambda union: str(union))
def test_every_variant_of_every_union_has_a_golden_case(union: Any) -> None:
    """Adding a variant to a tagged union without a golden case fails here."""
    cases = next(cases for as_type, cases in UNION_GOLDEN.values() if as_type == union)
    written = {type(value) for value in cases.values()}
    missing = [cls.__name__ for cls in get_args(union) if cls not in written]
    assert missing == []


def test_every_variant_appears_somewhere_in_the_fixtures() -> None:
    """Every variant class of every union is reachable from some golden value."""
    reachable = {
        type(instance)
        for _, cases in GOLDEN.values()
        for value in cases.values()
        for instance in attrs_instances(value)
    }
    variants = {cls for union in TAGGED_UNIONS for cls in get_args(union)}
    assert sorted(cls.__name__ for cls in variants - reachable) == []


def test_message_fixtures_cover_every_part_kind() -> None:
    """The message fixtures hold a part of every ``PartKind``."""
    kinds = {part.kind for message in MESSAGE.values() for part in message.parts}
    assert kinds == set(m.PartKind)


def test_fixtures_cover_every_role() -> None:
    """The message fixtures use every ``Role``."""
    assert {message.role for message in MESSAGE.values()} == set(m.Role)


def test_fields_written_with_their_default_value_are_read() -> None:
    """JSON that spells out default values (not what the writer emits) still reads."""
    data = {
        "class": "internal",
        "code": "bug",
        "message": "unexpected",
        "source": "tool",
        "retry": {"type": "never"},
        "raw": None,
    }
    assert structure(data, m.ToolFailure) == TOOL_FAILURE["minimal"]
