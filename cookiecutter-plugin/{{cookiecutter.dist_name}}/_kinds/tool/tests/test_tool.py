"""The ``{{ cookiecutter.entry_point_name }}`` tool in real turns: the scripted provider plays the model,
the standard protocol runs the tool-calling loop, the plugin module is passed to the runtime."""

from __future__ import annotations

import pytest
from lash_core.config import structure_settings
from lash_core.model import FailureOutcome, PartKind, SuccessOutcome
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

from {{ cookiecutter.package_name }} import TOOL_NAME, {{ cookiecutter.__class_prefix }}Settings, count_text, plugin


def test_count_text() -> None:
    """The function itself, without lash."""
    assert count_text("one two\nthree") == {"words": 3, "lines": 2, "characters": 13}
    assert count_text("") == {"words": 0, "lines": 0, "characters": 0}


@pytest.mark.anyio
async def test_the_model_calls_the_tool_and_sees_its_result() -> None:
    """Offered to the model, called with arguments, its result shown to the model."""
    provider = ScriptedProvider(
        [
            reply_tool_calls(call(TOOL_NAME, {"text": "one two three"}, call_id="c1")),
            reply_text("The text has three words."),
        ]
    )
    async with scripted_runtime(provider, plugins=[plugin]) as runtime:
        session = await runtime.session("tool-turn")
        result = await session.turn("How many words are in 'one two three'?").run()

    assert [spec.name for spec in provider.requests[0].tools] == [TOOL_NAME]
    (record,) = result.tool_calls
    assert record.output.outcome == SuccessOutcome({"words": 3, "lines": 1, "characters": 13})
    (seen,) = [p for p in provider.requests[1].messages[-1].parts if p.kind is PartKind.TOOL_RESULT]
    assert '"words": 3' in seen.content or '"words":3' in seen.content
    assert result.assistant_output.raw_text == "The text has three words."


@pytest.mark.anyio
async def test_the_settings_come_from_the_plugins_table() -> None:
    """``[plugins.{{ cookiecutter.entry_point_name }}] max_chars`` limits the text; a longer one is an error result."""
    provider = ScriptedProvider(
        [reply_tool_calls(call(TOOL_NAME, {"text": "far too long"})), reply_text("I cannot count that.")]
    )
    config = {"plugins": {plugin.lash_plugin_name: {"max_chars": 5}}}
    async with scripted_runtime(provider, plugins=[plugin], config=config) as runtime:
        result = await (await runtime.session("tool-limit")).turn("count").run()

    (record,) = result.tool_calls
    assert isinstance(record.output.outcome, FailureOutcome)
    assert record.output.outcome.failure.code == "text_too_long"
    (seen,) = [p for p in provider.requests[1].messages[-1].parts if p.kind is PartKind.TOOL_RESULT]
    assert "at most 5" in seen.content


@pytest.mark.anyio
async def test_invalid_arguments_never_reach_the_function() -> None:
    """lash validates the arguments against the schema and answers the model with the problem."""
    provider = ScriptedProvider([reply_tool_calls(call(TOOL_NAME, {"txt": "typo"})), reply_text("Sorry.")])
    async with scripted_runtime(provider, plugins=[plugin]) as runtime:
        result = await (await runtime.session("tool-args")).turn("count").run()
    (record,) = result.tool_calls
    assert isinstance(record.output.outcome, FailureOutcome)
    assert "text" in record.output.outcome.failure.message


def test_settings_are_checked() -> None:
    """Bad values are problems naming their key."""
    settings, problems = structure_settings({"max_chars": 10}, {{ cookiecutter.__class_prefix }}Settings, "plugins.x")
    assert problems == [] and settings == {{ cookiecutter.__class_prefix }}Settings(max_chars=10)
    _, problems = structure_settings({"max_chars": 0}, {{ cookiecutter.__class_prefix }}Settings, "plugins.x")
    assert problems and "plugins.x" in problems[0]
    _, problems = structure_settings({"max_char": 10}, {{ cookiecutter.__class_prefix }}Settings, "plugins.x")
    assert problems and "plugins.x.max_char" in problems[0]
