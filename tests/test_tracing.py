"""Traces: the jsonl sink records a turn's steps in order, isolates failures and redacts secrets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lash_core import tool
from lash_core.builtin import jsonl_trace
from lash_core.hooks import hookimpl
from lash_core.model import AssistantMessage, Finished, TokenUsage, TurnInput
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

SYSTEM_PROMPT = "You are a careful assistant."


@tool
async def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def tool_turn_provider(call_id: str = "call_lookup") -> ScriptedProvider:
    """A model that calls ``lookup`` once, then answers."""
    return ScriptedProvider(
        [
            reply_tool_calls(
                call("lookup", {"key": "k"}, call_id=call_id),
                usage=TokenUsage(input_tokens=12, output_tokens=4),
            ),
            reply_text("done", usage=TokenUsage(input_tokens=30, output_tokens=2)),
        ]
    )


def jsonl_config(directory: Path, **settings: Any) -> dict[str, Any]:
    """Runtime configuration with one jsonl trace sink writing under ``directory``."""
    return {
        "system_prompt": SYSTEM_PROMPT,
        "trace_sinks": [{"type": "jsonl", "settings": {"directory": str(directory), **settings}}],
    }


def strings(value: Any) -> list[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def file_names(directory: Path) -> list[str]:
    """The sorted names of the files in ``directory``."""
    return sorted(path.name for path in directory.iterdir())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON records of a trace file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class BrokenSink:
    """A trace sink whose every call fails."""

    def append(self, record: dict[str, Any]) -> None:
        raise OSError("disk on fire")

    def flush(self) -> None:
        raise OSError("disk on fire")


class BrokenSinkPlugin:
    lash_plugin_name = "broken-sink"

    @hookimpl
    def register_trace_sinks(self, register: Any) -> None:
        register("broken", lambda settings=None: BrokenSink())


@pytest.mark.anyio
async def test_tool_turn_writes_its_records_in_order(tmp_path: Path) -> None:
    """A tool turn writes turn_started, prompt_built, llm_call, tool_call, llm_call, turn_completed to <session>.jsonl."""
    async with scripted_runtime(
        tool_turn_provider(), tools=[lookup], plugins=[jsonl_trace], config=jsonl_config(tmp_path)
    ) as rt:
        session = await rt.session("s1")
        await session.turn("go", turn_id="t1").run()
    records = read_records(tmp_path / "s1.jsonl")
    assert [r["type"] for r in records] == [
        "turn_started",
        "prompt_built",
        "llm_call",
        "tool_call",
        "llm_call",
        "turn_completed",
    ]
    assert {(r["session_id"], r["turn_id"], r["schema_version"]) for r in records} == {("s1", "t1", 1)}
    assert len({r["id"] for r in records}) == len(records)


@pytest.mark.anyio
async def test_prompt_built_record_hashes_the_system_prompt(tmp_path: Path) -> None:
    """prompt_built carries the sha256 of the system prompt and its length."""
    async with scripted_runtime(
        tool_turn_provider(), tools=[lookup], plugins=[jsonl_trace], config=jsonl_config(tmp_path)
    ) as rt:
        session = await rt.session("s1")
        await session.turn("go").run()
    (prompt,) = [r for r in read_records(tmp_path / "s1.jsonl") if r["type"] == "prompt_built"]
    assert prompt["prompt_hash"] == hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()
    assert prompt["prompt_chars"] == len(SYSTEM_PROMPT)
    assert prompt["tool_count"] == 1


@pytest.mark.anyio
async def test_llm_call_and_tool_call_records_carry_their_details(tmp_path: Path) -> None:
    """llm_call records carry model, duration and usage; tool_call records carry the call and its outcome."""
    async with scripted_runtime(
        tool_turn_provider(), tools=[lookup], plugins=[jsonl_trace], config=jsonl_config(tmp_path)
    ) as rt:
        session = await rt.session("s1")
        await session.turn("go").run()
    records = read_records(tmp_path / "s1.jsonl")
    llm = [r for r in records if r["type"] == "llm_call"]
    assert [r["model"] for r in llm] == ["scripted", "scripted"]
    assert all(isinstance(r["duration_ms"], int) and r["duration_ms"] >= 0 for r in llm)
    assert [(r["usage"]["input_tokens"], r["usage"]["output_tokens"]) for r in llm] == [(12, 4), (30, 2)]
    assert [r["terminal_reason"] for r in llm] == ["tool_use", "stop"]
    (tool_call,) = [r for r in records if r["type"] == "tool_call"]
    assert (tool_call["name"], tool_call["call_id"], tool_call["outcome"]) == (
        "lookup",
        "call_lookup",
        "success",
    )


@pytest.mark.anyio
async def test_turn_completed_record_carries_status_and_done_reason(tmp_path: Path) -> None:
    """turn_completed records the turn's status and done reason."""
    async with scripted_runtime(
        tool_turn_provider(), tools=[lookup], plugins=[jsonl_trace], config=jsonl_config(tmp_path)
    ) as rt:
        session = await rt.session("s1")
        await session.turn("go").run()
    completed = read_records(tmp_path / "s1.jsonl")[-1]
    assert completed["type"] == "turn_completed"
    assert (completed["status"], completed["done_reason"]) == ("completed", "assistant_message")
    assert completed["agent_frame_switch"] is False


