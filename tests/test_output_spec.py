"""Structured output: the output spec model, how a turn and a direct completion ask for it, and
the check every HTTP provider makes before sending it."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import ToolContext, tool
from lash_core.errors import ProviderError
from lash_core.model import (
    JsonObjectOutput,
    JsonSchemaOutput,
    LlmRequest,
    Message,
    ModelSpec,
    Part,
    PartKind,
    ProviderFailure,
    ProviderFailureKind,
    Role,
    TurnContext,
    TurnInput,
)
from lash_core.providers import check_output_spec
from lash_core.testing import ScriptedProvider, call, reply_text, reply_tool_calls, scripted_runtime

ANSWER = JsonSchemaOutput("answer", {"type": "object", "properties": {"city": {"type": "string"}}})


def _request(spec: Any, model: ModelSpec | None = None) -> LlmRequest:
    message = Message("u1", Role.USER, (Part("u1.p0", PartKind.TEXT, "hi"),))
    return LlmRequest(model or ModelSpec("m"), "", (message,), output_spec=spec)


def _refusal(spec: Any, *, model: ModelSpec | None = None, carried: tuple[str, ...] = ()) -> ProviderFailure:
    with pytest.raises(ProviderError) as caught:
        check_output_spec(_request(spec, model), api_output_specs=carried, api_name="The Test API")
    failure = caught.value.failure
    assert isinstance(failure, ProviderFailure)
    assert (failure.kind, failure.code, failure.retryable) == (
        ProviderFailureKind.VALIDATION,
        "unsupported_output_spec",
        False,
    )
    return failure


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dots.not.allowed"])
def test_a_schema_name_outside_the_api_alphabet_is_refused(name: str) -> None:
    """A schema name must be 1 to 64 letters, digits, '_' or '-' (what every API accepts)."""
    with pytest.raises(ValueError, match=r"JsonSchemaOutput\.name"):
        JsonSchemaOutput(name, {"type": "object"})


def test_strict_is_the_default() -> None:
    """A JSON-schema output spec asks for strict (constrained) decoding unless told otherwise."""
    assert ANSWER.strict is True


def test_a_request_without_an_output_spec_passes_every_check() -> None:
    """No output spec: nothing to check, whatever the model spec and the API say."""
    check_output_spec(
        _request(None, ModelSpec("m", structured_output=False)), api_output_specs=(), api_name="x"
    )


def test_a_spec_the_api_carries_passes() -> None:
    """An output spec whose tag the API carries, on a capable model, is accepted."""
    check_output_spec(_request(ANSWER), api_output_specs=("json_schema",), api_name="x")


def test_a_model_spec_without_structured_output_refuses_the_spec() -> None:
    """``structured_output = false`` in the model spec makes any output spec a validation error."""
    failure = _refusal(
        ANSWER, model=ModelSpec("old-model", structured_output=False), carried=("json_schema",)
    )
    assert "old-model" in failure.message and "structured_output = false" in failure.message


def test_a_spec_the_api_cannot_carry_names_what_it_can() -> None:
    """An output spec the API cannot carry is refused, naming the specs it supports."""
    failure = _refusal(JsonObjectOutput(), carried=("json_schema",))
    assert "The Test API does not support a json_object output spec" in failure.message
    assert "it supports: json_schema" in failure.message


def test_an_api_without_structured_output_refuses_every_spec() -> None:
    """A provider declaring no output specs refuses any of them instead of ignoring it."""
    assert "use a provider that does" in _refusal(ANSWER).message


@pytest.mark.anyio
async def test_the_turn_context_output_spec_reaches_every_model_call() -> None:
    """The output spec on the turn's context goes with each model call of the turn."""

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    provider = ScriptedProvider(
        [reply_tool_calls(call("lookup", {"key": "k"})), reply_text('{"city": "Paris"}')]
    )
    async with scripted_runtime(provider, tools=[lookup]) as rt:
        session = await rt.session("s1")
        turn_input = TurnInput.text("where?", context=TurnContext(output_spec=ANSWER))
        result = await session.turn(turn_input).run()
        await session.turn("plain").run()
    assert result.assistant_output.raw_text == '{"city": "Paris"}'
    assert [r.output_spec for r in provider.requests] == [ANSWER, ANSWER, None]


@pytest.mark.anyio
async def test_a_direct_completion_can_ask_for_structured_output() -> None:
    """``completions.complete(..., output_spec=...)`` sends the spec with the direct call only."""

    @tool
    async def classify(text: str, context: ToolContext) -> str:
        """Classify a text."""
        assert context.completions is not None
        response = await context.completions.complete(
            text, source="classifier", output_spec=JsonObjectOutput()
        )
        return response.text

    provider = ScriptedProvider(
        [reply_tool_calls(call("classify", {"text": "hello"})), reply_text('{"label": "greeting"}'), "done"]
    )
    async with scripted_runtime(provider, tools=[classify]) as rt:
        session = await rt.session("s1")
        await session.turn("classify hello").run()
    assert [r.output_spec for r in provider.requests] == [None, JsonObjectOutput(), None]