@pytest.mark.anyio
async def test_each_session_has_its_own_trace_file(tmp_path: Path) -> None:
    """Two sessions write to two files, each holding only its own records."""
    provider = ScriptedProvider([reply_text("a"), reply_text("b")])
    async with scripted_runtime(provider, plugins=[jsonl_trace], config=jsonl_config(tmp_path)) as rt:
        await (await rt.session("alpha")).turn("x").run()
        await (await rt.session("beta")).turn("y").run()
    assert file_names(tmp_path) == ["alpha.jsonl", "beta.jsonl"]
    assert {r["session_id"] for r in read_records(tmp_path / "alpha.jsonl")} == {"alpha"}
    assert {r["session_id"] for r in read_records(tmp_path / "beta.jsonl")} == {"beta"}


@pytest.mark.anyio
async def test_failing_sink_does_not_fail_the_turn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A trace sink that raises is logged; the turn finishes and the other sinks still get every record."""
    config = jsonl_config(tmp_path)
    config["trace_sinks"] = [{"type": "broken"}, *config["trace_sinks"]]
    plugins = [jsonl_trace, BrokenSinkPlugin()]
    async with scripted_runtime(tool_turn_provider(), tools=[lookup], plugins=plugins, config=config) as rt:
        session = await rt.session("s1")
        result = await session.turn("go").run()
    assert result.outcome == Finished(AssistantMessage("done"))
    assert result.head_revision == 1
    assert len(read_records(tmp_path / "s1.jsonl")) == 6
    assert any("trace sink" in r.getMessage() for r in caplog.records if r.name == "lash.tracing")


@pytest.mark.anyio
async def test_redacted_secrets_never_appear_in_the_file(tmp_path: Path) -> None:
    """Configured redact secrets are replaced before anything is written."""
    secret = "sk-live-0123456789abcdef"
    config = jsonl_config(tmp_path, redact=[secret])
    provider = tool_turn_provider(call_id=f"call-{secret}")
    async with scripted_runtime(provider, tools=[lookup], plugins=[jsonl_trace], config=config) as rt:
        session = await rt.session("s1")
        await session.turn("go", turn_id=f"turn-{secret}").run()
    text = (tmp_path / "s1.jsonl").read_text(encoding="utf-8")
    assert secret not in text
    records = read_records(tmp_path / "s1.jsonl")
    assert not [value for value in strings(records) if secret in value]
    assert len(records) == 6
    assert {r["turn_id"] for r in records} == {"turn-[redacted]"}
    (tool_call,) = [r for r in records if r["type"] == "tool_call"]
    assert tool_call["call_id"] == "call-[redacted]"


@pytest.mark.anyio
async def test_redacted_secrets_with_json_escaped_characters_never_appear(tmp_path: Path) -> None:
    """A secret holding characters JSON escapes (quote, backslash) is redacted from the decoded records too."""
    secret = 'pa"ss\\word-42'
    config = jsonl_config(tmp_path, redact=[secret])
    async with scripted_runtime(
        tool_turn_provider(), tools=[lookup], plugins=[jsonl_trace], config=config
    ) as rt:
        session = await rt.session("s1")
        await session.turn("go", turn_id=f"turn-{secret}").run()
    records = read_records(tmp_path / "s1.jsonl")
    assert len(records) == 6
    assert not [text for text in strings(records) if secret in text]
    assert {r["turn_id"] for r in records} == {"turn-[redacted]"}


@pytest.mark.anyio
async def test_invalid_input_turn_still_writes_turn_completed(tmp_path: Path) -> None:
    """A turn refused for invalid input writes turn_completed (failed, invalid_input) after turn_started."""
    async with scripted_runtime(
        ScriptedProvider(), plugins=[jsonl_trace], config=jsonl_config(tmp_path)
    ) as rt:
        session = await rt.session("s1")
        await session.turn(TurnInput(items=()), turn_id="t1").run()
    records = read_records(tmp_path / "s1.jsonl")
    assert [r["type"] for r in records] == ["turn_started", "turn_completed"]
    assert (records[1]["status"], records[1]["done_reason"]) == ("failed", "invalid_input")
